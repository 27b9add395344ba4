"""The persistent jobs: one APScheduler date job per event, ``capture:<event-id>``, due at start − pre-roll.

APScheduler stores a job as a textual reference to a module-level function. The function only names the
event; the monitor that owns the job store listens for executed jobs and starts the capture, so no
module-level state is needed to find it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from livewatch.state.layout import DataDir

JOB_PREFIX = "capture:"
JOB_FUNCTION = "livewatch.monitor.jobs:capture_due"


def capture_due(event_id: str, start: str, end: str) -> str:
    """Runs when a capture is due; the monitor's listener does the work."""
    return event_id


def job_id(event_id: str) -> str:
    return f"{JOB_PREFIX}{event_id}"


def event_of(job: str) -> str | None:
    return job.removeprefix(JOB_PREFIX) if job.startswith(JOB_PREFIX) else None


def make_scheduler(data: DataDir) -> BackgroundScheduler:
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{data.jobstore}")},
        # A job due while the monitor was down still runs when it comes back (no grace limit), once.
        job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        timezone=UTC,
    )


def armed_jobs(data: DataDir) -> dict[str, datetime]:
    """Event id → when its capture is armed, read from the job store without starting a scheduler."""
    if not data.jobstore.exists():
        return {}
    store = SQLAlchemyJobStore(url=f"sqlite:///{data.jobstore}")
    try:
        store.start(None, "default")
        jobs = store.get_all_jobs()
    finally:
        store.shutdown()
    found: dict[str, datetime] = {}
    for job in jobs:
        event_id = event_of(job.id)
        if event_id is not None and job.next_run_time is not None:
            found[event_id] = job.next_run_time
    return found
