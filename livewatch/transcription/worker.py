"""Transcribes each stream's audio segments in order as they close, with absolute (wall-clock) times.

Whisper needs context: a word cut by a segment boundary is misheard in both halves. So every window is the
uncommitted tail of the previous segment plus the new segment; only what ends at least ``margin`` seconds
before the window's end is committed, and the rest is carried into the next window. Each commit (the
transcript rows and the stream's progress) is one transaction, so a restart resumes exactly where the last
one stopped: nothing lost, nothing twice.
"""

from __future__ import annotations

import json
import logging
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, select

from livewatch.errors import CaptureError
from livewatch.queue import TRANSCRIBE, WorkItem, WorkQueue
from livewatch.state import tables
from livewatch.state.database import write
from livewatch.transcription.quality import flags_for, text_for_checking, trustworthy
from transcribers.base import SAMPLE_RATE, Segment, TranscribeOptions, Transcriber

log = logging.getLogger(__name__)

#: Segments more than this apart are not one window: the tail is flushed on its own first.
CONTIGUOUS = timedelta(seconds=1.5)
#: Whisper decodes 30 s at a time however little audio it is given, and a window that starts mid-sentence
#: costs a re-decode of the carried tail. So when segments have queued up (a backlog after a busy spell, or
#: a recording analysed after the fact) contiguous ones go to the backend together, up to this long a window:
#: faster-whisper then seeks through them exactly as it does through a file (bench/transcribe.py: the worker
#: went from +263% to within a few % of bare faster-whisper when this rose from 28 s to 120 s). Live, one
#: segment closes at a time and each window is the carried tail plus that segment.
BATCH_SECONDS = 120.0


class CorruptSegment(CaptureError):
    """An audio segment that cannot be read as 16 kHz mono PCM: skipped (with a note), never retried."""


def read_wav(path: Path) -> npt.NDArray[np.float32]:
    """16 kHz mono PCM as float32 in [-1, 1]; :class:`CorruptSegment` when the file is not that."""
    try:
        with wave.open(str(path), "rb") as handle:
            if handle.getframerate() != SAMPLE_RATE or handle.getnchannels() != 1 or handle.getsampwidth() != 2:
                raise CorruptSegment(f"{path}: expected 16 kHz mono 16-bit PCM")
            frames = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError) as err:
        raise CorruptSegment(f"{path}: not a readable WAV file ({err or type(err).__name__})") from err
    except FileNotFoundError as err:
        raise CorruptSegment(f"{path}: missing") from err
    if len(frames) % 2:
        frames = frames[:-1]  # a file cut off mid-sample: the whole samples are still good
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


@dataclass(frozen=True)
class Progress:
    last_seq: int
    committed_until: datetime
    flushed: bool


@dataclass(frozen=True)
class EngineChoice:
    transcriber: Transcriber
    options: TranscribeOptions


class StreamLanes:
    """The streams being transcribed right now. Workers that share one never take two segments of the same
    stream at once, so each stream's audio is still transcribed strictly in order, by one worker at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: set[str] = set()

    def claim(self, queue: WorkQueue) -> WorkItem | None:
        with self._lock:  # the claim and the lane are taken together: no other worker sees one without the other
            item = queue.claim(TRANSCRIBE, exclude_prefixes=tuple(self._busy))
            if item is not None:
                self._busy.add(lane_of(item))
            return item

    def leave(self, item: WorkItem) -> None:
        with self._lock:
            self._busy.discard(lane_of(item))


def lane_of(item: WorkItem) -> str:
    """The key prefix of an item's stream (items are keyed ``run:stream:seq``)."""
    return f"{item.payload['run_id']}:{item.payload['stream']}:"


class TranscriptionWorker:
    def __init__(self, engine: Engine, queue: WorkQueue, choose: Callable[[str], EngineChoice],
                 *, margin: float = 1.0, max_tail: float = 15.0, lanes: StreamLanes | None = None,
                 carry_unheard: bool = True) -> None:
        self.engine, self.queue, self.choose = engine, queue, choose
        self.margin, self.max_tail = margin, max_tail
        #: Carry speech Whisper stopped before into the next window (off only to measure what it saves).
        self.carry_unheard = carry_unheard
        self.lanes = lanes or StreamLanes()
        #: The event whose audio the last :meth:`process_one` took (for whoever checks transcripts next).
        self.last_event_id: str | None = None

    # -- the queue ---------------------------------------------------------------------------------------

    def process_one(self) -> bool:
        """Transcribe the oldest queued segment of a stream no other worker holds; False when there is none."""
        item = self.lanes.claim(self.queue)
        if item is None:
            return False
        try:
            self._process(item)
        finally:
            self.lanes.leave(item)
        return True

    def _process(self, item: WorkItem) -> None:
        items = [item]
        self.last_event_id = str(item.payload.get("event_id"))
        try:
            self.handle(items)
        except CorruptSegment as err:  # the file will not get better: note it and go on without it
            log.warning("skipping a corrupt audio segment: %s", err)
            self._mark_corrupt(item, str(err))
            for claimed in items:
                self.queue.fail(claimed, str(err), retry=False)
        except Exception as err:  # one bad segment never stops transcription
            log.exception("cannot transcribe %s", item.payload.get("path"))
            for claimed in items:
                self.queue.fail(claimed, repr(err), retry=claimed.attempts < 3)
        else:
            for claimed in items:
                self.queue.complete(claimed)

    def handle(self, items: list[WorkItem]) -> None:
        """Transcribe ``items[0]`` and, appended to ``items``, any contiguous segments queued behind it."""
        payload = items[0].payload
        run_id, stream = int(payload["run_id"]), int(payload["stream"])
        seq = int(payload["seq"])
        start = datetime.fromisoformat(payload["start_at"])
        progress = self.progress(run_id, stream)
        if progress is not None and seq <= progress.last_seq:
            return  # already transcribed before a restart
        tail_start, tail = self._tail(run_id, stream, progress)
        apart = tail is not None and start - self._tail_end(run_id, stream, progress) > CONTIGUOUS
        if apart and tail_start is not None and tail is not None:
            self._commit_window(payload, run_id, stream, progress, tail_start, tail, final=True, seq=None)
            progress = self.progress(run_id, stream)
            tail_start, tail = None, None
        pieces = [] if tail is None else [tail]
        pieces.append(read_wav(Path(payload["path"])))
        seq = self._take_queued_behind(items, pieces, run_id, stream, seq)
        window_start = tail_start or start
        self._commit_window(payload, run_id, stream, progress, window_start, np.concatenate(pieces),
                            final=False, seq=seq, segments=[(datetime.fromisoformat(i.payload["start_at"]),
                                                             i.payload.get("segment_id")) for i in items])

    def _take_queued_behind(self, items: list[WorkItem], pieces: list[npt.NDArray[np.float32]], run_id: int,
                            stream: int, seq: int) -> int:
        end = datetime.fromisoformat(items[-1].payload["end_at"])
        total = sum(len(p) for p in pieces)
        while total < BATCH_SECONDS * SAMPLE_RATE:
            nxt = self.queue.claim(TRANSCRIBE, key_prefix=f"{run_id}:{stream}:")
            if nxt is None:
                break
            try:
                more = read_wav(Path(nxt.payload["path"]))
            except CorruptSegment:
                self.queue.release(nxt)  # taken alone next, and skipped alone: its neighbours stay good
                break
            next_seq = int(nxt.payload["seq"])
            apart = datetime.fromisoformat(nxt.payload["start_at"]) - end > CONTIGUOUS
            if next_seq <= seq or apart or total + len(more) > BATCH_SECONDS * SAMPLE_RATE:
                self.queue.release(nxt)
                break
            items.append(nxt)
            pieces.append(more)
            total += len(more)
            seq, end = next_seq, datetime.fromisoformat(nxt.payload["end_at"])
        return seq

    def _mark_corrupt(self, item: WorkItem, problem: str) -> None:
        segment_id = item.payload.get("segment_id")
        if segment_id is None:
            return
        s = tables.segments
        with write(self.engine) as conn:
            row = conn.execute(select(s.c.note).where(s.c.id == int(segment_id))).first()
            if row is not None:
                note = f"transcription skipped it: {problem}"
                conn.execute(s.update().where(s.c.id == int(segment_id)).values(
                    status="corrupt", note=note if row.note is None else f"{row.note}; {note}"))

    def flush(self, event_id: str, run_id: int, stream: int) -> None:
        """Commit the last tail of a stream whose capture has ended."""
        progress = self.progress(run_id, stream)
        if progress is None or progress.flushed:
            return
        tail_start, tail = self._tail(run_id, stream, progress)
        payload = {"event_id": event_id, "segment_id": None}
        if tail is not None and tail_start is not None:
            self._commit_window(payload, run_id, stream, progress, tail_start, tail, final=True, seq=None)
        with write(self.engine) as conn:
            conn.execute(tables.transcription_progress.update().where(
                tables.transcription_progress.c.run_id == run_id, tables.transcription_progress.c.stream == stream,
            ).values(flushed=1))

    # -- windows -----------------------------------------------------------------------------------------

    def _commit_window(self, payload: dict[str, Any], run_id: int, stream: int, progress: Progress | None,
                       window_start: datetime, window: npt.NDArray[np.float32], *, final: bool,
                       seq: int | None, segments: list[tuple[datetime, Any]] | None = None) -> None:
        choice = self.choose(str(payload["event_id"]))
        # The choice's prompt is the language's fixed part, if it has one; the stream's last trusted text
        # follows it as context.
        context = self._prompt(run_id, stream)
        prompt = "".join(part for part in (choice.options.initial_prompt, context) if part) or None
        options = replace(choice.options, initial_prompt=prompt)
        decoded = list(choice.transcriber.transcribe(window, options))
        window_seconds = len(window) / SAMPLE_RATE
        limit = window_seconds if final else window_seconds - self.margin
        keep = [s for s in decoded if s.end <= limit]
        carry = [s for s in decoded if s.end > limit]
        if carry:
            # Whisper often makes one segment of several sentences; carrying it whole would hold sentences
            # finished long before the window's end (and their alerts) back by a whole capture segment.
            head, rest = split_at_sentence(carry[0], limit)
            if head is not None:
                keep.append(head)
                carry = [] if rest is None else [rest, *carry[1:]]
        if carry and carry[0].start < window_seconds - self.max_tail:
            keep, carry = decoded, []  # never carry more than max_tail: commit it as it is
        heard_until = keep[-1].end if keep else 0.0
        if carry:
            committed = max(heard_until, carry[0].start - 0.3)
        elif (self.carry_unheard and not final and window_seconds - heard_until <= self.max_tail
              and unheard_speech(window, heard_until, limit)):
            # Whisper stopped before speech the voice-activity detector hears (it sometimes ends a window
            # early, most often in Mandarin): that speech is carried into the next window, with more context,
            # instead of being committed unheard.
            committed = heard_until
        else:
            committed = window_seconds if final or not decoded else max(limit, heard_until)
        committed_until = window_start + timedelta(seconds=committed)
        model = choice.transcriber.model
        if segments is None:  # a tail: the captured segments it came from are in the database
            s = tables.segments
            with self.engine.connect() as conn:
                segments = [(row.start_at, row.id) for row in conn.execute(
                    select(s.c.start_at, s.c.id).where(s.c.run_id == run_id, s.c.stream == stream,
                                                       s.c.kind == "audio", s.c.end_at > window_start)
                    .order_by(s.c.seq))]
        rows = [self._row(run_id, stream, _segment_at(segments, window_start + timedelta(seconds=seg.start))
                          if segments else None, window_start, seg, choice.transcriber.name, model.name)
                for seg in keep]
        table = tables.transcription_progress
        with write(self.engine) as conn:
            if rows:
                conn.execute(tables.transcripts.insert(), rows)
            values = {"committed_until": committed_until, "flushed": 0}
            if seq is not None:
                values["last_seq"] = seq
            if progress is None:
                conn.execute(table.insert().values(run_id=run_id, stream=stream,
                                                   **{"last_seq": seq if seq is not None else -1, **values}))
            else:
                conn.execute(table.update().where(table.c.run_id == run_id, table.c.stream == stream)
                             .values(**values))

    @staticmethod
    def _row(run_id: int, stream: int, segment_id: Any, window_start: datetime, seg: Segment, backend: str,
             model: str) -> dict[str, Any]:
        def at(offset: float) -> datetime:
            return window_start + timedelta(seconds=offset)

        words = [{"start": at(w.start).isoformat(), "end": at(w.end).isoformat(), "word": w.word,
                  "probability": round(w.probability, 4)} for w in seg.words]
        return {
            "run_id": run_id, "stream": stream, "segment_id": segment_id, "start_at": at(seg.start),
            "end_at": at(seg.end), "text": seg.text.strip(), "text_check": text_for_checking(seg.text.strip(),
                                                                                              seg.language),
            "language": seg.language, "avg_logprob": seg.avg_logprob, "no_speech_prob": seg.no_speech_prob,
            "compression_ratio": seg.compression_ratio, "flags": ",".join(flags_for(seg)),
            "words_json": json.dumps(words, ensure_ascii=False), "backend": backend, "model": model,
        }

    # -- state -------------------------------------------------------------------------------------------

    def progress(self, run_id: int, stream: int) -> Progress | None:
        table = tables.transcription_progress
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.run_id == run_id, table.c.stream == stream)).first()
        return None if row is None else Progress(row.last_seq, row.committed_until, bool(row.flushed))

    def _last_segment(self, run_id: int, stream: int, progress: Progress | None) -> Any:
        if progress is None or progress.last_seq < 0:
            return None
        s = tables.segments
        with self.engine.connect() as conn:
            return conn.execute(select(s).where(s.c.run_id == run_id, s.c.stream == stream, s.c.kind == "audio",
                                                s.c.seq == progress.last_seq)).first()

    def _tail_end(self, run_id: int, stream: int, progress: Progress | None) -> datetime:
        last = self._last_segment(run_id, stream, progress)
        assert last is not None
        end: datetime = last.end_at
        return end

    def _tail(self, run_id: int, stream: int,
              progress: Progress | None) -> tuple[datetime | None, npt.NDArray[np.float32] | None]:
        """The audio after what is committed, read back from the segment files (so it survives a restart);
        it may reach back over more than one segment while a sentence goes on."""
        last = self._last_segment(run_id, stream, progress)
        if last is None or progress is None or progress.committed_until >= last.end_at:
            return None, None
        s = tables.segments
        with self.engine.connect() as conn:
            rows = list(conn.execute(
                select(s).where(s.c.run_id == run_id, s.c.stream == stream, s.c.kind == "audio",
                                s.c.seq <= last.seq, s.c.end_at > progress.committed_until,
                                s.c.status != "corrupt").order_by(s.c.seq)))
        pieces: list[npt.NDArray[np.float32]] = []
        begin: datetime | None = None
        for row in rows:
            samples = read_wav(Path(row.path))
            if begin is None:
                begin = max(progress.committed_until, row.start_at)
                samples = samples[int((begin - row.start_at).total_seconds() * SAMPLE_RATE):]
            pieces.append(samples)
        if begin is None or not pieces:
            return None, None
        tail = np.concatenate(pieces)
        return (begin, tail) if len(tail) > SAMPLE_RATE // 10 else (None, None)

    def _prompt(self, run_id: int, stream: int) -> str | None:
        """The last committed text, offered as context only when it is trustworthy."""
        t = tables.transcripts
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.run_id == run_id, t.c.stream == stream)
                               .order_by(t.c.end_at.desc()).limit(1)).first()
        if row is None:
            return None
        seg = Segment(0.0, 0.0, row.text, (), row.avg_logprob or 0.0, row.no_speech_prob or 0.0,
                      row.compression_ratio or 1.0, row.language)
        if not trustworthy(seg):
            return None
        # Checking text is Simplified for Chinese: a Traditional context would ask Whisper for more of it.
        return str(row.text_check) if row.language == "zh" else str(row.text)


#: Speech the decoder left out must last this long to be carried (a word's last sound after its end time is not).
UNHEARD_SPEECH_S = 1.0
#: Where the last decoded segment ends, the next this many seconds are still its own sounds.
UNHEARD_GUARD_S = 0.3


def unheard_speech(window: npt.NDArray[np.float32], heard_until: float, limit: float) -> bool:
    """Whether Silero VAD (shipped inside faster-whisper) hears at least :data:`UNHEARD_SPEECH_S` of speech in
    ``window`` between ``heard_until`` (plus a guard) and ``limit`` seconds."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    begin, end = int((heard_until + UNHEARD_GUARD_S) * SAMPLE_RATE), int(limit * SAMPLE_RATE)
    if end - begin < UNHEARD_SPEECH_S * SAMPLE_RATE:
        return False
    spans = get_speech_timestamps(window[begin:end], VadOptions())
    return bool(sum(span["end"] - span["start"] for span in spans) >= UNHEARD_SPEECH_S * SAMPLE_RATE)


#: Words that end a sentence, in English and Chinese.
SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")


def split_at_sentence(segment: Segment, limit: float) -> tuple[Segment | None, Segment | None]:
    """Cut ``segment`` after the last sentence that ends by ``limit`` (by its word times): the finished
    sentences and the rest. ``(None, segment)`` when no sentence ends in time or there are no word times."""
    words = segment.words
    cut = None
    for index, word in enumerate(words[:-1]):
        if word.end > limit:
            break
        if word.word.strip().endswith(SENTENCE_END):
            cut = index
    if cut is None:
        return None, segment
    head, tail = words[: cut + 1], words[cut + 1:]
    return (replace(segment, end=head[-1].end, text="".join(w.word for w in head).strip(), words=head),
            replace(segment, start=tail[0].start, text="".join(w.word for w in tail).strip(), words=tail))


def _segment_at(segments: list[tuple[datetime, Any]], moment: datetime) -> Any:
    """The id of the captured segment a transcript row begins in (the last one starting at or before it)."""
    chosen = segments[0][1]
    for start, segment_id in segments:
        if start <= moment:
            chosen = segment_id
    return chosen
