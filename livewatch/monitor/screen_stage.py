"""The screen stage, frame by frame: what one captured frame adds to what its stream's screen showed.

A stream's frames come in time order (the work queue's lanes see to it). Each is decoded; the change
detector says whether the picture changed since the last frame read; only then do the readers run (a
talking head for an hour is read once, not 3,600 times). The stream's appearance tracker turns readings
into appearances; the store gets the new ones, the longer ones and the closed ones. Beside the frames the
capture's ffmpeg writes its picture metadata (``blackdetect``/``freezedetect``), read here as it grows.

Frames are deleted once read unless ``keep_frames = "all"``, except those kept as evidence: the frame an
item was read best in (the report shows it). A frame that is evidence only of an item still on screen is
deleted when a better one replaces it.
"""

from __future__ import annotations

import inspect
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz

from livewatch.capture.frames import metadata_name
from livewatch.errors import ScreenError
from livewatch.pipeline.screen import CapturedFrame, PictureSpell, ScreenItem
from livewatch.screen.appearances import AppearanceTracker
from livewatch.screen.base import Reading, ScreenReader, load_image, read_frame, screen_readers
from livewatch.screen.change import ChangeDetector
from livewatch.screen.memory import StreamMemory, memory_json, memory_of_json, reference_array, reference_of
from livewatch.screen.picture import PictureMetadataFile
from livewatch.settings import ScreenSettings
from livewatch.state import DataDir
from livewatch.state.screen import ScreenLog

log = logging.getLogger(__name__)

#: The shortest black and frozen spells ffmpeg is asked to report (:func:`picture_filters`; the rules decide
#: which are long enough to matter). The parser needs the same black minimum as the filter.
BLACK_MIN_S = FROZEN_MIN_S = 2.0
#: The frame's number at the end of its file name: its output time in frame intervals (ffmpeg -frame_pts 1).
_FRAME_NUMBER = re.compile(r"(\d+)$")


def build_readers(settings: ScreenSettings) -> list[ScreenReader]:
    """The configured readers, built once (a reader whose constructor takes ``min_score``, OCR's, gets
    ``ocr_min_confidence``). An unknown name fails here, at start, naming the installed readers."""
    readers = []
    for name in settings.readers:
        cls = screen_readers.get(name)
        if "min_score" in inspect.signature(cls).parameters:
            readers.append(cls(min_score=settings.ocr_min_confidence))  # type: ignore[call-arg]
        else:
            readers.append(cls())
    return readers


def frame_offset(frame: CapturedFrame) -> float | None:
    """Seconds from the start of its connection's output to the frame, from the number its file ends in."""
    found = _FRAME_NUMBER.search(frame.path.stem)
    return None if found is None else int(found.group(1)) * frame.interval_s


def picture_file(folder: Path, stream: int, connection: int | None) -> Path:
    """The picture metadata ffmpeg writes beside a connection's frames (docs/data-directory.md)."""
    return folder / metadata_name(stream, connection or 0)


@dataclass(frozen=True)
class FrameOutcome:
    """What one frame changed: whether the readers ran, appearances new to the store, spells new or closed."""

    read: bool
    new_items: int
    spells: int

    @property
    def news(self) -> bool:
        """Something a check should see now."""
        return bool(self.new_items or self.spells)


@dataclass
class StreamScreen:
    """What the stage keeps of one stream between its frames (only the lane's holder touches it)."""

    event_id: str
    run_id: int
    stream: int
    #: Where its frames are, and ffmpeg's picture metadata beside them.
    folder: Path
    change: ChangeDetector = field(default_factory=ChangeDetector)
    tracker: AppearanceTracker = field(default_factory=AppearanceTracker)
    #: Frames kept as the evidence of items still on screen (a better frame may replace them).
    provisional: set[Path] = field(default_factory=set)
    #: The items still on screen as last stored, each with the text it was first stored under.
    stored: list[tuple[ScreenItem, str]] = field(default_factory=list)
    #: The connection of the last frame read (a new one may show another picture: it is read at once).
    connection: int | None = None
    #: Connection → the wall time of its output's time zero, from its frames.
    origins: dict[int | None, datetime] = field(default_factory=dict)
    pictures: dict[Path, PictureMetadataFile] = field(default_factory=dict)
    #: Spells by (problem, start), as last stored.
    spells: dict[tuple[str, datetime], PictureSpell] = field(default_factory=dict)
    #: The costly readers' last readings and when they were taken; whether the picture changed since.
    costly_readings: list[Reading] = field(default_factory=list)
    costly_at: datetime | None = None
    costly_due: bool = False


class ScreenStage:
    """Frames → the screen store, for every stream (one :class:`StreamScreen` each)."""

    def __init__(self, store: ScreenLog, data: DataDir, readers: Sequence[ScreenReader],
                 *, keep_frames: Literal["evidence", "all"] = "evidence", costly_interval_s: float = 0.0) -> None:
        self.store, self.data, self.readers, self.keep_frames = store, data, list(readers), keep_frames
        self.cheap = [r for r in self.readers if not r.costly]
        self.costly = [r for r in self.readers if r.costly]
        self.costly_interval = timedelta(seconds=costly_interval_s)
        self._lock = threading.Lock()
        self._streams: dict[tuple[int, int], StreamScreen] = {}

    def streams(self) -> list[tuple[str, int, int]]:
        """(event id, run id, stream) of every stream with frames read and not finished."""
        with self._lock:
            return [(s.event_id, s.run_id, s.stream) for s in self._streams.values()]

    def _stream(self, frame: CapturedFrame) -> StreamScreen:
        key = (frame.run_id, frame.stream)
        with self._lock:
            state = self._streams.get(key)
        if state is not None:
            return state
        state = self._loaded(frame.run_id, frame.stream) or StreamScreen(frame.event_id, frame.run_id, frame.stream,
                                                                       frame.path.parent)
        with self._lock:
            return self._streams.setdefault(key, state)

    def _loaded(self, run_id: int, stream: int) -> StreamScreen | None:
        """The stream as its last reader left it (this process before a restart, another worker), from the
        store; None when nothing usable was kept, or the stream was finished."""
        kept = self.store.lane_memory(run_id, stream)
        if kept is None or kept.finished:
            return None
        try:
            memory = memory_of_json(kept.memory_json)
        except ScreenError as err:  # the stream starts afresh (what is on screen becomes a new appearance)
            log.warning("run %s stream %s: the screen memory kept is not usable (%s); starting afresh",
                        run_id, stream, err)
            return None
        state = stream_of_memory(StreamScreen(kept.event_id, run_id, stream, kept.folder), memory)
        # Its picture metadata is read again from the start: the spells stored already are not news.
        state.spells = {(spell.problem, spell.start_at): spell for spell in self.store.spells(run_id)
                        if spell.stream == stream}
        return state

    def forget(self, run_id: int, stream: int) -> None:
        """Drop the stream's state from this process (its memory stays in the store): another process may
        read its next frames, and this one then loads what that one left."""
        with self._lock:
            self._streams.pop((run_id, stream), None)

    def read(self, frame: CapturedFrame) -> FrameOutcome:
        """Read one frame of its stream (frames of a stream in time order). Raises a LivewatchError
        (``ScreenError``) naming the file when the frame cannot be decoded; the stream goes on without it.
        A frame no later than the last one read (read before its reader was lost, then queued again) is
        passed over: it was read once."""
        state = self._stream(frame)
        last_at = state.tracker.last_at
        if last_at is not None and frame.at <= last_at:
            log.info("run %s stream %s: frame %s was read already; passed over", frame.run_id, frame.stream,
                     frame.path.name)
            return FrameOutcome(False, 0, 0)
        image = load_image(frame.path)
        if frame.connection != state.connection:
            state.change.reset()
            state.connection = frame.connection
        readings = self._readings(state, frame, state.change.changed(image), image)
        closed = state.tracker.see(frame, readings)
        still = state.tracker.open_items()
        new_items = self._record(state, closed, still)
        stale = self._keep_evidence(state, frame.path, closed, still)
        offset = frame_offset(frame)
        if offset is not None:
            state.origins.setdefault(frame.connection, frame.at - timedelta(seconds=offset))
        spells = self._read_pictures(state, frame.connection, offset)
        # Kept before a frame is deleted: a reader lost in between leaves the frame for the next to read.
        if not self.store.save_lane_memory(state.event_id, state.run_id, state.stream, state.folder,
                                           memory_json(memory_of_stream(state)), frame.at):
            log.warning("run %s stream %s: another reader has read past frame %s (this one lost its lane "
                        "unawares); its memory and frames are left to that reader", frame.run_id, frame.stream,
                        frame.path.name)
            self.forget(frame.run_id, frame.stream)
            return FrameOutcome(readings is not None, new_items, spells)
        for path in stale:
            self._remove(path)
        return FrameOutcome(readings is not None, new_items, spells)

    def _readings(self, state: StreamScreen, frame: CapturedFrame, changed: bool,
                  image: NDArray[np.uint8]) -> list[Reading] | None:
        """What the readers find in a frame, None when it shows what the last frame read showed. The cheap
        readers (codes) read every changed frame. A costly one (OCR) reads a changed picture at most once per
        interval: within it, the costly readings of the last read stand, and the change is read when the
        interval is over (on a still picture too), so a picture that changes all the time costs one OCR read
        per interval and a slide that stays is read within one interval of its appearing."""
        state.costly_due = state.costly_due or changed
        costly_now = bool(self.costly) and state.costly_due and (
            state.costly_at is None or frame.at - state.costly_at >= self.costly_interval)
        if not changed and not costly_now:
            return None
        found = read_frame(self.cheap, image)
        if costly_now:
            state.costly_readings = read_frame(self.costly, image)
            state.costly_at, state.costly_due = frame.at, False
        return found + state.costly_readings

    def finish(self, run_id: int, stream: int) -> bool:
        """The stream's capture is over and its frames read: close what was still on screen, read the last
        picture metadata, mark the stream finished in the store, and forget it. False when there was nothing
        to finish (no frame read, or finished already)."""
        with self._lock:
            state = self._streams.pop((run_id, stream), None)
        if state is None:
            state = self._loaded(run_id, stream)
        if state is None:
            return False
        closed = state.tracker.flush()
        self._record(state, closed, [])
        for path in self._keep_evidence(state, None, closed, []):
            self._remove(path)
        for connection in list(state.origins):
            self._read_pictures(state, connection)
        return self.store.finish_lane(state.event_id, run_id, stream, state.folder)

    def _record(self, state: StreamScreen, closed: Sequence[ScreenItem], still: Sequence[ScreenItem]) -> int:
        """Store the stream's closed and open items under the keys they were first stored with."""
        batch = [*closed, *still]
        if not batch:
            state.stored = []
            return 0
        keys = stored_keys(state.stored, batch)
        state.stored = list(zip(still, keys[len(closed):], strict=True))
        return self.store.record_items(batch, keys=keys)

    def _keep_evidence(self, state: StreamScreen, path: Path | None, closed: Sequence[ScreenItem],
                       still: Sequence[ScreenItem]) -> list[Path]:
        """The frames to delete now: the one just read unless it is evidence, and those no longer evidence."""
        if self.keep_frames == "all":
            return []
        permanent = {item.frame for item in closed}
        wanted = {item.frame for item in still}
        stale = sorted(state.provisional - wanted - permanent)
        state.provisional = wanted - permanent
        if path is not None and path not in wanted and path not in permanent:
            stale.append(path)
        return stale

    def _remove(self, path: Path) -> None:
        """Delete a frame that was read, only ever inside the data directory's event folders (a queued
        frame's path is the capture's, but the queue is a table others can write)."""
        events = (self.data.root / "events").resolve()
        if not path.resolve().is_relative_to(events):
            log.warning("not deleting %s: it is not inside %s", path, events)
            return
        try:
            path.unlink(missing_ok=True)
        except OSError as err:  # a frame that cannot be deleted costs disk space, nothing else
            log.warning("cannot delete frame %s: %s", path, err)

    def _read_pictures(self, state: StreamScreen, connection: int | None, now_s: float | None = None) -> int:
        """Store the spells begun or ended in the connection's picture metadata since the last read; how
        many. ``now_s``: the connection's output clock now (the frame just read)."""
        origin = state.origins.get(connection)
        path = picture_file(state.folder, state.stream, connection)
        if origin is None or path.is_symlink():
            return 0
        follower = state.pictures.setdefault(path, PictureMetadataFile(path, black_min_s=BLACK_MIN_S))
        changed = []
        for found in follower.poll(now_s):
            spell = found.on_clock(state.run_id, state.stream, origin)
            key = (spell.problem, spell.start_at)
            known = state.spells.get(key)
            if known is not None and known.end_at is not None and spell.end_at is None:
                continue  # read again from the start (the stream changed hands): stored closed already
            if known != spell:
                state.spells[key] = spell
                changed.append(spell)
        if changed:
            self.store.record_spells(changed)
        return len(changed)


def memory_of_stream(state: StreamScreen) -> StreamMemory:
    """What the stream's reader knows now, for the store."""
    return StreamMemory(state.tracker.memory(), reference_of(state.change.reference),
                        tuple(key for _item, key in state.stored), state.connection, tuple(state.origins.items()),
                        tuple(sorted(state.provisional)), tuple(state.costly_readings), state.costly_at,
                        state.costly_due)


def stream_of_memory(state: StreamScreen, memory: StreamMemory) -> StreamScreen:
    """``state`` (fresh) continuing where ``memory`` left off. Picture metadata is read again from its start
    (the spells found are stored once whoever reads them)."""
    state.tracker.restore(state.run_id, state.stream, memory.tracker)
    state.change.reference = reference_array(memory.reference)
    still = state.tracker.open_items()
    keys = memory.stored_keys if len(memory.stored_keys) == len(still) else tuple(item.text for item in still)
    state.stored = list(zip(still, keys, strict=True))
    state.connection, state.origins = memory.connection, dict(memory.origins)
    state.provisional = set(memory.provisional)
    state.costly_readings, state.costly_at = list(memory.costly_readings), memory.costly_at
    state.costly_due = memory.costly_due
    return state


def stored_keys(stored: Sequence[tuple[ScreenItem, str]], batch: Sequence[ScreenItem]) -> list[str]:
    """For each item of ``batch``, the text it was first stored under: that of the stored item it continues
    (same kind and start; the same text, or else the most similar one), or its own text when it is new."""
    left = list(stored)
    keys = []
    for item in batch:
        same = [entry for entry in left if entry[0].item == item.item and entry[0].start_at == item.start_at]
        if not same:
            keys.append(item.text)
            continue
        match = next((entry for entry in same if entry[0].text == item.text), None)
        if match is None:
            match = max(same, key=lambda entry: fuzz.ratio(entry[0].text, item.text))
        left.remove(match)
        keys.append(match[1])
    return keys
