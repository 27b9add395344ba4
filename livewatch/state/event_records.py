"""What the checks, alerts, reports and commands read about the events: which are registered, each one's
stored registration, its runs, gaps, transcript and recorded audio, as frozen records (read-only:
``Database.sync_events`` writes the events, the capture and transcription stores the rest).

Each method reads in one transaction, so what it returns is one consistent moment even while capture is
writing. Portable SQLAlchemy Core only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Row, func, select

from livewatch.pipeline.screen import PictureSpell, ScreenItem
from livewatch.pipeline.transcripts import SpanWord
from livewatch.state import tables
from livewatch.state.runs import RunRecord, run_of_row
from livewatch.state.screen import item_of_row, spell_of_row
from livewatch.state.transcripts import flags_of_column, words_of_column


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: str
    title: str
    kind: str
    timezone: str
    registered_start: datetime
    registered_end: datetime
    source_file: str
    source_sha256: str
    registration_json: str


@dataclass(frozen=True, slots=True)
class GapRecord:
    id: int
    stream: int
    start_at: datetime
    end_at: datetime | None
    cause: str


@dataclass(frozen=True, slots=True)
class TranscriptRecord:
    """A stored transcript span as a check or a report reads it. Its words and quality flags stay in their
    columns' form until asked for (:attr:`words`, :attr:`quality_flags`): a report reads every row of a
    10-hour run and needs neither."""

    stream: int
    start_at: datetime
    end_at: datetime
    text: str
    words_json: str
    avg_logprob: float | None
    flags: str

    @property
    def words(self) -> tuple[SpanWord, ...]:
        return words_of_column(self.words_json)

    @property
    def quality_flags(self) -> tuple[str, ...]:
        return flags_of_column(self.flags)


@dataclass(frozen=True, slots=True)
class AudioRecord:
    """A recorded audio segment (never a corrupt one)."""

    stream: int
    seq: int
    path: Path
    start_at: datetime
    end_at: datetime


@dataclass(frozen=True, slots=True)
class CheckRecords:
    """Everything a check of the event reads: the latest run (None before the first) and what it holds."""

    event: EventRecord
    run: RunRecord | None
    gaps: tuple[GapRecord, ...]
    transcript: tuple[TranscriptRecord, ...]
    #: The end of the newest segment of the run, of any kind.
    last_media: datetime | None
    #: Stream → time up to which its transcript is complete.
    heard: dict[int, datetime]
    #: What the run's screen showed (appearances by start time) and its black or frozen spells.
    screen: tuple[ScreenItem, ...] = ()
    picture: tuple[PictureSpell, ...] = ()


@dataclass(frozen=True, slots=True)
class WindowRecords:
    """The latest run of one registered window, its gaps and each stream's newest recorded audio."""

    run: RunRecord
    gaps: tuple[GapRecord, ...]
    last_audio: dict[int, datetime]


@dataclass(frozen=True, slots=True)
class DocumentRecords:
    """What the findings document states besides the findings."""

    event: EventRecord
    run: RunRecord | None
    gaps: tuple[GapRecord, ...]  # in time order
    transcribers: tuple[tuple[str, str], ...]  # (backend, model) pairs that made the transcript


@dataclass(frozen=True, slots=True)
class RunHealth:
    media_segments: int
    media_bytes: int
    connections: int  # those that brought media (an empty wait for an RTMP publisher is none)
    corrupt_segments: int
    gaps: int


class EventRecords(Protocol):
    def registered(self) -> list[EventRecord]: ...
    def event_ids(self) -> set[str]: ...
    def registration(self, event_id: str) -> dict[str, Any]: ...
    def events(self) -> list[tuple[EventRecord, str | None]]: ...
    def latest_status(self, event_id: str) -> str | None: ...
    def for_check(self, event_id: str) -> CheckRecords: ...
    def for_window(self, event_id: str, registered_start: datetime) -> WindowRecords | None: ...
    def for_document(self, event_id: str, run_id: int | None) -> DocumentRecords: ...
    def latest_transcript(self, event_id: str) -> list[TranscriptRecord]: ...
    def latest_health(self, event_id: str) -> RunHealth | None: ...
    def audio(self, run_id: int) -> list[AudioRecord]: ...
    def audio_between(self, run_id: int, stream: int, start: datetime, end: datetime) -> list[AudioRecord]: ...


#: The columns of a :class:`TranscriptRecord`, in its field order.
_TRANSCRIPT = (tables.transcripts.c.stream, tables.transcripts.c.start_at, tables.transcripts.c.end_at,
               tables.transcripts.c.text, tables.transcripts.c.words_json, tables.transcripts.c.avg_logprob,
               tables.transcripts.c.flags)


def event_of_row(row: Row[Any]) -> EventRecord:
    return EventRecord(row.id, row.title, row.kind, row.timezone, row.registered_start, row.registered_end,
                       row.source_file, row.source_sha256, row.registration_json)


def _registered(conn: Connection, *, newest_first: bool = False) -> list[EventRecord]:
    """The events not removed from the schedules, by registered start."""
    e = tables.events
    start = e.c.registered_start.desc() if newest_first else e.c.registered_start
    return [event_of_row(row) for row in conn.execute(select(e).where(e.c.removed_at.is_(None)).order_by(start))]


def _gaps(rows: Sequence[Row[Any]]) -> tuple[GapRecord, ...]:
    return tuple(GapRecord(g.id, g.stream, g.start_at, g.end_at, g.cause) for g in rows)


def _audio(row: Row[Any]) -> AudioRecord:
    return AudioRecord(row.stream, row.seq, Path(row.path), row.start_at, row.end_at)


class EventRecordStore:
    """The read side of the events, runs, gaps, transcripts and segments tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def registered(self) -> list[EventRecord]:
        """Events not removed from the schedules, by registered start."""
        with self.engine.connect() as conn:
            return _registered(conn)

    def event_ids(self) -> set[str]:
        """Ids of the registered events (not removed)."""
        e = tables.events
        with self.engine.connect() as conn:
            return {row.id for row in conn.execute(select(e.c.id).where(e.c.removed_at.is_(None)))}

    def registration(self, event_id: str) -> dict[str, Any]:
        """The event's registration as stored (a JSON object); empty when the event is unknown."""
        e = tables.events
        with self.engine.connect() as conn:
            row = conn.execute(select(e.c.registration_json).where(e.c.id == event_id)).first()
        if row is None:
            return {}
        loaded = json.loads(row[0])
        return loaded if isinstance(loaded, dict) else {}

    def events(self) -> list[tuple[EventRecord, str | None]]:
        """Registered events, latest start first, each with its latest run's status."""
        with self.engine.connect() as conn:
            found = _registered(conn, newest_first=True)
            return [(event, self._status(conn, event.id)) for event in found]

    def latest_status(self, event_id: str) -> str | None:
        with self.engine.connect() as conn:
            return self._status(conn, event_id)

    @staticmethod
    def _status(conn: Connection, event_id: str) -> str | None:
        runs = tables.runs
        status: str | None = conn.execute(select(runs.c.status).where(runs.c.event_id == event_id)
                                          .order_by(runs.c.id.desc()).limit(1)).scalar()
        return status

    def for_check(self, event_id: str) -> CheckRecords:
        e, runs, s, p = tables.events, tables.runs, tables.segments, tables.transcription_progress
        t, g = tables.transcripts, tables.gaps
        with self.engine.connect() as conn:
            event = event_of_row(conn.execute(select(e).where(e.c.id == event_id)).one())
            row = conn.execute(select(runs).where(runs.c.event_id == event_id)
                               .order_by(runs.c.id.desc()).limit(1)).first()
            if row is None:
                return CheckRecords(event, None, (), (), None, {})
            gaps = _gaps(list(conn.execute(select(g).where(g.c.run_id == row.id).order_by(g.c.id))))
            transcript = tuple(TranscriptRecord(*x) for x in conn.execute(
                select(*_TRANSCRIPT).where(t.c.run_id == row.id).order_by(t.c.start_at, t.c.id)))
            last_media: datetime | None = conn.execute(select(s.c.end_at).where(s.c.run_id == row.id)
                                                       .order_by(s.c.end_at.desc()).limit(1)).scalar()
            heard = {r.stream: r.committed_until
                     for r in conn.execute(select(p.c.stream, p.c.committed_until).where(p.c.run_id == row.id))}
            si, ps = tables.screen_items, tables.picture_spells
            screen = tuple(item_of_row(r) for r in conn.execute(
                select(si).where(si.c.run_id == row.id).order_by(si.c.start_at, si.c.stream, si.c.id)))
            picture = tuple(spell_of_row(r) for r in conn.execute(
                select(ps).where(ps.c.run_id == row.id).order_by(ps.c.start_at, ps.c.stream, ps.c.id)))
        return CheckRecords(event, run_of_row(row), gaps, transcript, last_media, heard, screen, picture)

    def for_window(self, event_id: str, registered_start: datetime) -> WindowRecords | None:
        runs, g, s = tables.runs, tables.gaps, tables.segments
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.event_id == event_id,
                                                  runs.c.registered_start == registered_start)
                               .order_by(runs.c.id.desc()).limit(1)).first()
            if row is None:
                return None
            gaps = _gaps(list(conn.execute(select(g).where(g.c.run_id == row.id).order_by(g.c.id))))
            last = {r.stream: r.last for r in conn.execute(
                select(s.c.stream, func.max(s.c.end_at).label("last"))
                .where(s.c.run_id == row.id, s.c.kind == "audio").group_by(s.c.stream))}
        return WindowRecords(run_of_row(row), gaps, last)

    def for_document(self, event_id: str, run_id: int | None) -> DocumentRecords:
        e, runs, g, t = tables.events, tables.runs, tables.gaps, tables.transcripts
        with self.engine.connect() as conn:
            event = event_of_row(conn.execute(select(e).where(e.c.id == event_id)).one())
            if run_id is None:
                return DocumentRecords(event, None, (), ())
            run = run_of_row(conn.execute(select(runs).where(runs.c.id == run_id)).one())
            gaps = _gaps(list(conn.execute(select(g).where(g.c.run_id == run_id).order_by(g.c.start_at))))
            models = tuple((m.backend, m.model) for m in conn.execute(
                select(t.c.backend, t.c.model).distinct().where(t.c.run_id == run_id)))
        return DocumentRecords(event, run, gaps, models)

    def latest_transcript(self, event_id: str) -> list[TranscriptRecord]:
        """The transcript of the event's latest run, in time order."""
        runs, t = tables.runs, tables.transcripts
        with self.engine.connect() as conn:
            run_id = conn.execute(select(func.max(runs.c.id)).where(runs.c.event_id == event_id)).scalar()
            if run_id is None:
                return []
            # Built from each row's values in column order: 8,000 rows per 10 hours, read after every check.
            return [TranscriptRecord(*x) for x in conn.execute(
                select(*_TRANSCRIPT).where(t.c.run_id == run_id).order_by(t.c.start_at, t.c.stream, t.c.id))]

    def latest_health(self, event_id: str) -> RunHealth | None:
        """Counts of the event's latest run (None before its first run)."""
        s, g, runs = tables.segments, tables.gaps, tables.runs
        with self.engine.connect() as conn:
            run_id = conn.execute(select(func.max(runs.c.id)).where(runs.c.event_id == event_id)).scalar()
            if run_id is None:
                return None
            media = conn.execute(select(func.count(), func.coalesce(func.sum(s.c.bytes), 0))
                                 .where(s.c.run_id == run_id, s.c.kind == "media")).one()
            corrupt = conn.execute(select(func.count()).where(s.c.run_id == run_id, s.c.status == "corrupt")).scalar()
            # Connections that brought media: a recorder that waited on an RTMP server for a publisher and got
            # nothing (the connection is the live check there) was no reconnect of the stream.
            connections = conn.execute(select(func.count(func.distinct(s.c.connection_id)))
                                       .where(s.c.run_id == run_id)).scalar()
            gaps = conn.execute(select(func.count()).where(g.c.run_id == run_id)).scalar()
        return RunHealth(int(media[0]), int(media[1]), int(connections or 0), int(corrupt or 0), int(gaps or 0))

    def audio(self, run_id: int) -> list[AudioRecord]:
        """The run's audio segments, by stream and number."""
        s = tables.segments
        with self.engine.connect() as conn:
            return [_audio(row) for row in conn.execute(
                select(s).where(s.c.run_id == run_id, s.c.kind == "audio", s.c.status != "corrupt")
                .order_by(s.c.stream, s.c.seq))]

    def audio_between(self, run_id: int, stream: int, start: datetime, end: datetime) -> list[AudioRecord]:
        """One stream's audio segments that overlap ``start``–``end``, in order."""
        s = tables.segments
        with self.engine.connect() as conn:
            return [_audio(row) for row in conn.execute(
                select(s).where(s.c.run_id == run_id, s.c.stream == stream, s.c.kind == "audio",
                                s.c.status != "corrupt", s.c.end_at > start, s.c.start_at < end)
                .order_by(s.c.seq))]
