"""Reading the registered events (the database's event registry; ``Database.sync_events`` writes it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from livewatch.state import tables


@dataclass(frozen=True)
class RegisteredEvent:
    id: str
    registered_start: datetime
    registered_end: datetime


class EventStore:
    """The events table, read through SQLAlchemy Core."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def registered(self) -> list[RegisteredEvent]:
        """Events not removed from the schedules, by registered start."""
        e = tables.events
        with self.engine.connect() as conn:
            return [RegisteredEvent(row.id, row.registered_start, row.registered_end) for row in conn.execute(
                select(e.c.id, e.c.registered_start, e.c.registered_end).where(e.c.removed_at.is_(None))
                .order_by(e.c.registered_start))]

    def registration(self, event_id: str) -> dict[str, Any]:
        """The event's registration as stored (a JSON object); empty when the event is unknown."""
        e = tables.events
        with self.engine.connect() as conn:
            row = conn.execute(select(e.c.registration_json).where(e.c.id == event_id)).first()
        if row is None:
            return {}
        loaded = json.loads(row[0])
        return loaded if isinstance(loaded, dict) else {}
