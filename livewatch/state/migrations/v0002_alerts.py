"""Alerts: every alert raised once (``alert_sources``) and a durable outbox of deliveries per target."""

from __future__ import annotations

from sqlalchemy import Connection, text

STATEMENTS = (
    """CREATE TABLE alert_sources (
        key TEXT PRIMARY KEY NOT NULL,
        event_id TEXT,
        kind TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE alert_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        target TEXT NOT NULL,
        event_id TEXT,
        group_key TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        category TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        count INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        window_start TEXT NOT NULL,
        created_at TEXT NOT NULL,
        due_at TEXT NOT NULL,
        sent_at TEXT,
        last_error TEXT,
        CONSTRAINT uq_alert_outbox_key_target UNIQUE (key, target)
    )""",
    "CREATE INDEX ix_alert_outbox_due ON alert_outbox (target, status, due_at)",
    "CREATE INDEX ix_alert_outbox_group ON alert_outbox (group_key, target)",
)


def upgrade(connection: Connection) -> None:
    for statement in STATEMENTS:
        connection.execute(text(statement))
