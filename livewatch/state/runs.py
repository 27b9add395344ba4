"""Reading and writing capture runs: runs, connections, segments and the gap ledger.

One run per event and registered window: a monitor that restarts mid-event continues the same run, with
segment numbers continuing and the downtime recorded as a gap. Writes are small and committed at once, so a
crash loses nothing that was already announced as saved.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import CursorResult, Engine, Row, delete, func, select, update

from livewatch.errors import StateError
from livewatch.pipeline.run_status import FINAL, WAITING
from livewatch.state import tables
from livewatch.state.database import write
from livewatch.state.engines import insert_ignore


@dataclass(frozen=True)
class Run:
    id: int
    event_id: str
    status: str
    registered_start: datetime
    registered_end: datetime
    resumed: bool = False


@dataclass(frozen=True)
class RunRecord:
    """A run as stored: its status and times so far (the run store and the event records both return it)."""

    id: int
    event_id: str
    status: str
    registered_start: datetime
    registered_end: datetime
    started_at: datetime
    on_air_at: datetime | None
    off_air_at: datetime | None
    ended_at: datetime | None
    updated_at: datetime
    stop_reason: str | None
    error: str | None


@dataclass(frozen=True)
class ConnectionRecord:
    """One ffmpeg connection of a stream, as stored."""

    id: int
    run_id: int
    stream: int
    session: int
    started_at: datetime
    ended_at: datetime | None
    pid: int | None
    media_url: str
    first_seq: int
    wall_base: datetime
    exit_code: int | None
    end_reason: str | None
    stderr_tail: str | None


class WindowTaken(StateError):
    """An event's registered window already has a run."""

    def __init__(self, event_id: str, run_id: int, status: str) -> None:
        self.run_id, self.status = run_id, status
        super().__init__(f"event {event_id} already has run {run_id} ({status}) for its registered window")


@dataclass(frozen=True)
class SegmentRecord:
    run_id: int
    stream: int
    connection_id: int | None
    kind: str  # "media" or "audio"
    seq: int
    path: Path
    start_at: datetime
    end_at: datetime
    size: int
    status: str  # "ok", "corrupt", "partial"
    note: str | None = None
    #: The segment's row id, once recorded (segments read back from the store carry it).
    id: int | None = None


class RunLog(Protocol):
    """Where capture runs are kept: runs, their ffmpeg connections, recorded segments and the gap ledger."""

    def open_run(self, event_id: str, start: datetime, end: datetime) -> Run | None: ...
    def window_status(self, event_id: str, start: datetime, end: datetime) -> str | None: ...
    def claim_final_window(self, event_id: str, start: datetime, end: datetime, status: str, reason: str) -> int: ...
    def discard(self, run_id: int, *, queue: str | tuple[str, ...]) -> None: ...
    def run(self, run_id: int) -> RunRecord: ...
    def latest_run(self, event_id: str) -> RunRecord | None: ...
    def run_ids(self, event_ids: Collection[str]) -> set[int]: ...
    def set_status(self, run_id: int, status: str) -> None: ...
    def heartbeat(self, run_id: int) -> None: ...
    def finish_run(self, run_id: int, status: str, reason: str, error: str | None = None) -> None: ...
    def note_on_air(self, run_id: int, start: datetime, end: datetime) -> None: ...
    def open_connection(self, run_id: int, stream: int, session: int, media_url: str, first_seq: int,
                        wall_base: datetime) -> int: ...
    def set_connection_pid(self, connection_id: int, pid: int) -> None: ...
    def set_connection_wall_base(self, connection_id: int, wall_base: datetime) -> None: ...
    def close_connection(self, connection_id: int, exit_code: int | None, reason: str, stderr_tail: str) -> None: ...
    def open_connections(self, run_id: int, stream: int) -> list[ConnectionRecord]: ...
    def last_session(self, run_id: int, stream: int) -> int: ...
    def add_segment(self, segment: SegmentRecord) -> int | None: ...
    def next_seq(self, run_id: int, stream: int) -> int: ...
    def last_segment_end(self, run_id: int, stream: int) -> datetime | None: ...
    def audio_segment(self, run_id: int, stream: int, seq: int) -> SegmentRecord | None: ...
    def audio_segments(self, run_id: int, stream: int, *, ending_after: datetime, upto_seq: int | None = None,
                       skip_corrupt: bool = False) -> list[SegmentRecord]: ...
    def mark_corrupt(self, segment_id: int, problem: str) -> None: ...
    def audio_segments_of_run(self, run_id: int, *, skip: int = 0) -> list[SegmentRecord]: ...
    def count_audio_segments(self, run_id: int) -> int: ...
    def count_gaps(self, *, run_id: int | None = None, event_id: str | None = None) -> int: ...
    def add_gap(self, run_id: int, stream: int, start: datetime, end: datetime, cause: str) -> None: ...


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _now() -> datetime:
    return datetime.now(UTC)


class RunStore:
    """The runs, connections, segments and gaps tables through SQLAlchemy Core (a :class:`RunLog`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- runs -------------------------------------------------------------------------------------------

    def open_run(self, event_id: str, start: datetime, end: datetime) -> Run | None:
        """The run to record into: the active run of this window (resumed), a new one, or None when this
        window was already recorded to a final status."""
        runs = tables.runs
        with write(self.engine) as conn:
            row = conn.execute(
                select(runs).where(runs.c.event_id == event_id, runs.c.registered_start == start,
                                   runs.c.registered_end == end).order_by(runs.c.id.desc()).limit(1)
            ).first()
            if row is not None:
                if row.status in FINAL:
                    return None
                return Run(row.id, event_id, row.status, start, end, resumed=True)
            now = _now()
            run_id = _new_id(conn.execute(runs.insert().values(
                event_id=event_id, status=WAITING, registered_start=start, registered_end=end,
                started_at=now, updated_at=now,
            )))
        return Run(run_id, event_id, WAITING, start, end)

    def window_status(self, event_id: str, start: datetime, end: datetime) -> str | None:
        """Status of the latest run of this event and window, if there is one."""
        runs = tables.runs
        with self.engine.connect() as conn:
            return conn.execute(
                select(runs.c.status).where(runs.c.event_id == event_id, runs.c.registered_start == start,
                                            runs.c.registered_end == end).order_by(runs.c.id.desc()).limit(1)
            ).scalar()

    def claim_final_window(self, event_id: str, start: datetime, end: datetime, status: str, reason: str) -> int:
        """A new run of the window, created final (``status``) at once and only if the window has no run:
        :class:`WindowTaken` otherwise. A monitor arming the event later sees the window recorded."""
        runs = tables.runs
        now = _now()
        with write(self.engine) as conn:
            taken = conn.execute(select(runs.c.id, runs.c.status).where(
                runs.c.event_id == event_id, runs.c.registered_start == start,
                runs.c.registered_end == end).limit(1)).first()
            if taken is not None:
                raise WindowTaken(event_id, taken.id, taken.status)
            return _new_id(conn.execute(runs.insert().values(
                event_id=event_id, status=status, registered_start=start, registered_end=end, started_at=now,
                updated_at=now, stop_reason=reason)))

    def discard(self, run_id: int, *, queue: str | tuple[str, ...]) -> None:
        """Remove a run and everything recorded for it (its items in ``queue`` (one or several), keyed
        ``run:…``, findings, transcripts, progress, screen items, picture spells, gaps, segments,
        connections): for a run that must leave nothing behind."""
        q = tables.work_queue
        queues = [queue] if isinstance(queue, str) else list(queue)
        with write(self.engine) as conn:
            conn.execute(delete(q).where(q.c.queue.in_(queues), q.c.item_key.startswith(f"{run_id}:")))
            for table in (tables.findings, tables.transcripts, tables.transcription_progress, tables.screen_items,
                          tables.picture_spells, tables.gaps, tables.segments, tables.connections):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(delete(tables.runs).where(tables.runs.c.id == run_id))

    def run(self, run_id: int) -> RunRecord:
        runs = tables.runs
        with self.engine.connect() as conn:
            return run_of_row(conn.execute(select(runs).where(runs.c.id == run_id)).one())

    def latest_run(self, event_id: str) -> RunRecord | None:
        """The event's newest run, if it has one."""
        runs = tables.runs
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.event_id == event_id)
                               .order_by(runs.c.id.desc()).limit(1)).first()
        return None if row is None else run_of_row(row)

    def run_ids(self, event_ids: Collection[str]) -> set[int]:
        """Ids of every run of these events."""
        runs = tables.runs
        with self.engine.connect() as conn:
            return {row.id for row in conn.execute(select(runs.c.id).where(runs.c.event_id.in_(list(event_ids))))}

    def set_status(self, run_id: int, status: str) -> None:
        with write(self.engine) as conn:
            conn.execute(update(tables.runs).where(tables.runs.c.id == run_id).values(status=status, updated_at=_now()))

    def heartbeat(self, run_id: int) -> None:
        with write(self.engine) as conn:
            conn.execute(update(tables.runs).where(tables.runs.c.id == run_id).values(updated_at=_now()))

    def finish_run(self, run_id: int, status: str, reason: str, error: str | None = None) -> None:
        now = _now()
        with write(self.engine) as conn:
            conn.execute(update(tables.runs).where(tables.runs.c.id == run_id).values(
                status=status, stop_reason=reason, error=error, ended_at=now, updated_at=now))

    def note_on_air(self, run_id: int, start: datetime, end: datetime) -> None:
        """Widen the run's on-air span to cover ``start``–``end`` (the first and latest media seen)."""
        runs = tables.runs
        with write(self.engine) as conn:
            row = conn.execute(select(runs.c.on_air_at, runs.c.off_air_at).where(runs.c.id == run_id)).one()
            on_air = start if row.on_air_at is None else min(row.on_air_at, start)
            off_air = end if row.off_air_at is None else max(row.off_air_at, end)
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                on_air_at=on_air, off_air_at=off_air, updated_at=_now()))

    # -- connections ------------------------------------------------------------------------------------

    def open_connection(
        self, run_id: int, stream: int, session: int, media_url: str, first_seq: int, wall_base: datetime
    ) -> int:
        with write(self.engine) as conn:
            result = conn.execute(tables.connections.insert().values(
                run_id=run_id, stream=stream, session=session, started_at=_now(), media_url=media_url,
                first_seq=first_seq, wall_base=wall_base))
            return _new_id(result)

    def set_connection_pid(self, connection_id: int, pid: int) -> None:
        with write(self.engine) as conn:
            conn.execute(update(tables.connections).where(tables.connections.c.id == connection_id).values(pid=pid))

    def set_connection_wall_base(self, connection_id: int, wall_base: datetime) -> None:
        """Where the connection's output second 0 falls, once known (when its media arrived, for a live
        stream without timestamps): what recovery after a crash places its segments by."""
        with write(self.engine) as conn:
            conn.execute(update(tables.connections).where(tables.connections.c.id == connection_id)
                         .values(wall_base=wall_base))

    def close_connection(self, connection_id: int, exit_code: int | None, reason: str, stderr_tail: str) -> None:
        with write(self.engine) as conn:
            conn.execute(update(tables.connections).where(tables.connections.c.id == connection_id).values(
                ended_at=_now(), exit_code=exit_code, end_reason=reason, stderr_tail=stderr_tail[-4000:]))

    def open_connections(self, run_id: int, stream: int) -> list[ConnectionRecord]:
        """Connections never closed: their ffmpeg may still be running after a crash of the monitor."""
        c = tables.connections
        with self.engine.connect() as conn:
            return [ConnectionRecord(*row) for row in conn.execute(
                select(*(c.c[f.name] for f in fields(ConnectionRecord)))
                .where(c.c.run_id == run_id, c.c.stream == stream, c.c.ended_at.is_(None)))]

    def last_session(self, run_id: int, stream: int) -> int:
        c = tables.connections
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(c.c.session)).where(c.c.run_id == run_id, c.c.stream == stream))
            return int(value.scalar_one() or 0)

    # -- segments and gaps ------------------------------------------------------------------------------

    def add_segment(self, segment: SegmentRecord) -> int | None:
        """Record a closed segment; a segment already recorded (after a restart) is ignored: returns None."""
        values = dict(
            run_id=segment.run_id, stream=segment.stream, connection_id=segment.connection_id, kind=segment.kind,
            seq=segment.seq, path=str(segment.path), start_at=segment.start_at, end_at=segment.end_at,
            bytes=segment.size, status=segment.status, note=segment.note,
        )
        with write(self.engine) as conn:
            key = insert_ignore(conn, tables.segments, values, ("run_id", "stream", "kind", "seq"))
            return None if key is None else int(key[0])

    def next_seq(self, run_id: int, stream: int) -> int:
        s = tables.segments
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(s.c.seq)).where(s.c.run_id == run_id, s.c.stream == stream))
            top = value.scalar_one()
        return 0 if top is None else int(top) + 1

    def last_segment_end(self, run_id: int, stream: int) -> datetime | None:
        s = tables.segments
        with self.engine.connect() as conn:
            value: datetime | None = conn.execute(
                select(func.max(s.c.end_at)).where(s.c.run_id == run_id, s.c.stream == stream, s.c.kind == "audio")
            ).scalar_one()
        return value

    def audio_segment(self, run_id: int, stream: int, seq: int) -> SegmentRecord | None:
        s = tables.segments
        with self.engine.connect() as conn:
            row = conn.execute(select(s).where(s.c.run_id == run_id, s.c.stream == stream, s.c.kind == "audio",
                                               s.c.seq == seq)).first()
        return None if row is None else _segment_of(row)

    def audio_segments(self, run_id: int, stream: int, *, ending_after: datetime, upto_seq: int | None = None,
                       skip_corrupt: bool = False) -> list[SegmentRecord]:
        """A stream's audio segments that end after ``ending_after`` (up to ``upto_seq``), in order."""
        s = tables.segments
        where = [s.c.run_id == run_id, s.c.stream == stream, s.c.kind == "audio", s.c.end_at > ending_after]
        if upto_seq is not None:
            where.append(s.c.seq <= upto_seq)
        if skip_corrupt:
            where.append(s.c.status != "corrupt")
        with self.engine.connect() as conn:
            return [_segment_of(row) for row in conn.execute(select(s).where(*where).order_by(s.c.seq))]

    def mark_corrupt(self, segment_id: int, problem: str) -> None:
        """Mark a recorded segment corrupt, adding ``problem`` to its note."""
        s = tables.segments
        with write(self.engine) as conn:
            row = conn.execute(select(s.c.note).where(s.c.id == segment_id)).first()
            if row is not None:
                conn.execute(s.update().where(s.c.id == segment_id).values(
                    status="corrupt", note=problem if row.note is None else f"{row.note}; {problem}"))

    def audio_segments_of_run(self, run_id: int, *, skip: int = 0) -> list[SegmentRecord]:
        """A run's audio segments of every stream, by sequence number, leaving out the first ``skip``."""
        s = tables.segments
        with self.engine.connect() as conn:
            return [_segment_of(row) for row in conn.execute(
                select(s).where(s.c.run_id == run_id, s.c.kind == "audio").order_by(s.c.seq).offset(skip))]

    def count_audio_segments(self, run_id: int) -> int:
        s = tables.segments
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(s.c.run_id == run_id, s.c.kind == "audio"))
                       .scalar_one())

    def count_gaps(self, *, run_id: int | None = None, event_id: str | None = None) -> int:
        """Gaps of one run, or of every run of one event."""
        g, runs = tables.gaps, tables.runs
        query = select(func.count()).select_from(g)
        if run_id is not None:
            query = query.where(g.c.run_id == run_id)
        if event_id is not None:
            query = query.join(runs, runs.c.id == g.c.run_id).where(runs.c.event_id == event_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def add_gap(self, run_id: int, stream: int, start: datetime, end: datetime, cause: str) -> None:
        with write(self.engine) as conn:
            conn.execute(tables.gaps.insert().values(run_id=run_id, stream=stream, start_at=start, end_at=end,
                                                     cause=cause))


def run_of_row(row: Row[Any]) -> RunRecord:
    return RunRecord(row.id, row.event_id, row.status, row.registered_start, row.registered_end, row.started_at,
                     row.on_air_at, row.off_air_at, row.ended_at, row.updated_at, row.stop_reason, row.error)


def _segment_of(row: Row[Any]) -> SegmentRecord:
    return SegmentRecord(row.run_id, row.stream, row.connection_id, row.kind, row.seq, Path(row.path), row.start_at,
                         row.end_at, row.bytes, row.status, row.note, row.id)
