"""Initial schema: events, runs, connections, segments, gaps, transcripts, findings, work queue.

Revision ids are the schema versions livewatch counted in SQLite's ``user_version`` before Alembic, so a
database migrated by an older livewatch is stamped at its version and continues from there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text, nullable=nullable)


def _int(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.Integer, nullable=nullable)


def _real(name: str) -> sa.Column[float]:
    # REAL on SQLite, as the user_version migrations declared it; double precision on PostgreSQL.
    return sa.Column(name, sa.Float().with_variant(sa.REAL(), "sqlite"))


def upgrade() -> None:
    # Times are ISO 8601 text in UTC on every back-end (fixed width, so text order is time order).
    # sqlite_autoincrement keeps the schema the user_version migrations made: ids are never reused.
    auto = {"sqlite_autoincrement": True}
    op.create_table(
        "events",
        sa.Column("id", sa.Text, primary_key=True, nullable=False),
        _text("title"), _text("kind"), _text("timezone"), _text("registered_start"), _text("registered_end"),
        _text("source_file"), _text("source_sha256"), _text("registration_json"), _text("updated_at"),
        _text("removed_at", nullable=True),
    )
    op.create_table(
        "runs", _id(),
        sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False),
        _text("status"), _text("registered_start"), _text("registered_end"), _text("started_at"),
        _text("on_air_at", nullable=True), _text("off_air_at", nullable=True), _text("ended_at", nullable=True),
        _text("updated_at"), _text("stop_reason", nullable=True), _text("error", nullable=True),
        **auto,
    )
    op.create_index("ix_runs_event", "runs", ["event_id"])
    op.create_table(
        "connections", _id(),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        _int("stream"), _int("session"), _text("started_at"), _text("ended_at", nullable=True),
        _int("pid", nullable=True), _text("media_url"), _int("first_seq"), _text("wall_base"),
        _int("exit_code", nullable=True), _text("end_reason", nullable=True), _text("stderr_tail", nullable=True),
        **auto,
    )
    op.create_table(
        "segments", _id(),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        _int("stream"),
        sa.Column("connection_id", sa.Integer, sa.ForeignKey("connections.id")),
        _text("kind"), _int("seq"), _text("path"), _text("start_at"), _text("end_at"), _int("bytes"),
        _text("status"), _text("note", nullable=True),
        sa.UniqueConstraint("run_id", "stream", "kind", "seq", name="uq_segments_run_stream_kind_seq"),
        **auto,
    )
    op.create_table(
        "gaps", _id(),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        _int("stream"), _text("start_at"), _text("end_at", nullable=True), _text("cause"),
        **auto,
    )
    op.create_table(
        "transcripts", _id(),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        _int("stream"),
        sa.Column("segment_id", sa.Integer, sa.ForeignKey("segments.id")),
        _text("start_at"), _text("end_at"), _text("text"), _text("text_check"), _text("language", nullable=True),
        _real("avg_logprob"), _real("no_speech_prob"), _real("compression_ratio"),
        _text("flags"), _text("words_json"), _text("backend"), _text("model"),
        **auto,
    )
    op.create_table(
        "transcription_progress",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True, autoincrement=False),
        sa.Column("stream", sa.Integer, primary_key=True, autoincrement=False),
        _int("last_seq"), _text("committed_until"), _int("flushed"),
    )
    op.create_index("ix_transcripts_run_start", "transcripts", ["run_id", "start_at"])
    op.create_table(
        "findings",
        sa.Column("id", sa.Text, primary_key=True, nullable=False),
        sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        _text("rule"), _text("pack"), _text("category"), _text("severity"), _text("status"), _text("start_at"),
        _text("end_at"), _real("offset_s"), _text("evidence"), _text("matched"),
        _text("details_json"), _text("created_at"),
    )
    op.create_index("ix_findings_event", "findings", ["event_id", "start_at"])
    op.create_table(
        "work_queue", _id(),
        _text("queue"), _text("item_key"), _text("payload_json"), _text("status"), _int("attempts"),
        _text("enqueued_at"), _text("claimed_at", nullable=True), _text("finished_at", nullable=True),
        _text("error", nullable=True),
        sa.UniqueConstraint("queue", "item_key", name="uq_work_queue_item"),
        **auto,
    )
    op.create_index("ix_work_queue_pending", "work_queue", ["queue", "status", "id"])


def downgrade() -> None:
    raise NotImplementedError("livewatch migrates forward only; restore the backup taken before migrating")
