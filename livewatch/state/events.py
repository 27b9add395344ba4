"""Reading the registered events (the database's event registry; ``Database.sync_events`` writes it)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from sqlalchemy import Engine, select

from livewatch.state import tables
from livewatch.state.event_records import EventRecord, registered_events


class EventRegistry(Protocol):
    """The registered events, as the schedules last wrote them (read-only: ``Database.sync_events`` writes)."""

    def registered(self) -> list[EventRecord]: ...
    def event_ids(self) -> set[str]: ...
    def registration(self, event_id: str) -> dict[str, Any]: ...


class EventStore:
    """The events table, read through SQLAlchemy Core (an :class:`EventRegistry`). The facts a check or a
    report reads about an event (its runs, gaps, transcript) are
    :class:`~livewatch.state.event_records.EventRecordStore`'s."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def registered(self) -> list[EventRecord]:
        """Events not removed from the schedules, by registered start."""
        with self.engine.connect() as conn:
            return registered_events(conn)

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
