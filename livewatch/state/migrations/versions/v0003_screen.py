"""What the screen shows (issue 18): items read on screen, black or frozen spells, and a finding's channel,
evidence frame and box."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screen_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("stream", sa.Integer, nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("first_text", sa.Text, nullable=False),
        sa.Column("start_at", sa.Text, nullable=False),
        sa.Column("end_at", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("box_json", sa.Text, nullable=False),
        sa.Column("frame", sa.Text, nullable=False),
        sa.Column("reader", sa.Text, nullable=False),
        sa.Column("symbology", sa.Text),
        sa.Column("payload_class", sa.Text),
        sa.Column("host", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_screen_items_run", "screen_items", ["run_id", "stream", "start_at"])
    op.create_table(
        "picture_spells",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("stream", sa.Integer, nullable=False),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("start_at", sa.Text, nullable=False),
        sa.Column("end_at", sa.Text),
        sa.UniqueConstraint("run_id", "stream", "problem", "start_at", name="uq_picture_spells_start"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("channel", sa.Text, nullable=False, server_default="speech"))
        batch.add_column(sa.Column("frame", sa.Text))
        batch.add_column(sa.Column("box_json", sa.Text))


def downgrade() -> None:
    raise NotImplementedError("livewatch migrates forward only; restore the backup taken before migrating")
