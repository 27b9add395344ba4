"""What the screen showed: appearances of codes and text lines (``screen_items``) and spells of black or
frozen picture (``picture_spells``), as the screen stage found them.

An appearance is written when it is first seen and its end moved on while it stays on screen, so a live
check sees a code that is still shown. Its start never changes, so the row (and a finding made from it,
whose id hashes its time) keeps its identity while it grows. Portable SQLAlchemy Core only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Engine, Row, select

from livewatch.pipeline.screen import Box, PayloadClass, PictureProblem, PictureSpell, ScreenItem, ScreenKind
from livewatch.state import tables
from livewatch.state.database import write


@dataclass(frozen=True)
class ScreenLaneMemory:
    """One stream's screen stage as last saved (``memory_json``: livewatch/screen/memory.py's format)."""

    event_id: str
    run_id: int
    stream: int
    folder: Path
    memory_json: str
    finished: bool


class ScreenLog(Protocol):
    """Where the screen stage keeps what it read (``session.screen``)."""

    def record_items(self, items: Sequence[ScreenItem], *, keys: Sequence[str] | None = None) -> int:
        """Store appearances: one not stored yet (same run, stream, kind, start and text) is added; one
        stored already gets the later end and, from a write at least as confident, its evidence (text, frame,
        box, confidence: the tracker keeps the reading it read best, and OCR's best reading of a line may
        differ from its first). ``keys`` gives, item by item, the text it was first stored with (default:
        its own text). Returns how many were new."""
        ...

    def items(self, run_id: int) -> list[ScreenItem]:
        """A run's appearances, by start time, then stream."""
        ...

    def record_spells(self, spells: Sequence[PictureSpell]) -> None:
        """Store spells: one not stored yet (same run, stream, problem and start) is added, one stored
        already gets its end (a spell that was open is closed)."""
        ...

    def spells(self, run_id: int) -> list[PictureSpell]:
        """A run's picture spells, by start time, then stream."""
        ...

    def lane_memory(self, run_id: int, stream: int) -> ScreenLaneMemory | None:
        """The stream's screen stage as last saved, or None."""
        ...

    def save_lane_memory(self, event_id: str, run_id: int, stream: int, folder: Path, memory_json: str,
                         frame_at: datetime) -> bool:
        """Keep the stream's screen stage after its frame at ``frame_at`` (replacing what was kept); False
        (nothing saved) when what is kept was saved after that frame or a later one (by another reader)."""
        ...

    def finish_lane(self, event_id: str, run_id: int, stream: int, folder: Path) -> bool:
        """Mark the stream's screen finished; False when it was already."""
        ...

    def unfinished_lanes(self) -> list[tuple[str, int, int]]:
        """(event id, run id, stream) of every stream with frames read and not finished."""
        ...


class ScreenStore:
    """The screen_items and picture_spells tables through SQLAlchemy Core."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record_items(self, items: Sequence[ScreenItem], *, keys: Sequence[str] | None = None) -> int:
        texts = [item.text for item in items] if keys is None else list(keys)
        if len(texts) != len(items):
            raise ValueError("record_items takes one key per item")
        added = 0
        with write(self.engine) as conn:
            for item, key in zip(items, texts, strict=True):
                added += _record_item(conn, item, key)
        return added

    def items(self, run_id: int) -> list[ScreenItem]:
        t = tables.screen_items
        with self.engine.connect() as conn:
            return [item_of_row(row) for row in conn.execute(
                select(t).where(t.c.run_id == run_id).order_by(t.c.start_at, t.c.stream, t.c.id))]

    def record_spells(self, spells: Sequence[PictureSpell]) -> None:
        t = tables.picture_spells
        with write(self.engine) as conn:
            for spell in spells:
                where = (t.c.run_id == spell.run_id, t.c.stream == spell.stream, t.c.problem == spell.problem,
                         t.c.start_at == spell.start_at)
                stored = conn.execute(select(t.c.id, t.c.end_at).where(*where)).first()
                if stored is None:
                    conn.execute(t.insert().values(run_id=spell.run_id, stream=spell.stream, problem=spell.problem,
                                                   start_at=spell.start_at, end_at=spell.end_at))
                elif spell.end_at is not None and stored.end_at != spell.end_at:
                    conn.execute(t.update().where(t.c.id == stored.id).values(end_at=spell.end_at))

    def spells(self, run_id: int) -> list[PictureSpell]:
        t = tables.picture_spells
        with self.engine.connect() as conn:
            return [spell_of_row(row) for row in conn.execute(
                select(t).where(t.c.run_id == run_id).order_by(t.c.start_at, t.c.stream, t.c.id))]


    def lane_memory(self, run_id: int, stream: int) -> ScreenLaneMemory | None:
        t = tables.screen_lanes
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.run_id == run_id, t.c.stream == stream)).first()
        if row is None:
            return None
        return ScreenLaneMemory(row.event_id, row.run_id, row.stream, Path(row.folder), row.memory_json,
                                row.finished_at is not None)

    def save_lane_memory(self, event_id: str, run_id: int, stream: int, folder: Path, memory_json: str,
                         frame_at: datetime) -> bool:
        t = tables.screen_lanes
        now = datetime.now(UTC)
        with write(self.engine) as conn:
            row = conn.execute(select(t.c.frame_at)
                               .where(t.c.run_id == run_id, t.c.stream == stream).with_for_update()).first()
            if row is None:
                conn.execute(t.insert().values(run_id=run_id, stream=stream, event_id=event_id, folder=str(folder),
                                               memory_json=memory_json, frame_at=frame_at, updated_at=now))
                return True
            if row.frame_at is not None and row.frame_at >= frame_at:
                return False
            conn.execute(t.update().where(t.c.run_id == run_id, t.c.stream == stream)
                         .values(memory_json=memory_json, frame_at=frame_at, updated_at=now))
            return True

    def unfinished_lanes(self) -> list[tuple[str, int, int]]:
        t = tables.screen_lanes
        with self.engine.connect() as conn:
            return [(row.event_id, row.run_id, row.stream) for row in conn.execute(
                select(t.c.event_id, t.c.run_id, t.c.stream).where(t.c.finished_at.is_(None))
                .order_by(t.c.run_id, t.c.stream))]

    def finish_lane(self, event_id: str, run_id: int, stream: int, folder: Path) -> bool:
        t = tables.screen_lanes
        now = datetime.now(UTC)
        with write(self.engine) as conn:
            row = conn.execute(select(t.c.finished_at).where(t.c.run_id == run_id, t.c.stream == stream)).first()
            if row is None:
                conn.execute(t.insert().values(run_id=run_id, stream=stream, event_id=event_id, folder=str(folder),
                                               memory_json="{}", updated_at=now, finished_at=now))
                return True
            if row.finished_at is not None:
                return False
            conn.execute(t.update().where(t.c.run_id == run_id, t.c.stream == stream)
                         .values(finished_at=now, updated_at=now))
            return True


def _record_item(conn: Connection, item: ScreenItem, key: str) -> int:
    t = tables.screen_items
    stored = conn.execute(select(t.c.id, t.c.end_at, t.c.confidence).where(
        t.c.run_id == item.run_id, t.c.stream == item.stream, t.c.item == item.item, t.c.first_text == key,
        t.c.start_at == item.start_at).limit(1)).first()
    if stored is None:
        conn.execute(t.insert().values(**_row_of(item), first_text=key))
        return 1
    values: dict[str, Any] = {}
    if item.end_at > stored.end_at:
        values["end_at"] = item.end_at
    if item.confidence >= stored.confidence and item.end_at >= stored.end_at:
        values.update(text=item.text, confidence=item.confidence, box_json=_box_json(item.box),
                      frame=str(item.frame))
    if values:
        conn.execute(t.update().where(t.c.id == stored.id).values(**values))
    return 0


def _box_json(box: Box) -> str:
    return json.dumps({"left": box.left, "top": box.top, "width": box.width, "height": box.height})


def _row_of(item: ScreenItem) -> dict[str, Any]:
    return {"run_id": item.run_id, "stream": item.stream, "item": item.item, "text": item.text,
            "start_at": item.start_at, "end_at": item.end_at, "confidence": item.confidence,
            "box_json": _box_json(item.box), "frame": str(item.frame), "reader": item.reader,
            "symbology": item.symbology, "payload_class": item.payload_class, "host": item.host}


def item_of_row(row: Row[Any]) -> ScreenItem:
    """A stored screen_items row as the appearance it was written from."""
    box = json.loads(row.box_json)
    where = Box(int(box["left"]), int(box["top"]), int(box["width"]), int(box["height"]))
    return ScreenItem(row.run_id, row.stream, cast(ScreenKind, row.item), row.text, row.start_at, row.end_at,
                      float(row.confidence), where, Path(row.frame), row.reader, row.symbology,
                      cast(PayloadClass | None, row.payload_class), row.host)


def spell_of_row(row: Row[Any]) -> PictureSpell:
    """A stored picture_spells row as the spell it was written from."""
    return PictureSpell(row.run_id, row.stream, cast(PictureProblem, row.problem), row.start_at, row.end_at)
