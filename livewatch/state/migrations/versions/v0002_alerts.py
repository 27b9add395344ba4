"""Alerts: every alert raised once (``alert_sources``) and a durable outbox of deliveries per target."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_sources",
        sa.Column("key", sa.Text, primary_key=True, nullable=False),
        sa.Column("event_id", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    required = ("key", "target", "group_key", "kind", "severity", "category", "payload_json")
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *(sa.Column(name, sa.Text, nullable=False) for name in required[:2]),
        sa.Column("event_id", sa.Text),
        *(sa.Column(name, sa.Text, nullable=False) for name in required[2:]),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("window_start", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("due_at", sa.Text, nullable=False),
        sa.Column("sent_at", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("key", "target", name="uq_alert_outbox_key_target"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_alert_outbox_due", "alert_outbox", ["target", "status", "due_at"])
    op.create_index("ix_alert_outbox_group", "alert_outbox", ["group_key", "target"])


def downgrade() -> None:
    raise NotImplementedError("livewatch migrates forward only; restore the backup taken before migrating")
