"""The aggregate numbers ``livewatch run --metrics-port`` exports, read from one snapshot of the state database.

One connection and one read transaction for all of them (under WAL a consistent snapshot that never blocks
the recorder), so that the numbers of one scrape agree with each other. :mod:`livewatch.metrics` turns them
into Prometheus families.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select

from livewatch.state import tables
from livewatch.state.database import schema_version_of
from livewatch.state.engines import json_integer


@dataclass(frozen=True)
class EventWindow:
    """A registered event (not removed) and its latest run, if any."""

    registered_end: datetime
    run_id: int | None
    status: str | None


@dataclass(frozen=True)
class StreamAudio:
    """The first start and last end of one stream's usable audio."""

    event_id: str
    run_id: int
    stream: int
    first_start: datetime
    last_end: datetime


@dataclass(frozen=True)
class StateGauges:
    schema_version: int
    #: Work items of the transcription queue waiting (pending or claimed), by (run, stream).
    backlog: dict[tuple[int, int], int]
    events: list[EventWindow]
    #: (kind, status, count, bytes) of the recorded segments.
    segments: list[tuple[str, str, int, int]]
    #: (queue, status, count) of the work queue's items.
    queue_items: list[tuple[str, str, int]]
    #: Queue → when its oldest waiting item was queued.
    queue_oldest: dict[str, datetime]
    #: (run, stream) → the time its transcript is committed up to.
    committed: dict[tuple[int, int], datetime]
    #: Streams whose last tail is not flushed yet.
    unflushed: set[tuple[int, int]]
    #: Audio of every stream of the runs with waiting or unflushed streams.
    audio: list[StreamAudio]
    #: (severity, status, count) of the findings.
    findings: list[tuple[str, str, int]]
    #: (target, status, count, attempts) of the alert outbox.
    alerts: list[tuple[str, str, int, int]]


def read_gauges(engine: Engine, *, transcribe_queue: str, waiting: Collection[str]) -> StateGauges:
    """Every number at once; ``waiting`` are the queue statuses of items not done yet."""
    with engine.connect() as conn:
        backlog = _backlog_by_run(conn, transcribe_queue, waiting)
        committed, unflushed = _progress(conn)
        return StateGauges(
            schema_version_of(conn), backlog, _events(conn), _segments(conn), _queue_items(conn),
            _queue_oldest(conn, waiting), committed, unflushed,
            _audio(conn, sorted({run_id for run_id, _ in set(backlog) | unflushed})), _findings(conn), _alerts(conn))


def _backlog_by_run(conn: Connection, queue: str, waiting: Collection[str]) -> dict[tuple[int, int], int]:
    """JSON read by the database, not Python."""
    q = tables.work_queue
    run_id, stream = json_integer(q.c.payload_json, "run_id"), json_integer(q.c.payload_json, "stream")
    rows = conn.execute(select(run_id, stream, func.count())
                        .where(q.c.queue == queue, q.c.status.in_(list(waiting))).group_by(run_id, stream))
    return {(int(r), int(s)): int(n) for r, s, n in rows if r is not None and s is not None}


def _events(conn: Connection) -> list[EventWindow]:
    # The latest run per event, as `livewatch status` shows it, without opening the job store per scrape.
    e, runs = tables.events, tables.runs
    latest = select(runs.c.event_id, func.max(runs.c.id).label("run_id")).group_by(runs.c.event_id).subquery()
    query = (select(e.c.registered_end, runs.c.id, runs.c.status)
             .select_from(e.outerjoin(latest, latest.c.event_id == e.c.id)
                          .outerjoin(runs, runs.c.id == latest.c.run_id))
             .where(e.c.removed_at.is_(None)))
    return [EventWindow(end, run_id, status) for end, run_id, status in conn.execute(query)]


def _segments(conn: Connection) -> list[tuple[str, str, int, int]]:
    s = tables.segments
    return [(kind, status, int(count), int(total)) for kind, status, count, total in conn.execute(
        select(s.c.kind, s.c.status, func.count(), func.coalesce(func.sum(s.c.bytes), 0))
        .group_by(s.c.kind, s.c.status))]


def _queue_items(conn: Connection) -> list[tuple[str, str, int]]:
    q = tables.work_queue
    return [(queue, status, int(count)) for queue, status, count in conn.execute(
        select(q.c.queue, q.c.status, func.count()).group_by(q.c.queue, q.c.status))]


def _queue_oldest(conn: Connection, waiting: Collection[str]) -> dict[str, datetime]:
    q = tables.work_queue
    return {queue: enqueued for queue, enqueued in conn.execute(
        select(q.c.queue, func.min(q.c.enqueued_at)).where(q.c.status.in_(list(waiting))).group_by(q.c.queue))}


def _progress(conn: Connection) -> tuple[dict[tuple[int, int], datetime], set[tuple[int, int]]]:
    p = tables.transcription_progress
    committed: dict[tuple[int, int], datetime] = {}
    unflushed: set[tuple[int, int]] = set()
    for run_id, stream, until, flushed in conn.execute(
            select(p.c.run_id, p.c.stream, p.c.committed_until, p.c.flushed)):
        committed[(run_id, stream)] = until
        if not flushed:
            unflushed.add((run_id, stream))
    return committed, unflushed


def _audio(conn: Connection, run_ids: list[int]) -> list[StreamAudio]:
    if not run_ids:
        return []
    s, runs = tables.segments, tables.runs
    query = (select(runs.c.event_id, s.c.run_id, s.c.stream, func.min(s.c.start_at), func.max(s.c.end_at))
             .join(runs, runs.c.id == s.c.run_id)
             .where(s.c.run_id.in_(run_ids), s.c.kind == "audio", s.c.status != "corrupt")
             .group_by(runs.c.event_id, s.c.run_id, s.c.stream))
    return [StreamAudio(*row) for row in conn.execute(query)]


def _findings(conn: Connection) -> list[tuple[str, str, int]]:
    f = tables.findings
    return [(severity, status, int(count)) for severity, status, count in conn.execute(
        select(f.c.severity, f.c.status, func.count()).group_by(f.c.severity, f.c.status))]


def _alerts(conn: Connection) -> list[tuple[str, str, int, int]]:
    a = tables.alert_outbox
    return [(target, status, int(count), int(tries)) for target, status, count, tries in conn.execute(
        select(a.c.target, a.c.status, func.count(), func.coalesce(func.sum(a.c.attempts), 0))
        .group_by(a.c.target, a.c.status))]
