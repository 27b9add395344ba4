"""Distributed mode's scheduler (issue 20): the capture tasks sent, one per event and window, and which
scheduler is the active one."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "capture_dispatches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("window_start", sa.Text, nullable=False),
        sa.Column("window_end", sa.Text, nullable=False),
        sa.Column("arm_at", sa.Text, nullable=False),
        sa.Column("hard_stop", sa.Text, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("sent_at", sa.Text, nullable=False),
        sa.Column("sent_by", sa.Text, nullable=False),
        sa.Column("cancelled_at", sa.Text),
        sa.Column("cancel_reason", sa.Text),
        sa.UniqueConstraint("event_id", "window_start", "window_end", name="uq_capture_dispatches_window"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "scheduler_leader",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("since", sa.Text, nullable=False),
        sa.Column("backend_pid", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("livewatch migrates forward only; restore the backup taken before migrating")
