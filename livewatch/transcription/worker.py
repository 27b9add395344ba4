"""Transcribes each stream's audio segments in order as they close, with absolute (wall-clock) times.

Whisper needs context: a word cut by a segment boundary is misheard in both halves. So every window is the
uncommitted tail of the previous segment plus the new segment; only what ends at least ``margin`` seconds
before the window's end is committed, and the rest is carried into the next window. Each commit (the
transcript rows and the stream's progress) is one transaction, so a restart resumes exactly where the last
one stopped: nothing lost, nothing twice.
"""

from __future__ import annotations

import logging
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from livewatch.errors import CaptureError
from livewatch.pipeline import ClosedSegment, MessageError, SpanWord, TranscriptSpan, decode, lane_key
from livewatch.queue import TRANSCRIBE, WorkItem, WorkQueue
from livewatch.state.runs import RunLog, SegmentRecord
from livewatch.state.transcripts import Progress, ProgressMoved, TranscriptLog
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
#: Whisper's window: audio up to this long is encoded once (padded to it), longer audio in several windows.
WHISPER_WINDOW_S = 30.0


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
class EngineChoice:
    transcriber: Transcriber
    options: TranscribeOptions


class StreamLanes:
    """The streams being transcribed right now. Workers that share one never take two segments of the same
    stream at once, so each stream's audio is still transcribed strictly in order, by one worker at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: set[str] = set()

    def claim(self, queue: WorkQueue, key_prefix: str | None = None) -> WorkItem | None:
        """The head of a lane no worker here holds; with ``key_prefix`` (a lane the caller holds across
        processes, see ``livewatch/distributed/lanes.py``) the oldest pending item of that lane."""
        with self._lock:  # the claim and the lane are taken together: no other worker sees one without the other
            item = queue.claim(TRANSCRIBE, key_prefix=key_prefix, exclude_prefixes=tuple(self._busy))
            if item is not None:
                self._busy.add(lane_of(item))
            return item

    def leave(self, item: WorkItem) -> None:
        with self._lock:
            self._busy.discard(lane_of(item))


def lane_of(item: WorkItem) -> str:
    """The key prefix of an item's stream (:attr:`ClosedSegment.lane`), read through the contract; a payload
    this livewatch cannot read is a lane of its own (then failed alone, by name, when processed)."""
    try:
        return decode(ClosedSegment, item.payload).lane
    except MessageError:
        return item.key


@dataclass(frozen=True)
class Claimed:
    """A queue item and the segment it carries, read from its payload once."""

    item: WorkItem
    segment: ClosedSegment


def claimed(item: WorkItem) -> Claimed:
    return Claimed(item, decode(ClosedSegment, item.payload))


class TranscriptionWorker:
    """Takes queued segments from ``queue``, reads what was captured from ``runs`` and writes what it heard
    to ``transcripts`` (a session's stores: ``session.runs``, ``session.transcripts``, ``session.queue``);
    ``choose`` names the engine and options for an event."""

    def __init__(self, runs: RunLog, transcripts: TranscriptLog, queue: WorkQueue,
                 choose: Callable[[str], EngineChoice], *, margin: float = 1.0, max_tail: float = 15.0,
                 lanes: StreamLanes | None = None, carry_unheard: bool = True) -> None:
        self.runs, self.transcripts, self.queue, self.choose = runs, transcripts, queue, choose
        self.margin, self.max_tail = margin, max_tail
        #: Carry speech Whisper stopped before into the next window (off only to measure what it saves).
        self.carry_unheard = carry_unheard
        self.lanes = lanes or StreamLanes()
        #: The event whose audio the last :meth:`process_one` took (for whoever checks transcripts next).
        self.last_event_id: str | None = None
        #: Segments this worker has transcribed (not those skipped, failed or found done before a restart).
        self.transcribed = 0
        #: Seconds of audio in those segments (a worker's throughput in its metrics).
        self.transcribed_s = 0.0

    # -- the queue ---------------------------------------------------------------------------------------

    def process_one(self, lane: str | None = None) -> bool:
        """Transcribe the oldest queued segment of a stream no other worker holds (of ``lane`` alone, when
        the caller holds that lane: see :meth:`StreamLanes.claim`); False when there is none."""
        item = self.lanes.claim(self.queue, lane)
        if item is None:
            return False
        try:
            self._process(item)
        finally:
            self.lanes.leave(item)
        return True

    def _process(self, item: WorkItem) -> None:
        try:
            first = claimed(item)
        except MessageError as err:  # a payload this livewatch cannot read: failed for good, named in the log
            log.error("cannot read queued item %s: %s", item.key, err)
            self.queue.fail(item, str(err), retry=False)
            return
        items = [first]
        self.last_event_id = first.segment.event_id
        try:
            heard = self.handle(items)
        except ProgressMoved as err:  # the stream is another process's now: its items are that one's too
            log.warning("%s", err)
            raise
        except CorruptSegment as err:  # the file will not get better: note it and go on without it
            log.warning("skipping a corrupt audio segment: %s", err)
            if first.segment.segment_id is not None:
                self.runs.mark_corrupt(first.segment.segment_id, f"transcription skipped it: {err}")
            for taken in items:
                self.queue.fail(taken.item, str(err), retry=False)
        except Exception as err:  # one bad segment never stops transcription
            log.exception("cannot transcribe %s", first.segment.path)
            for taken in items:
                self.queue.fail(taken.item, repr(err), retry=taken.item.attempts < 3)
        else:
            for taken in items:
                self.queue.complete(taken.item)
            if heard:
                self.transcribed += len(items)
                self.transcribed_s += sum((i.segment.end_at - i.segment.start_at).total_seconds() for i in items)

    def handle(self, items: list[Claimed]) -> bool:
        """Transcribe ``items[0]`` and, appended to ``items``, any contiguous segments queued behind it;
        False when ``items[0]`` was transcribed before (by a process stopped before it completed the item)."""
        segment = items[0].segment
        run_id, stream, seq, start = segment.run_id, segment.stream, segment.seq, segment.start_at
        progress = self.transcripts.progress(run_id, stream)
        if progress is not None and seq <= progress.last_seq:
            return False  # already transcribed before a restart
        last = self._last_segment(run_id, stream, progress)
        tail_start, tail = self._tail(run_id, stream, progress, last)
        apart = tail is not None and last is not None and start - last.end_at > CONTIGUOUS
        if apart and tail_start is not None and tail is not None:
            progress = self._commit_window(segment.event_id, run_id, stream, tail_start, tail, final=True, seq=None,
                                           built_on=progress)
            tail_start, tail = None, None
        pieces = [] if tail is None else [tail]
        pieces.append(read_wav(segment.path))
        seq = self._take_queued_behind(items, pieces, run_id, stream, seq)
        window_start = tail_start or start
        self._commit_window(segment.event_id, run_id, stream, window_start, np.concatenate(pieces),
                            final=False, seq=seq, built_on=progress,
                            segments=[(i.segment.start_at, i.segment.segment_id) for i in items])
        return True

    def _take_queued_behind(self, items: list[Claimed], pieces: list[npt.NDArray[np.float32]], run_id: int,
                            stream: int, seq: int) -> int:
        end = items[-1].segment.end_at
        total = sum(len(p) for p in pieces)
        while total < BATCH_SECONDS * SAMPLE_RATE:
            item = self.queue.claim(TRANSCRIBE, key_prefix=lane_key(run_id, stream))
            if item is None:
                break
            try:
                nxt = claimed(item)
                more = read_wav(nxt.segment.path)
            except CorruptSegment:
                self.queue.release(item)  # taken alone next, and skipped alone: its neighbours stay good
                break
            except MessageError:  # an unreadable payload: taken alone next, and failed alone
                self.queue.release(item)
                break
            apart = nxt.segment.start_at - end > CONTIGUOUS
            if nxt.segment.seq <= seq or apart or total + len(more) > BATCH_SECONDS * SAMPLE_RATE:
                self.queue.release(item)
                break
            items.append(nxt)
            pieces.append(more)
            total += len(more)
            seq, end = nxt.segment.seq, nxt.segment.end_at
        return seq

    def flush(self, event_id: str, run_id: int, stream: int) -> None:
        """Commit the last tail of a stream whose capture has ended."""
        progress = self.transcripts.progress(run_id, stream)
        if progress is None or progress.flushed:
            return
        tail_start, tail = self._tail(run_id, stream, progress, self._last_segment(run_id, stream, progress))
        if tail is not None and tail_start is not None:
            self._commit_window(event_id, run_id, stream, tail_start, tail, final=True, seq=None, built_on=progress)
        self.transcripts.mark_flushed(run_id, stream)

    # -- windows -----------------------------------------------------------------------------------------

    def _commit_window(self, event_id: str, run_id: int, stream: int, window_start: datetime,
                       window: npt.NDArray[np.float32], *, final: bool, seq: int | None, built_on: Progress | None,
                       segments: list[tuple[datetime, int | None]] | None = None) -> Progress:
        """Decode a window and commit what it heard, unless the stream's progress moved from ``built_on``
        meanwhile (:class:`ProgressMoved`); the progress committed."""
        choice = self.choose(event_id)
        # The choice's prompt is the language's fixed part, if it has one; the stream's last trusted text
        # follows it as context.
        context = self._prompt(run_id, stream)
        prompt = "".join(part for part in (choice.options.initial_prompt, context) if part) or None
        options = replace(choice.options, initial_prompt=prompt)
        window_seconds = len(window) / SAMPLE_RATE
        limit = window_seconds if final else window_seconds - self.margin
        # A live window fits one Whisper window: the sentence Whisper leaves unfinished at its end is carried
        # into the next window below, so it is not decoded twice (see TranscribeOptions.first_window_only).
        live = not final and window_seconds <= WHISPER_WINDOW_S
        decoded = list(choice.transcriber.transcribe(window, replace(options, first_window_only=live)))
        if live and self._stopped_early(window, decoded, limit):
            decoded = list(choice.transcriber.transcribe(window, options))
            live = False
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
        elif ((self.carry_unheard or live) and not final and window_seconds - heard_until <= self.max_tail
              and unheard_speech(window, heard_until, limit,
                                 minimum=UNDECODED_SPEECH_S if live else UNHEARD_SPEECH_S)):
            # Whisper stopped before speech the voice-activity detector hears (it sometimes ends a window
            # early, most often in Mandarin): that speech is carried into the next window, with more context,
            # instead of being committed unheard. After a first-window-only decode, what follows the last
            # finished sentence was not decoded at all: any speech there is carried.
            committed = heard_until
        else:
            committed = window_seconds if final or not decoded else max(limit, heard_until)
        committed_until = window_start + timedelta(seconds=committed)
        model = choice.transcriber.model
        if segments is None:  # a tail: the captured segments it came from are in the run store
            segments = [(recorded.start_at, recorded.id)
                        for recorded in self.runs.audio_segments(run_id, stream, ending_after=window_start)]
        spans = [self._span(run_id, stream, _segment_at(segments, window_start + timedelta(seconds=seg.start))
                            if segments else None, window_start, seg, choice.transcriber.name, model.name)
                 for seg in keep]
        self.transcripts.commit(run_id, stream, spans, committed_until=committed_until, last_seq=seq,
                                built_on=built_on)
        last_seq = seq if seq is not None else -1 if built_on is None else built_on.last_seq
        return Progress(last_seq, committed_until, flushed=False)

    def _stopped_early(self, window: npt.NDArray[np.float32], decoded: list[Segment], limit: float) -> bool:
        """Whether a first-window-only decode left speech undecoded further back than a tail may reach: then
        the window is decoded whole, as a carry that long would be committed unheard."""
        heard_until = decoded[-1].end if decoded else 0.0
        return (len(window) / SAMPLE_RATE - heard_until > self.max_tail
                and unheard_speech(window, heard_until, limit, minimum=UNDECODED_SPEECH_S))

    @staticmethod
    def _span(run_id: int, stream: int, segment_id: int | None, window_start: datetime, seg: Segment, backend: str,
              model: str) -> TranscriptSpan:
        def at(offset: float) -> datetime:
            return window_start + timedelta(seconds=offset)

        words = tuple(SpanWord(at(w.start), at(w.end), w.word, round(w.probability, 4)) for w in seg.words)
        text = seg.text.strip()
        return TranscriptSpan(run_id, stream, segment_id, at(seg.start), at(seg.end), text,
                              text_for_checking(text, seg.language), seg.language, seg.avg_logprob,
                              seg.no_speech_prob, seg.compression_ratio, tuple(flags_for(seg)), words, backend, model)

    # -- state -------------------------------------------------------------------------------------------

    def progress(self, run_id: int, stream: int) -> Progress | None:
        return self.transcripts.progress(run_id, stream)

    def _last_segment(self, run_id: int, stream: int, progress: Progress | None) -> SegmentRecord | None:
        if progress is None or progress.last_seq < 0:
            return None
        return self.runs.audio_segment(run_id, stream, progress.last_seq)

    def _tail(self, run_id: int, stream: int, progress: Progress | None,
              last: SegmentRecord | None) -> tuple[datetime | None, npt.NDArray[np.float32] | None]:
        """The audio after what is committed, read back from the segment files (so it survives a restart);
        it may reach back over more than one segment while a sentence goes on."""
        if last is None or progress is None or progress.committed_until >= last.end_at:
            return None, None
        rows = self.runs.audio_segments(run_id, stream, ending_after=progress.committed_until, upto_seq=last.seq,
                                        skip_corrupt=True)
        pieces: list[npt.NDArray[np.float32]] = []
        begin: datetime | None = None
        for row in rows:
            samples = read_wav(row.path)
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
        span = self.transcripts.last_span(run_id, stream)
        if span is None:
            return None
        seg = Segment(0.0, 0.0, span.text, (), span.avg_logprob or 0.0, span.no_speech_prob or 0.0,
                      span.compression_ratio or 1.0, span.language)
        if not trustworthy(seg):
            return None
        # Checking text is Simplified for Chinese: a Traditional context would ask Whisper for more of it.
        return span.text_check if span.language == "zh" else span.text


#: Speech the decoder left out must last this long to be carried (a word's last sound after its end time is not).
UNHEARD_SPEECH_S = 1.0
#: After a first-window-only decode the audio past Whisper's last finished sentence was never decoded: speech
#: there is carried from this long (Silero's own shortest speech).
UNDECODED_SPEECH_S = 0.25
#: Where the last decoded segment ends, the next this many seconds are still its own sounds.
UNHEARD_GUARD_S = 0.3


def unheard_speech(window: npt.NDArray[np.float32], heard_until: float, limit: float,
                   minimum: float = UNHEARD_SPEECH_S) -> bool:
    """Whether Silero VAD (shipped inside faster-whisper) hears at least ``minimum`` seconds of speech in
    ``window`` between ``heard_until`` (plus a guard) and ``limit`` seconds."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    begin, end = int((heard_until + UNHEARD_GUARD_S) * SAMPLE_RATE), int(limit * SAMPLE_RATE)
    if end - begin < minimum * SAMPLE_RATE:
        return False
    spans = get_speech_timestamps(window[begin:end], VadOptions())
    return bool(sum(span["end"] - span["start"] for span in spans) >= minimum * SAMPLE_RATE)


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


def _segment_at(segments: list[tuple[datetime, int | None]], moment: datetime) -> int | None:
    """The id of the captured segment a transcript row begins in (the last one starting at or before it)."""
    chosen = segments[0][1]
    for start, segment_id in segments:
        if start <= moment:
            chosen = segment_id
    return chosen
