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


def ready(rt: Runtime) -> dict[str, str]:
    """Readiness: database and store as `check` probes them, and the broker when tasks go through one."""
    answer = check(rt)
    if not rt.settings.embedded_tasks:
        from kombu import Connection

        try:
            with Connection(rt.settings.broker_url, connect_timeout=2) as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            raise ServiceUnavailable(f"broker unreachable: {type(exc).__name__}") from exc
        answer["broker"] = "ok"
    return answer
