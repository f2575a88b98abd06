"""HTTP API (FastAPI) and the `skupix` command line."""
