"""Fault injection for the crash, retry and time-limit tests; inert unless SKUPIX_FAULTS is set.

SKUPIX_FAULTS holds comma-separated ``ACTION:SHA256[:N]`` entries. Each applies when a render job runs
for an asset whose master bytes have that SHA-256, on attempts 1..N of the job (every attempt when
N is left out):

- ``crash``      the worker process dies at once (``os._exit``), like a decoder segfault or an OOM kill;
- ``transient``  the attempt fails with a transient error (the task is retried with backoff);
- ``stall``      the attempt sleeps until the soft time limit interrupts it;
- ``hang``       the attempt ignores the soft time limit too, so only the hard limit ends it.

Production processes never set the variable, and then no job pays anything: the composition root
installs `apply` as a job hook (`Runtime.job_hooks`) only when the variable is set at start-up, and a
test that sets it later calls `install` itself.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from registry.media.repository import MediaRepository
from registry.models import Job
from registry.runtime import Runtime

log = logging.getLogger(__name__)

ENV = "SKUPIX_FAULTS"
CRASH_EXIT_CODE = 70
_ACTIONS = frozenset({"crash", "transient", "stall", "hang"})


class InjectedTransientFault(ConnectionError):
    """The error a ``transient`` fault raises; a ConnectionError like an unreachable store's."""


@dataclass(frozen=True)
class Fault:
    """One configured fault."""

    action: str
    sha256: str
    attempts: int | None


def parse(spec: str) -> list[Fault]:
    """Faults from the SKUPIX_FAULTS syntax; unknown actions are refused loudly."""
    faults = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        action, _, rest = entry.partition(":")
        sha256, _, count = rest.partition(":")
        if action not in _ACTIONS or len(sha256) != 64:
            wanted = f"ACTION:SHA256[:N] with ACTION in {sorted(_ACTIONS)}"
            raise ValueError(f"bad {ENV} entry {entry!r}: want {wanted}")
        faults.append(Fault(action, sha256.lower(), int(count) if count else None))
    return faults


def _master_sha256(rt: Runtime, asset_id: str) -> str | None:
    with rt.db.read_only() as session:
        asset = MediaRepository(session).asset(asset_id)
        return asset.master_sha256 if asset is not None else None


def install(rt: Runtime) -> None:
    """Run `apply` before every job of this runtime."""
    if apply not in rt.job_hooks:
        rt.job_hooks.append(apply)


def install_from_environment(rt: Runtime) -> None:
    """Install fault injection when SKUPIX_FAULTS is set (test processes only)."""
    if os.environ.get(ENV):
        install(rt)


def apply(rt: Runtime, job: Job) -> None:
    """Trigger whatever fault is configured for this job's picture and attempt."""
    spec = os.environ.get(ENV, "")
    if not spec:
        return
    faults = parse(spec)
    sha256 = _master_sha256(rt, job.subject)
    for fault in faults:
        if fault.sha256 != sha256 or (fault.attempts is not None and job.attempts > fault.attempts):
            continue
        log.warning("injected fault %s on job %s attempt %d", fault.action, job.id, job.attempts)
        if fault.action == "crash":
            logging.shutdown()
            os._exit(CRASH_EXIT_CODE)
        if fault.action == "transient":
            raise InjectedTransientFault(f"injected transient fault on attempt {job.attempts}")
        _sleep_past_limit(rt, ignore_soft_limit=fault.action == "hang")


def _sleep_past_limit(rt: Runtime, *, ignore_soft_limit: bool) -> None:
    deadline = time.monotonic() + 10 * rt.settings.task_time_limit_seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except Exception:  # SoftTimeLimitExceeded arrives here
            if not ignore_soft_limit:
                raise
