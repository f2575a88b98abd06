"""All SQL for the job outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import Job


class JobRepository:
    """Queries on the jobs table."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, job: Job) -> Job:
        """Stage a job."""
        self.session.add(job)
        self.session.flush()
        return job

    def get_for_update(self, job_id: str) -> Job | None:
        """The job row, locked until the transaction ends."""
        return self.session.scalars(select(Job).where(Job.id == job_id).with_for_update()).one_or_none()

    def stale(self, older_than: datetime, limit: int) -> list[Job]:
        """Pending or running jobs untouched since `older_than`, skipping rows other sweepers hold."""
        return list(self.session.scalars(
            select(Job)
            .where(Job.status.in_(("pending", "running")), Job.updated_at < older_than)
            .order_by(Job.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ))

    def latest_for(self, kind: str, subject: str) -> Job | None:
        """The newest job of this kind for this subject."""
        return self.session.scalars(
            select(Job).where(Job.kind == kind, Job.subject == subject).order_by(Job.created_at.desc()).limit(1)
        ).first()

    def pending_for(self, kind: str, subject: str) -> Job | None:
        """A not-yet-started job of this kind for this subject, if one is queued; locked until commit."""
        return self.session.scalars(
            select(Job)
            .where(Job.kind == kind, Job.subject == subject, Job.status == "pending")
            .order_by(Job.created_at)
            .limit(1)
            .with_for_update()
        ).first()

    def status_counts(self) -> dict[str, int]:
        """How many jobs are in each status."""
        rows = self.session.execute(select(Job.status, func.count()).group_by(Job.status))
        return {str(status): int(count) for status, count in rows}
