"""What a stream's screen stage remembers between frames, as data that can be stored and loaded: the open
appearances, the change detector's reference hash, the costly readers' last read. The stage saves it after
every frame and loads it when a stream is taken up again (by another worker, or a restarted monitor), so a
code on screen for a minute stays one appearance whoever reads its frames (``livewatch/state/screen.py``
keeps it as JSON; only this module knows the format).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from livewatch.errors import ScreenError
from livewatch.pipeline.screen import Box, ScreenKind
from livewatch.screen.base import Reading

#: The format's version: a memory of another version is not loaded (the stream starts afresh, as before).
MEMORY_VERSION = 1


@dataclass(frozen=True)
class OpenAppearance:
    """An appearance still on screen, as the tracker keeps it."""

    first: Reading
    start_at: datetime
    best: Reading
    best_frame: Path
    last_box: Box
    last_seen: datetime
    last_interval_s: float
    keys: tuple[str, str, str]
    missed: int


@dataclass(frozen=True)
class TrackerMemory:
    """An appearance tracker's state: its open appearances and the last frame it saw."""

    open: tuple[OpenAppearance, ...]
    last_at: datetime | None
    last_interval_s: float


@dataclass(frozen=True)
class StreamMemory:
    """One stream's screen stage between two frames."""

    tracker: TrackerMemory
    #: The change detector's reference hash (shape (2, down, across), values -1/0/1), None before a read.
    reference: tuple[tuple[tuple[int, ...], ...], ...] | None
    #: The text each open appearance was first stored under, in the tracker's order of open items.
    stored_keys: tuple[str, ...]
    connection: int | None
    origins: tuple[tuple[int | None, datetime], ...]
    provisional: tuple[Path, ...]
    costly_readings: tuple[Reading, ...]
    costly_at: datetime | None
    costly_due: bool


def reference_of(hashed: NDArray[np.int8] | None) -> tuple[tuple[tuple[int, ...], ...], ...] | None:
    if hashed is None:
        return None
    return tuple(tuple(tuple(int(v) for v in row) for row in plane) for plane in hashed.tolist())


def reference_array(reference: tuple[tuple[tuple[int, ...], ...], ...] | None) -> NDArray[np.int8] | None:
    return None if reference is None else np.array(reference, dtype=np.int8)


def memory_json(memory: StreamMemory) -> str:
    """The memory as compact JSON."""
    tracker = memory.tracker
    return json.dumps({
        "v": MEMORY_VERSION,
        "open": [_open_json(item) for item in tracker.open],
        "last_at": _time(tracker.last_at), "last_interval_s": tracker.last_interval_s,
        "reference": None if memory.reference is None else _reference_text(memory.reference),
        "stored_keys": list(memory.stored_keys), "connection": memory.connection,
        "origins": [[connection, at.isoformat()] for connection, at in memory.origins],
        "provisional": [str(path) for path in memory.provisional],
        "costly_readings": [_reading_json(r) for r in memory.costly_readings],
        "costly_at": _time(memory.costly_at), "costly_due": memory.costly_due,
    }, ensure_ascii=False, separators=(",", ":"))


def memory_of_json(text: str) -> StreamMemory:
    """The memory :func:`memory_json` wrote; a :class:`ScreenError` naming what is wrong otherwise."""
    try:
        data = json.loads(text)
        if data.get("v") != MEMORY_VERSION:
            raise ScreenError(f"a stream's screen memory of version {data.get('v')!r}, not {MEMORY_VERSION}")
        tracker = TrackerMemory(tuple(_open_of(item) for item in data["open"]), _at(data["last_at"]),
                                float(data["last_interval_s"]))
        return StreamMemory(
            tracker, None if data["reference"] is None else _reference_of_text(data["reference"]),
            tuple(str(key) for key in data["stored_keys"]),
            None if data["connection"] is None else int(data["connection"]),
            tuple((None if c is None else int(c), datetime.fromisoformat(at)) for c, at in data["origins"]),
            tuple(Path(p) for p in data["provisional"]), tuple(_reading_of(r) for r in data["costly_readings"]),
            _at(data["costly_at"]), bool(data["costly_due"]))
    except ScreenError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ScreenError(f"a stream's screen memory that cannot be read: {err!r}") from None


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _at(text: str | None) -> datetime | None:
    if text is None:
        return None
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ScreenError(f"a time without a time zone in a stream's screen memory: {text}")
    return at


def _box_json(box: Box) -> list[int]:
    return [box.left, box.top, box.width, box.height]


def _box_of(data: list[int]) -> Box:
    left, top, width, height = (int(v) for v in data)
    return Box(left, top, width, height)


def _reading_json(reading: Reading) -> dict[str, Any]:
    return {"item": reading.item, "text": reading.text, "confidence": reading.confidence,
            "box": _box_json(reading.box), "symbology": reading.symbology, "reader": reading.reader}


def _reading_of(data: dict[str, Any]) -> Reading:
    item = str(data["item"])
    if item not in ("code", "text"):
        raise ScreenError(f"a reading of an unknown kind {item!r} in a stream's screen memory")
    return Reading(cast(ScreenKind, item), str(data["text"]), float(data["confidence"]), _box_of(data["box"]),
                   None if data["symbology"] is None else str(data["symbology"]), str(data["reader"]))


def _open_json(item: OpenAppearance) -> dict[str, Any]:
    return {"first": _reading_json(item.first), "start_at": item.start_at.isoformat(),
            "best": _reading_json(item.best), "best_frame": str(item.best_frame), "last_box": _box_json(item.last_box),
            "last_seen": item.last_seen.isoformat(), "last_interval_s": item.last_interval_s,
            "keys": list(item.keys), "missed": item.missed}


def _open_of(data: dict[str, Any]) -> OpenAppearance:
    first, best, last = (str(k) for k in data["keys"])
    return OpenAppearance(_reading_of(data["first"]), _required_at(data["start_at"]), _reading_of(data["best"]),
                          Path(data["best_frame"]), _box_of(data["last_box"]), _required_at(data["last_seen"]),
                          float(data["last_interval_s"]), (first, best, last), int(data["missed"]))


def _required_at(text: str) -> datetime:
    at = _at(text)
    if at is None:
        raise ScreenError("a time missing from an open appearance in a stream's screen memory")
    return at


def _reference_text(reference: tuple[tuple[tuple[int, ...], ...], ...]) -> list[str]:
    """Each row of each plane as a string of '-', '0', '+' (a 32x18 grid: 36 strings of 32)."""
    return ["".join("-0+"[v + 1] for v in row) for plane in reference for row in plane] + [str(len(reference[0]))]


def _reference_of_text(rows: list[str]) -> tuple[tuple[tuple[int, ...], ...], ...]:
    down = int(rows[-1])
    values = [tuple("-0+".index(c) - 1 for c in row) for row in rows[:-1]]
    if down <= 0 or len(values) != 2 * down:
        raise ScreenError("a change detector's reference of the wrong shape in a stream's screen memory")
    return (tuple(values[:down]), tuple(values[down:]))
