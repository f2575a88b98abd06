"""Background work: the job runner, the in-process pool and the Celery app."""
