"""The persistent jobs: one APScheduler date job per event, ``capture:<event-id>``, due at start − pre-roll.

APScheduler stores a job as a textual reference to a module-level function. The function only names the
event; the monitor that owns the job store listens for executed jobs and starts the capture, so no
module-level state is needed to find it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import inspect

from livewatch.state.database import Database
from livewatch.state.engines import POSTGRESQL
from livewatch.state.layout import DataDir

JOB_PREFIX = "capture:"
JOB_FUNCTION = "livewatch.monitor.jobs:capture_due"
#: The job table on PostgreSQL (APScheduler creates it; it is no livewatch table, so no migration makes it).
JOB_TABLE = "apscheduler_jobs"


def capture_due(event_id: str, start: str, end: str) -> str:
    """Runs when a capture is due; the monitor's listener does the work."""
    return event_id


def job_id(event_id: str) -> str:
    return f"{JOB_PREFIX}{event_id}"


def event_of(job: str) -> str | None:
    return job.removeprefix(JOB_PREFIX) if job.startswith(JOB_PREFIX) else None


def job_store(data: DataDir, database: Database | None = None) -> SQLAlchemyJobStore:
    """Where the jobs persist: on PostgreSQL, the state database itself (table ``apscheduler_jobs``, over
    livewatch's engine and its pool); on SQLite, ``jobs.db`` beside ``livewatch.db`` as always. APScheduler
    opens SQLite without livewatch's busy timeout and write lock, so in ``livewatch.db`` its writes would
    fail with "database is locked" against capture; and every data directory already has its jobs there."""
    if database is not None and database.backend == POSTGRESQL:
        return SQLAlchemyJobStore(engine=database.engine, tablename=JOB_TABLE)
    return SQLAlchemyJobStore(url=f"sqlite:///{data.jobstore}")


def job_store_where(data: DataDir, database: Database | None = None) -> str:
    """The job store, as messages name it."""
    if database is not None and database.backend == POSTGRESQL:
        return f"{JOB_TABLE} in {database.where}"
    return str(data.jobstore)


def make_scheduler(data: DataDir, database: Database | None = None, *, persistent: bool = True) -> BackgroundScheduler:
    """``persistent=False``: jobs kept in memory only, for a monitor that handles some events (``livewatch
    watch`` run alone): the persistent store's jobs for the other events would fall due in it and be used
    up without a capture, so it never opens that store."""
    return BackgroundScheduler(
        jobstores={"default": job_store(data, database) if persistent else MemoryJobStore()},
        # A job due while the monitor was down still runs when it comes back (no grace limit), once.
        job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        timezone=UTC,
    )


def armed_jobs(data: DataDir, database: Database | None = None) -> dict[str, datetime]:
    """Event id → when its capture is armed, read from the job store without starting a scheduler."""
    if database is not None and database.backend == POSTGRESQL:
        if not inspect(database.engine).has_table(JOB_TABLE):
            return {}  # no monitor has run on this database yet
    elif not data.jobstore.exists():
        return {}
    store = job_store(data, database)
    try:
        store.start(None, "default")
        jobs = store.get_all_jobs()
    finally:
        if database is None or database.backend != POSTGRESQL:
            store.shutdown()  # disposes the engine the store made; livewatch's own engine stays open
    found: dict[str, datetime] = {}
    for job in jobs:
        event_id = event_of(job.id)
        if event_id is not None and job.next_run_time is not None:
            found[event_id] = job.next_run_time
    return found
