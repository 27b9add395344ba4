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

from rapidfuzz import fuzz

from livewatch.capture.frames import metadata_name
from livewatch.pipeline.screen import CapturedFrame, PictureSpell, ScreenItem
from livewatch.screen.appearances import AppearanceTracker
from livewatch.screen.base import Reading, ScreenReader, load_image, read_frame, screen_readers
from livewatch.screen.change import ChangeDetector
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


class ScreenStage:
    """Frames → the screen store, for every stream (one :class:`StreamScreen` each)."""

    def __init__(self, store: ScreenLog, data: DataDir, readers: Sequence[ScreenReader],
                 *, keep_frames: Literal["evidence", "all"] = "evidence") -> None:
        self.store, self.data, self.readers, self.keep_frames = store, data, list(readers), keep_frames
        self._lock = threading.Lock()
        self._streams: dict[tuple[int, int], StreamScreen] = {}

    def streams(self) -> list[tuple[str, int, int]]:
        """(event id, run id, stream) of every stream with frames read and not finished."""
        with self._lock:
            return [(s.event_id, s.run_id, s.stream) for s in self._streams.values()]

    def _stream(self, frame: CapturedFrame) -> StreamScreen:
        with self._lock:
            key = (frame.run_id, frame.stream)
            if key not in self._streams:
                self._streams[key] = StreamScreen(frame.event_id, frame.run_id, frame.stream, frame.path.parent)
            return self._streams[key]

    def read(self, frame: CapturedFrame) -> FrameOutcome:
        """Read one frame of its stream (frames of a stream in time order). Raises a LivewatchError
        (``ScreenError``) naming the file when the frame cannot be decoded; the stream goes on without it."""
        state = self._stream(frame)
        image = load_image(frame.path)
        if frame.connection != state.connection:
            state.change.reset()
            state.connection = frame.connection
        readings: list[Reading] | None = None
        if state.change.changed(image):
            readings = read_frame(self.readers, image)
        closed = state.tracker.see(frame, readings)
        still = state.tracker.open_items()
        new_items = self._record(state, closed, still)
        self._keep_evidence(state, frame.path, closed, still)
        offset = frame_offset(frame)
        if offset is not None:
            state.origins.setdefault(frame.connection, frame.at - timedelta(seconds=offset))
        spells = self._read_pictures(state, frame.connection, offset)
        return FrameOutcome(readings is not None, new_items, spells)

    def finish(self, run_id: int, stream: int) -> None:
        """The stream's capture is over and its frames read: close what was still on screen, read the last
        picture metadata, and forget the stream."""
        with self._lock:
            state = self._streams.pop((run_id, stream), None)
        if state is None:
            return
        closed = state.tracker.flush()
        self._record(state, closed, [])
        self._keep_evidence(state, None, closed, [])
        for connection in list(state.origins):
            self._read_pictures(state, connection)

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
                       still: Sequence[ScreenItem]) -> None:
        if self.keep_frames == "all":
            return
        permanent = {item.frame for item in closed}
        wanted = {item.frame for item in still}
        for stale in state.provisional - wanted - permanent:
            self._remove(stale)
        state.provisional = wanted - permanent
        if path is not None and path not in wanted and path not in permanent:
            self._remove(path)

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
            if state.spells.get(key) != spell:
                state.spells[key] = spell
                changed.append(spell)
        if changed:
            self.store.record_spells(changed)
        return len(changed)


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
