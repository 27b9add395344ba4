"""What a stream's screen stage remembers between frames (issue 20): its open appearances, change detector and
costly readers' last read, so the next holder of the stream's screen lane (another worker, a restarted
monitor) continues them; and whether the stream's screen was finished."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "screen_lanes",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("stream", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("memory_json", sa.Text, nullable=False),
        sa.Column("frame_at", sa.Text),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("finished_at", sa.Text),
    )


def downgrade() -> None:
    raise NotImplementedError("livewatch migrates forward only; restore the backup taken before migrating")
