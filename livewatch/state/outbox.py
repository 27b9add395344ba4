"""The durable alert outbox: one row per alert and target, kept in the state database until delivered.

An alert is recorded (``alert_sources``) and queued for its targets in one transaction, so a crash either
keeps all of it or none; a restarted monitor finds the rows still pending and delivers them. The same key is
never queued twice, which is what makes a finding seen again on the next check not a new alert.

Cooldown: when the same group (event and rule) fires again within a target's cooldown, the new alert is
folded into the pending row (its ``count`` grows) or, if that row has already gone out, into one follow-up
row due when the cooldown ends — so a burst is one alert plus at most one "N more" alert per window.

Row states: ``pending`` → ``sending`` (claimed by a delivery thread) → ``sent`` or back to ``pending`` with a
later ``due_at`` (retry), or ``failed`` (permanent refusal, or given up). A row left ``sending`` by a crash
is sent again after the restart; the unchanged idempotency key lets the receiver drop a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine, Row, func, select, update

from livewatch.pipeline.alerts import utc_text
from livewatch.state import tables
from livewatch.state.database import write

if TYPE_CHECKING:
    from livewatch.pipeline.alerts import Alert

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
#: How many folded alerts a row lists individually (its count keeps counting past this).
MAX_FOLDED = 20
box = tables.alert_outbox


@dataclass(frozen=True)
class OutboxRow:
    id: int
    key: str
    target: str
    event_id: str | None
    kind: str
    severity: str
    category: str
    payload: dict[str, Any]
    count: int
    status: str
    attempts: int
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None
    last_error: str | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> OutboxRow:
        return cls(row.id, row.key, row.target, row.event_id, row.kind, row.severity, row.category,
                   json.loads(row.payload_json), row._mapping["count"], row.status, row.attempts, row.created_at,
                   row.due_at, row.sent_at, row.last_error)


class Route(Protocol):
    """Where an alert goes: a target's name and its cooldown."""

    @property
    def target(self) -> str: ...
    @property
    def cooldown_s(self) -> float: ...


class AlertOutbox(Protocol):
    """The durable queue of alert deliveries (one row per alert and target)."""

    def known(self, key: str) -> bool: ...
    def add(self, alert: Alert, routes: Sequence[Route], now: datetime) -> dict[str, str] | None: ...
    def due(self, target: str, now: datetime, limit: int = 20) -> list[OutboxRow]: ...
    def next_due(self, target: str) -> datetime | None: ...
    def claim(self, row_id: int) -> OutboxRow | None: ...
    def sent(self, row_id: int, now: datetime) -> None: ...
    def retry(self, row_id: int, error: str, due_at: datetime) -> None: ...
    def failed(self, row_id: int, error: str) -> None: ...
    def release(self, row_id: int) -> None: ...
    def recover(self) -> int: ...
    def first_try_due(self, now: datetime, targets: Sequence[str]) -> bool: ...
    def rows(self, *, status: str | None = None, event_id: str | None = None,
             limit: int = 200) -> list[OutboxRow]: ...


class OutboxStore:
    """The outbox in the state database (SQLAlchemy Core, portable)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def known(self, key: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(tables.alert_sources.c.key)
                                .where(tables.alert_sources.c.key == key)).first() is not None

    def add(self, alert: Alert, routes: Sequence[Route], now: datetime) -> dict[str, str] | None:
        """Record ``alert`` and queue it for ``routes``. Returns, per target, ``queued``, ``folded`` or
        ``follow-up``; None when the key was recorded before (nothing changes then)."""
        sources = tables.alert_sources
        with write(self.engine) as conn:
            if conn.execute(select(sources.c.key).where(sources.c.key == alert.key)).first() is not None:
                return None
            conn.execute(sources.insert().values(key=alert.key, event_id=alert.event_id, kind=alert.kind,
                                                 created_at=now))
            outcome: dict[str, str] = {}
            for route in routes:
                last = conn.execute(select(box).where(box.c.group_key == alert.group, box.c.target == route.target)
                                    .order_by(box.c.id.desc()).limit(1)).first()
                window_open = (last is not None and route.cooldown_s > 0
                               and now - last.window_start < timedelta(seconds=route.cooldown_s))
                if last is not None and window_open and last.status == PENDING:
                    payload = _folded(json.loads(last.payload_json), alert, last._mapping["count"] + 1)
                    conn.execute(update(box).where(box.c.id == last.id).values(
                        count=last._mapping["count"] + 1, payload_json=_dump(payload)))
                    outcome[route.target] = "folded"
                elif last is not None and window_open:
                    payload = {**alert.payload(), "repeat": True, "repeat_of": last.key}
                    due = last.window_start + timedelta(seconds=route.cooldown_s)
                    conn.execute(box.insert().values(**_values(alert, route.target, payload, last.window_start,
                                                               now, due)))
                    outcome[route.target] = "follow-up"
                else:
                    conn.execute(box.insert().values(**_values(alert, route.target, alert.payload(), now, now,
                                                               now)))
                    outcome[route.target] = "queued"
            return outcome

    def due(self, target: str, now: datetime, limit: int = 20) -> list[OutboxRow]:
        query = (select(box).where(box.c.target == target, box.c.status == PENDING, box.c.due_at <= now)
                 .order_by(box.c.due_at, box.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [OutboxRow.from_row(row) for row in conn.execute(query)]

    def next_due(self, target: str) -> datetime | None:
        query = select(func.min(box.c.due_at)).where(box.c.target == target, box.c.status == PENDING)
        with self.engine.connect() as conn:
            value: datetime | None = conn.execute(query).scalar_one_or_none()  # min() keeps the column type
        return value

    def claim(self, row_id: int) -> OutboxRow | None:
        """Take a pending row for delivery (nothing is folded into it from now on)."""
        with write(self.engine) as conn:
            done = conn.execute(update(box).where(box.c.id == row_id, box.c.status == PENDING)
                                .values(status=SENDING, attempts=box.c.attempts + 1))
            if done.rowcount != 1:
                return None
            return OutboxRow.from_row(conn.execute(select(box).where(box.c.id == row_id)).one())

    def sent(self, row_id: int, now: datetime) -> None:
        self._set(row_id, status=SENT, sent_at=now, last_error=None)

    def retry(self, row_id: int, error: str, due_at: datetime) -> None:
        self._set(row_id, status=PENDING, due_at=due_at, last_error=error)

    def failed(self, row_id: int, error: str) -> None:
        self._set(row_id, status=FAILED, last_error=error)

    def release(self, row_id: int) -> None:
        """A claimed row whose attempt was abandoned or could not be recorded: pending again, due now."""
        with write(self.engine) as conn:
            conn.execute(update(box).where(box.c.id == row_id, box.c.status == SENDING).values(status=PENDING))

    def recover(self) -> int:
        """After a crash: rows left ``sending`` go back to ``pending`` (sent again, same key)."""
        with write(self.engine) as conn:
            return conn.execute(update(box).where(box.c.status == SENDING).values(status=PENDING)).rowcount

    def first_try_due(self, now: datetime, targets: Sequence[str]) -> bool:
        """Alerts for ``targets`` raised but not yet tried once (the one-shot monitor waits for these; rows
        of a target no longer configured would never be tried)."""
        query = select(box.c.id).where(box.c.status.in_((PENDING, SENDING)), box.c.attempts == 0,
                                       box.c.due_at <= now, box.c.target.in_(targets)).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def rows(self, *, status: str | None = None, event_id: str | None = None, limit: int = 200) -> list[OutboxRow]:
        query = select(box).order_by(box.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(box.c.status == status)
        if event_id is not None:
            query = query.where(box.c.event_id == event_id)
        with self.engine.connect() as conn:
            return [OutboxRow.from_row(row) for row in conn.execute(query)]

    def _set(self, row_id: int, **values: Any) -> None:
        with write(self.engine) as conn:
            conn.execute(update(box).where(box.c.id == row_id).values(**values))


def _values(alert: Alert, target: str, payload: dict[str, Any], window_start: datetime, now: datetime,
            due: datetime) -> dict[str, Any]:
    return {
        "key": alert.key, "target": target, "event_id": alert.event_id, "group_key": alert.group,
        "kind": alert.kind, "severity": alert.severity, "category": alert.category,
        "payload_json": _dump(payload), "count": 1, "status": PENDING, "attempts": 0,
        "window_start": window_start, "created_at": now, "due_at": due,
    }


def _folded(payload: dict[str, Any], alert: Alert, count: int) -> dict[str, Any]:
    folded = list(payload.get("folded", []))
    if len(folded) < MAX_FOLDED:
        folded.append({"idempotency_key": alert.key, "at": utc_text(alert.at), "matched": alert.matched,
                       "evidence": alert.evidence[:300], "finding_id": alert.finding_id})
    return {**payload, "count": count, "last_at": max(payload["last_at"], utc_text(alert.at)),
            "folded": folded}


def _dump(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)
