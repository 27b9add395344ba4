"""From readings of single frames to appearances: one :class:`ScreenItem` per code or line of text, from the
first frame it was read in until the last.

One :class:`AppearanceTracker` per stream sees the stream's frames in order. A reading is the same thing as
one already on screen when

- a code: its payload is exactly the same (wherever it is: a code that moves is still the same code);
- a line of text: its text is nearly the same after normalising (width, case, spaces; rapidfuzz's ratio at
  least ``text_similarity`` with the line as first read, as best read or as last read, since OCR reads a
  character differently now and then) and its box overlaps the box it was last seen in (the same words
  elsewhere on the screen are another line).

A thing missing from a frame's readings is not gone at once: OCR misses a line now and then, and a frame may
catch a banner half-drawn. It is closed when ``missed_reads`` + 1 reads in a row lack it; it then ends where
it was last seen (that frame's time plus its interval). A frame the change detector found unchanged is seen
with ``readings=None``: the same as the last read, so what that read found is on screen still, and what it
missed counts as missed again.

Frames further apart than the misses tolerated allow (``(missed_reads + 1)`` intervals, plus
:data:`GAP_SLACK_S`: the capture was down, frames were lost) close everything first: what shows after such a
gap is a new appearance.

The evidence kept for an appearance is the frame and box of the reading with the highest confidence (the
first of equals), and for text that reading's text.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from livewatch.errors import ScreenError
from livewatch.pipeline.screen import Box, CapturedFrame, ScreenItem
from livewatch.screen.memory import OpenAppearance, TrackerMemory
from livewatch.screen.payloads import classify

if TYPE_CHECKING:
    from pathlib import Path

    from livewatch.screen.base import Reading

log = logging.getLogger(__name__)

#: Seconds a frame may come late (capture jitter) before the time since the last one counts as a gap.
GAP_SLACK_S = 0.5


@dataclass(slots=True)
class _Open:
    """One appearance still on screen (mutable: the tracker's own bookkeeping, never handed out)."""

    first: Reading
    start_at: datetime
    best: Reading
    best_frame: Path
    last_box: Box
    last_seen: datetime
    last_interval_s: float
    #: Normalised text of the first, the best and the last reading (a line matches if near any of them).
    keys: tuple[str, str, str]
    #: Reads in a row that lacked it (0: the last read found it).
    missed: int = 0


class AppearanceTracker:
    """Turns one stream's frames and their readings into appearances (see the module's docstring)."""

    def __init__(self, *, missed_reads: int = 1, text_similarity: float = 85.0) -> None:
        if missed_reads < 0:
            raise ScreenError(f"missed_reads must be 0 or more, not {missed_reads}")
        if not 0.0 < text_similarity <= 100.0:
            raise ScreenError(f"text_similarity must be within 0..100, not {text_similarity}")
        self.missed_reads, self.text_similarity = missed_reads, text_similarity
        self._open: list[_Open] = []
        self._stream: tuple[int, int] | None = None
        self._last_at: datetime | None = None
        self._last_interval_s = 0.0

    def see(self, frame: CapturedFrame, readings: Sequence[Reading] | None) -> list[ScreenItem]:
        """Take the next frame of the stream and what its readers found (None: the picture has not changed since
        the last frame read). Returns the appearances that this frame closed, oldest first. A frame older than
        the last one seen (a redelivered queue item) is ignored."""
        stream = (frame.run_id, frame.stream)
        if self._stream is None:
            self._stream = stream
        elif stream != self._stream:
            raise ScreenError(f"an appearance tracker follows one stream (run {self._stream[0]}, stream "
                              f"{self._stream[1]}); the frame {frame.path} is of run {frame.run_id}, stream "
                              f"{frame.stream}")
        if self._last_at is not None and frame.at <= self._last_at:
            log.warning("frame %s (%s) is not after the last frame seen (%s); ignored", frame.path,
                        frame.at.isoformat(), self._last_at.isoformat())
            return []
        # A gap longer than the misses tolerated (the capture was down, frames were lost) ends everything: what
        # is on screen after it is a new appearance, and the report must not claim it was seen in between.
        gap_closed: list[_Open] = []
        if self._last_at is not None and (frame.at - self._last_at).total_seconds() > (
                (self.missed_reads + 1) * self._last_interval_s + GAP_SLACK_S):
            gap_closed, self._open = self._open, []
        self._last_at, self._last_interval_s = frame.at, frame.interval_s
        matched: set[int] = set()
        if readings is None:
            # The picture is the last read's: what it found is on screen still, what it missed is missed again.
            matched = {position for position, item in enumerate(self._open) if item.missed == 0}
            for position in matched:
                self._open[position].last_seen = frame.at
                self._open[position].last_interval_s = frame.interval_s
            readings = ()
        for reading in sorted(readings, key=lambda r: -r.confidence):
            found = self._match(reading, matched)
            if found is None:
                self._open.append(_start(reading, frame))
                matched.add(len(self._open) - 1)
            else:
                _extend(self._open[found], reading, frame)
                matched.add(found)
        closed: list[_Open] = gap_closed
        still_open: list[_Open] = []
        for index, item in enumerate(self._open):
            if index not in matched:
                item.missed += 1
            (closed if item.missed > self.missed_reads else still_open).append(item)
        self._open = still_open
        return [self._item(item) for item in sorted(closed, key=lambda i: i.start_at)]

    @property
    def last_at(self) -> datetime | None:
        """The time of the last frame seen (None before the first)."""
        return self._last_at

    def memory(self) -> TrackerMemory:
        r"""What the tracker knows, to be stored and :meth:`restore`\ d by whoever reads the stream's next frame."""
        return TrackerMemory(tuple(OpenAppearance(o.first, o.start_at, o.best, o.best_frame, o.last_box, o.last_seen,
                                                  o.last_interval_s, o.keys, o.missed) for o in self._open),
                             self._last_at, self._last_interval_s)

    def restore(self, run_id: int, stream: int, memory: TrackerMemory) -> None:
        """Continue where the tracker that made ``memory`` left off (for the stream given)."""
        self._stream = (run_id, stream)
        self._open = [_Open(o.first, o.start_at, o.best, o.best_frame, o.last_box, o.last_seen, o.last_interval_s,
                            o.keys, o.missed) for o in memory.open]
        self._last_at, self._last_interval_s = memory.last_at, memory.last_interval_s

    def open_items(self) -> list[ScreenItem]:
        """The appearances on screen now (or missed by no more reads than tolerated), oldest first; each ends
        where it was last seen, as if it closed now."""
        return [self._item(item) for item in sorted(self._open, key=lambda i: i.start_at)]

    def flush(self) -> list[ScreenItem]:
        """Close every appearance (the stream ended) and return them, oldest first."""
        closed = self.open_items()
        self._open = []
        return closed

    def _match(self, reading: Reading, taken: set[int]) -> int | None:
        """The open appearance ``reading`` continues, if any. A code matches by payload even if already matched
        in this frame (two copies of one code on screen are one appearance); a line matches a line not yet
        matched in this frame, the most similar one."""
        if reading.item == "code":
            return next((i for i, item in enumerate(self._open)
                         if item.first.item == "code" and item.first.text == reading.text), None)
        key = normalise(reading.text)
        best, best_score = None, self.text_similarity
        for index, item in enumerate(self._open):
            if index in taken or item.first.item != "text" or not _overlap(item.last_box, reading.box):
                continue
            score = max(fuzz.ratio(key, known) for known in item.keys)
            if score >= best_score:
                best, best_score = index, score
        return best

    def _item(self, item: _Open) -> ScreenItem:
        assert self._stream is not None
        best = item.best
        payload_class, host = classify(best.text) if best.item == "code" else (None, None)
        return ScreenItem(run_id=self._stream[0], stream=self._stream[1], item=best.item, text=best.text,
                          start_at=item.start_at,
                          end_at=item.last_seen + timedelta(seconds=item.last_interval_s),
                          confidence=best.confidence, box=best.box, frame=item.best_frame,
                          reader=best.reader or "unknown", symbology=best.symbology, payload_class=payload_class,
                          host=host)


def normalise(text: str) -> str:
    """Text as compared between frames: NFKC (full-width letters and digits become ASCII), case-folded,
    without spaces (OCR joins and splits words at random)."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def _start(reading: Reading, frame: CapturedFrame) -> _Open:
    key = normalise(reading.text)
    return _Open(first=reading, start_at=frame.at, best=reading, best_frame=frame.path, last_box=reading.box,
                 last_seen=frame.at, last_interval_s=frame.interval_s, keys=(key, key, key))


def _extend(item: _Open, reading: Reading, frame: CapturedFrame) -> None:
    item.missed = 0
    item.last_seen, item.last_interval_s, item.last_box = frame.at, frame.interval_s, reading.box
    key = normalise(reading.text)
    if reading.confidence > item.best.confidence:
        item.best, item.best_frame = reading, frame.path
        item.keys = (item.keys[0], key, key)
    else:
        item.keys = (item.keys[0], item.keys[1], key)


def _overlap(a: Box, b: Box) -> bool:
    """Whether two boxes share any pixel."""
    return (a.left < b.left + b.width and b.left < a.left + a.width
            and a.top < b.top + b.height and b.top < a.top + a.height)
