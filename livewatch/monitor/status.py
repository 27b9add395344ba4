"""``livewatch status``: each event's state, read from the database and the job store (no monitor needed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from livewatch.errors import StateError
from livewatch.monitor.jobs import armed_jobs, job_store_where
from livewatch.queue import TRANSCRIBE
from livewatch.session import Session, data_dir
from livewatch.settings import Settings
from livewatch.state import Database, DataDir
from livewatch.state.database import check_database_file, describe_error
from livewatch.state.scheduler_lock import ActiveScheduler, active_scheduler

#: More than this many audio segments waiting for transcription means the pipeline is lagging.
LAG_SEGMENTS = 2


@dataclass(frozen=True)
class EventStatus:
    event_id: str
    state: str
    window: str
    on_air: str
    segments: int
    gaps: int
    backlog: int
    detail: str
    registered_start: datetime | None = None
    registered_end: datetime | None = None
    on_air_start: datetime | None = None
    on_air_end: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """For ``status --format json``: the times as ISO 8601 with their offset (``window`` and ``on_air``
        are the table's text)."""
        return {key: value.isoformat() if isinstance(value, datetime) else value
                for key, value in asdict(self).items()}


def _hm(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def database_present(settings: Settings) -> bool:
    """Whether there is a state database to read: False when nothing was recorded yet. Without
    ``database_url``, whether the data directory holds its SQLite file (a data directory or database path
    that exists but cannot be what it should is an error); with it, the configured database is asked whether
    it holds livewatch's tables (an unreachable server is an error, as the commands that read it would meet)."""
    if settings.database_url is not None:
        with Database(settings.database_url, migrate=False) as database:
            return database.schema_version() > 0
    data = data_dir(settings)
    root = data.root
    if root.is_symlink() and not root.exists():
        raise StateError(f"data directory {root} is a symbolic link that leads nowhere (a loop or a missing target)")
    if root.exists() and not root.is_dir():
        raise StateError(f"data directory {root} is not a directory")
    return data.database.exists() or data.database.is_symlink()


def _armed(data: DataDir, database: Database) -> dict[str, datetime]:
    check_database_file(data.jobstore)
    try:
        return armed_jobs(data, database)
    except (SQLAlchemyError, OSError, ValueError) as err:
        where = job_store_where(data, database)
        raise StateError(f"cannot read the job store {where}: {describe_error(err)}") from err


def event_statuses(settings: Settings, now: datetime) -> list[EventStatus]:
    data = data_dir(settings)
    if not database_present(settings):
        return []
    out: list[EventStatus] = []
    with Session.existing(settings) as session, session.database.reading():
        armed = _armed(data, session.database)
        runs = session.runs
        for event in session.records.registered():
            run = runs.latest_run(event.id)
            window = f"{_hm(event.registered_start)} – {_hm(event.registered_end)}"
            if run is None:
                if event.id in armed:
                    state, detail = "armed", f"capture due {_hm(armed[event.id])} UTC"
                elif now > event.registered_end:
                    state, detail = "not recorded", "window passed with no run"
                else:
                    state, detail = "not armed", "is the monitor running?"
                out.append(EventStatus(event.id, state, window, "", 0, 0, 0, detail,
                                       event.registered_start, event.registered_end))
                continue
            segments = runs.count_audio_segments(run.id)
            gaps = runs.count_gaps(run_id=run.id)
            backlog = session.queue.backlog(TRANSCRIBE, run_id=run.id)
            state = run.status
            if state == "recording" and backlog > LAG_SEGMENTS:
                state = "lagging"
            on_air = f"{_hm(run.on_air_at)} – {_hm(run.off_air_at)}" if run.on_air_at else ""
            detail = run.stop_reason or run.error or f"updated {_hm(run.updated_at)} UTC"
            out.append(EventStatus(event.id, state, window, on_air, int(segments), int(gaps), backlog, detail,
                                   event.registered_start, event.registered_end, run.on_air_at, run.off_air_at))
    return out


def scheduler_status(settings: Settings) -> ActiveScheduler | None:
    """The distributed mode's active scheduler (``livewatch scheduler``), as recorded in PostgreSQL; None
    without PostgreSQL or when no scheduler ever ran on this database."""
    if settings.database_url is None or not database_present(settings):
        return None
    with Session.existing(settings) as session:
        return active_scheduler(session.database.engine)
