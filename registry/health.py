"""Readiness: can this process reach its database and blob store?"""

from __future__ import annotations

from sqlalchemy import text

from registry.errors import ServiceUnavailable, StoreUnavailable
from registry.runtime import Runtime


def check(rt: Runtime) -> dict[str, str]:
    """Probe the database and store; raise ServiceUnavailable (StoreUnavailable for the store) if either fails."""
    try:
        with rt.db.read_only() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable(f"database unreachable: {type(exc).__name__}") from exc
    try:
        rt.store.head("healthz/probe")
    except Exception as exc:
        raise StoreUnavailable(f"blob store unreachable: {type(exc).__name__}") from exc
    mode = "embedded" if rt.settings.embedded_tasks else "celery"
    return {"status": "ok", "database": rt.db.engine.dialect.name, "tasks": mode}
