"""Reading and writing transcripts: the committed spans of each stream and how far each stream is done.

A window's spans and the stream's progress are written in one transaction, so a restart resumes exactly
where the last commit stopped: nothing lost, nothing twice. Portable SQLAlchemy Core only.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from sqlalchemy import Engine, Row, func, select
from sqlalchemy.exc import IntegrityError

from livewatch.errors import StateError
from livewatch.pipeline.transcripts import SpanWord, TranscriptSpan
from livewatch.state import tables
from livewatch.state.database import write


@dataclass(frozen=True)
class Progress:
    """How far a stream is transcribed: the last segment taken, the time up to which text is committed,
    and whether the last tail was flushed after its capture ended."""

    last_seq: int
    committed_until: datetime
    flushed: bool


class Unchecked(enum.Enum):
    """``commit(built_on=UNCHECKED)``: write whatever the progress is now (one writer per stream)."""

    UNCHECKED = "unchecked"


UNCHECKED: Final = Unchecked.UNCHECKED


class ProgressMoved(StateError):
    """A stream's progress moved while a window was transcribed: another process holds the stream now (its
    holder lost its lane, e.g. its database connection dropped), and the window is not committed."""


@dataclass(frozen=True)
class Unflushed:
    """A stream of a finished run whose last tail is not committed yet."""

    event_id: str
    run_id: int
    stream: int


class TranscriptLog(Protocol):
    """Where transcripts and each stream's transcription progress are kept."""

    def commit(self, run_id: int, stream: int, spans: Sequence[TranscriptSpan], *, committed_until: datetime,
               last_seq: int | None, built_on: Progress | Unchecked | None = UNCHECKED) -> None:
        """Add ``spans`` and move the stream's progress, in one transaction (``last_seq`` None: unchanged,
        or -1 for a stream seen first). With ``built_on`` (the progress the window was read after: None for
        a stream seen first) nothing is written, and :class:`ProgressMoved` raised, when another process
        has moved the progress since."""
        ...

    def progress(self, run_id: int, stream: int) -> Progress | None: ...

    def mark_flushed(self, run_id: int, stream: int) -> None: ...

    def last_span(self, run_id: int, stream: int) -> TranscriptSpan | None:
        """The span that ends last (the context for the next window)."""
        ...

    def spans(self, run_id: int) -> list[TranscriptSpan]:
        """All spans of a run, by start time, then stream."""
        ...

    def spans_after(self, run_id: int, after_id: int) -> list[tuple[int, TranscriptSpan]]:
        """(row id, span) of a run's spans stored after row ``after_id``, in the order they were stored."""
        ...

    def unflushed_in(self, statuses: Collection[str]) -> list[Unflushed]:
        """Streams not flushed whose run has one of ``statuses``."""
        ...

    def any_unflushed(self, run_ids: Collection[int]) -> bool: ...

    def first_utterances(self, event_id: str, limit: int) -> list[tuple[str | None, str]]:
        """(detected language, text) of the first ``limit`` utterances of the event's latest transcribed run."""
        ...


class TranscriptStore:
    """The transcripts and transcription_progress tables through SQLAlchemy Core."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def commit(self, run_id: int, stream: int, spans: Sequence[TranscriptSpan], *, committed_until: datetime,
               last_seq: int | None, built_on: Progress | Unchecked | None = UNCHECKED) -> None:
        table = tables.transcription_progress
        where = (table.c.run_id == run_id, table.c.stream == stream)
        try:
            with write(self.engine) as conn:
                # Locked until commit (PostgreSQL; SQLite's write lock is already held): a concurrent commit
                # of the same stream waits, then finds the progress moved.
                row = conn.execute(select(table.c.last_seq, table.c.committed_until).where(*where)
                                   .with_for_update()).first()
                if not isinstance(built_on, Unchecked):
                    found = None if row is None else (row.last_seq, row.committed_until)
                    if found != (None if built_on is None else (built_on.last_seq, built_on.committed_until)):
                        raise ProgressMoved(f"run {run_id} stream {stream}: transcribed by another process "
                                            f"meanwhile (progress {found}); this window is dropped")
                if spans:
                    conn.execute(tables.transcripts.insert(), [_row_of(span) for span in spans])
                values: dict[str, Any] = {"committed_until": committed_until, "flushed": 0}
                if last_seq is not None:
                    values["last_seq"] = last_seq
                if row is None:
                    conn.execute(table.insert().values(run_id=run_id, stream=stream,
                                                       **{"last_seq": -1 if last_seq is None else last_seq,
                                                          **values}))
                else:
                    conn.execute(table.update().where(*where).values(**values))
        except IntegrityError as err:  # two first commits of one stream at once: the other one's row won
            if isinstance(built_on, Unchecked):
                raise
            raise ProgressMoved(f"run {run_id} stream {stream}: transcribed by another process meanwhile") from err

    def progress(self, run_id: int, stream: int) -> Progress | None:
        table = tables.transcription_progress
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.run_id == run_id, table.c.stream == stream)).first()
        return None if row is None else Progress(row.last_seq, row.committed_until, bool(row.flushed))

    def mark_flushed(self, run_id: int, stream: int) -> None:
        table = tables.transcription_progress
        with write(self.engine) as conn:
            conn.execute(table.update().where(table.c.run_id == run_id, table.c.stream == stream).values(flushed=1))

    def last_span(self, run_id: int, stream: int) -> TranscriptSpan | None:
        t = tables.transcripts
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.run_id == run_id, t.c.stream == stream)
                               .order_by(t.c.end_at.desc()).limit(1)).first()
        return None if row is None else span_of(row)

    def spans(self, run_id: int) -> list[TranscriptSpan]:
        t = tables.transcripts
        with self.engine.connect() as conn:
            return [span_of(row) for row in conn.execute(select(t).where(t.c.run_id == run_id)
                                                         .order_by(t.c.start_at, t.c.stream))]

    def spans_after(self, run_id: int, after_id: int) -> list[tuple[int, TranscriptSpan]]:
        t = tables.transcripts
        with self.engine.connect() as conn:
            return [(row.id, span_of(row)) for row in conn.execute(
                select(t).where(t.c.run_id == run_id, t.c.id > after_id).order_by(t.c.id))]

    def unflushed_in(self, statuses: Collection[str]) -> list[Unflushed]:
        p, runs = tables.transcription_progress, tables.runs
        with self.engine.connect() as conn:
            return [Unflushed(row.event_id, row.run_id, row.stream) for row in conn.execute(
                select(p.c.run_id, p.c.stream, runs.c.event_id).join(runs, runs.c.id == p.c.run_id)
                .where(p.c.flushed == 0, runs.c.status.in_(list(statuses))))]

    def any_unflushed(self, run_ids: Collection[int]) -> bool:
        p = tables.transcription_progress
        with self.engine.connect() as conn:
            return conn.execute(select(p.c.run_id).where(p.c.run_id.in_(list(run_ids)), p.c.flushed == 0)
                                .limit(1)).first() is not None

    def first_utterances(self, event_id: str, limit: int) -> list[tuple[str | None, str]]:
        t, runs = tables.transcripts, tables.runs
        with self.engine.connect() as conn:
            run_id = conn.execute(select(func.max(t.c.run_id)).join(runs, runs.c.id == t.c.run_id)
                                  .where(runs.c.event_id == event_id)).scalar()
            if run_id is None:
                return []
            rows = conn.execute(select(t.c.language, t.c.text).where(t.c.run_id == run_id)
                                .order_by(t.c.start_at, t.c.id).limit(limit))
            return [(row.language, row.text) for row in rows]


def _row_of(span: TranscriptSpan) -> dict[str, Any]:
    words = [{"start": w.start_at.isoformat(), "end": w.end_at.isoformat(), "word": w.word,
              "probability": w.probability} for w in span.words]
    return {
        "run_id": span.run_id, "stream": span.stream, "segment_id": span.segment_id, "start_at": span.start_at,
        "end_at": span.end_at, "text": span.text, "text_check": span.text_check, "language": span.language,
        "avg_logprob": span.avg_logprob, "no_speech_prob": span.no_speech_prob,
        "compression_ratio": span.compression_ratio, "flags": ",".join(span.flags),
        "words_json": json.dumps(words, ensure_ascii=False), "backend": span.backend, "model": span.model,
    }


def words_of_column(words_json: str | None) -> tuple[SpanWord, ...]:
    """The ``words_json`` column (as :func:`_row_of` writes it) as the span's words."""
    return tuple(SpanWord(datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]), str(w["word"]),
                          float(w["probability"])) for w in json.loads(words_json or "[]"))


def flags_of_column(flags: str | None) -> tuple[str, ...]:
    """The ``flags`` column (comma-separated) as the span's quality flags."""
    return tuple(f for f in (flags or "").split(",") if f)


def span_of(row: Row[Any]) -> TranscriptSpan:
    """A stored transcripts row as the message it was written from."""
    return TranscriptSpan(
        row.run_id, row.stream, row.segment_id, row.start_at, row.end_at, row.text, row.text_check, row.language,
        row.avg_logprob, row.no_speech_prob, row.compression_ratio, flags_of_column(row.flags),
        words_of_column(row.words_json), row.backend, row.model)
