"""The scheduler's job store on each back-end: jobs.db beside SQLite, the state database itself on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.triggers.date import DateTrigger
from sqlalchemy import inspect

from livewatch.monitor.jobs import JOB_FUNCTION, JOB_TABLE, armed_jobs, job_id, job_store_where, make_scheduler
from livewatch.state import Database, DataDir


def test_armed_jobs_persist_in_the_configured_database(state_backend: Database, tmp_path: Path) -> None:
    data = DataDir(tmp_path / "jobs-data").ensure()
    assert armed_jobs(data, state_backend) == {}  # nothing armed yet, and nothing created by looking
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    scheduler = make_scheduler(data, state_backend)
    scheduler.start(paused=True)
    try:
        scheduler.add_job(JOB_FUNCTION, DateTrigger(run_date=due), id=job_id("ev-1"),
                          kwargs={"event_id": "ev-1", "start": due.isoformat(), "end": due.isoformat()})
    finally:
        scheduler.shutdown(wait=False)
    assert armed_jobs(data, state_backend) == {"ev-1": due}
    if state_backend.backend == "postgresql":
        assert inspect(state_backend.engine).has_table(JOB_TABLE)
        assert not data.jobstore.exists()
        assert job_store_where(data, state_backend).startswith(f"{JOB_TABLE} in postgresql+psycopg://")
    else:
        assert data.jobstore.is_file()
        assert job_store_where(data, state_backend) == str(data.jobstore)
