"""The database schema as it stands after the latest migration (queries use these tables).

The migrations in ``livewatch/state/migrations`` create it; ``tests/state/test_state.py`` checks that a migrated
database matches these definitions column for column. Times are stored as ISO 8601 text in UTC with an
explicit offset, and read back time-zone aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class AwareDateTime(TypeDecorator[datetime]):
    """A time-zone-aware datetime stored as ISO 8601 text in UTC; naive values are refused."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; attach a time zone")
        # Fixed width (always microseconds) so that text order is time order in SQL comparisons.
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.fromisoformat(value)


metadata = MetaData()

events = Table(
    "events", metadata,
    Column("id", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("registered_start", AwareDateTime, nullable=False),
    Column("registered_end", AwareDateTime, nullable=False),
    Column("source_file", Text, nullable=False),
    Column("source_sha256", Text, nullable=False),
    Column("registration_json", Text, nullable=False),
    Column("updated_at", AwareDateTime, nullable=False),
    Column("removed_at", AwareDateTime),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Text, ForeignKey("events.id"), nullable=False),
    Column("status", Text, nullable=False),
    Column("registered_start", AwareDateTime, nullable=False),
    Column("registered_end", AwareDateTime, nullable=False),
    Column("started_at", AwareDateTime, nullable=False),
    Column("on_air_at", AwareDateTime),
    Column("off_air_at", AwareDateTime),
    Column("ended_at", AwareDateTime),
    Column("updated_at", AwareDateTime, nullable=False),
    Column("stop_reason", Text),
    Column("error", Text),
)

connections = Table(
    "connections", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("stream", Integer, nullable=False),
    Column("session", Integer, nullable=False),
    Column("started_at", AwareDateTime, nullable=False),
    Column("ended_at", AwareDateTime),
    Column("pid", Integer),
    Column("media_url", Text, nullable=False),
    Column("first_seq", Integer, nullable=False),
    Column("wall_base", AwareDateTime, nullable=False),
    Column("exit_code", Integer),
    Column("end_reason", Text),
    Column("stderr_tail", Text),
)

segments = Table(
    "segments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("stream", Integer, nullable=False),
    Column("connection_id", Integer, ForeignKey("connections.id")),
    Column("kind", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("start_at", AwareDateTime, nullable=False),
    Column("end_at", AwareDateTime, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("note", Text),
    UniqueConstraint("run_id", "stream", "kind", "seq", name="uq_segments_run_stream_kind_seq"),
)

gaps = Table(
    "gaps", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("stream", Integer, nullable=False),
    Column("start_at", AwareDateTime, nullable=False),
    Column("end_at", AwareDateTime),
    Column("cause", Text, nullable=False),
)

transcripts = Table(
    "transcripts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("stream", Integer, nullable=False),
    Column("segment_id", Integer, ForeignKey("segments.id")),
    Column("start_at", AwareDateTime, nullable=False),
    Column("end_at", AwareDateTime, nullable=False),
    Column("text", Text, nullable=False),
    Column("text_check", Text, nullable=False),
    Column("language", Text),
    Column("avg_logprob", Float),
    Column("no_speech_prob", Float),
    Column("compression_ratio", Float),
    Column("flags", Text, nullable=False),
    Column("words_json", Text, nullable=False),
    Column("backend", Text, nullable=False),
    Column("model", Text, nullable=False),
)

transcription_progress = Table(
    "transcription_progress", metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("stream", Integer, primary_key=True),
    Column("last_seq", Integer, nullable=False),
    Column("committed_until", AwareDateTime, nullable=False),
    Column("flushed", Integer, nullable=False),
)

findings = Table(
    "findings", metadata,
    Column("id", Text, primary_key=True),
    Column("event_id", Text, ForeignKey("events.id"), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id")),
    Column("rule", Text, nullable=False),
    Column("pack", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("start_at", AwareDateTime, nullable=False),
    Column("end_at", AwareDateTime, nullable=False),
    Column("offset_s", Float),
    Column("evidence", Text, nullable=False),
    Column("matched", Text, nullable=False),
    Column("details_json", Text, nullable=False),
    Column("created_at", AwareDateTime, nullable=False),
    # Where the evidence comes from (speech, screen, ...); a screen finding's frame (relative to the event's
    # folder) and the box in it (JSON: left, top, width, height).
    Column("channel", Text, nullable=False, server_default="speech"),
    Column("frame", Text),
    Column("box_json", Text),
)

#: One appearance of a code or a line of text on screen (livewatch.pipeline.screen.ScreenItem).
screen_items = Table(
    "screen_items", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("stream", Integer, nullable=False),
    Column("item", Text, nullable=False),
    # The text as read best so far (it may change while the item stays on screen: OCR reads a line better
    # in a later frame), and as first read: the item's identity with its run, stream, kind and start.
    Column("text", Text, nullable=False),
    Column("first_text", Text, nullable=False),
    Column("start_at", AwareDateTime, nullable=False),
    Column("end_at", AwareDateTime, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("box_json", Text, nullable=False),
    Column("frame", Text, nullable=False),
    Column("reader", Text, nullable=False),
    Column("symbology", Text),
    Column("payload_class", Text),
    Column("host", Text),
)

#: A spell of black or frozen picture (livewatch.pipeline.screen.PictureSpell); end_at None while it lasts.
picture_spells = Table(
    "picture_spells", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("stream", Integer, nullable=False),
    Column("problem", Text, nullable=False),
    Column("start_at", AwareDateTime, nullable=False),
    Column("end_at", AwareDateTime),
    UniqueConstraint("run_id", "stream", "problem", "start_at", name="uq_picture_spells_start"),
)

#: What one stream's screen stage remembers between frames (livewatch/screen/memory.py, as JSON), saved after
#: each frame so whoever reads the stream's next one continues its appearances; ``finished_at`` once the
#: stream's screen was finished (what was on screen closed) after its run ended.
screen_lanes = Table(
    "screen_lanes", metadata,
    Column("run_id", Integer, ForeignKey("runs.id"), primary_key=True),
    Column("stream", Integer, primary_key=True),
    Column("event_id", Text, nullable=False),
    Column("folder", Text, nullable=False),
    Column("memory_json", Text, nullable=False),
    # The last frame read: a save from a reader that frame is not later than (a holder that lost its lane
    # without noticing, while another read on) is refused.
    Column("frame_at", AwareDateTime),
    Column("updated_at", AwareDateTime, nullable=False),
    Column("finished_at", AwareDateTime),
)

work_queue = Table(
    "work_queue", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue", Text, nullable=False),
    Column("item_key", Text, nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("enqueued_at", AwareDateTime, nullable=False),
    Column("claimed_at", AwareDateTime),
    Column("finished_at", AwareDateTime),
    Column("error", Text),
    UniqueConstraint("queue", "item_key", name="uq_work_queue_item"),
)

#: Every alert ever raised, by its idempotency key: a finding seen again on the next check is not new.
alert_sources = Table(
    "alert_sources", metadata,
    Column("key", Text, primary_key=True),
    Column("event_id", Text),
    Column("kind", Text, nullable=False),
    Column("created_at", AwareDateTime, nullable=False),
)

#: One row per alert and target; ``status`` is pending, sent or failed (given up after retries).
alert_outbox = Table(
    "alert_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("event_id", Text),
    Column("group_key", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("count", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("window_start", AwareDateTime, nullable=False),
    Column("created_at", AwareDateTime, nullable=False),
    Column("due_at", AwareDateTime, nullable=False),
    Column("sent_at", AwareDateTime),
    Column("last_error", Text),
    UniqueConstraint("key", "target", name="uq_alert_outbox_key_target"),
)

#: Each capture task ``livewatch scheduler`` sent, one per event and registered window (the dedupe key: a
#: standby that takes over never sends one twice). ``generation`` grows each time a cancelled window is sent
#: again; a capture task stops when its row is cancelled or its generation is no longer the one it started.
capture_dispatches = Table(
    "capture_dispatches", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Text, ForeignKey("events.id"), nullable=False),
    Column("window_start", AwareDateTime, nullable=False),
    Column("window_end", AwareDateTime, nullable=False),
    Column("arm_at", AwareDateTime, nullable=False),
    Column("hard_stop", AwareDateTime, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("sent_at", AwareDateTime, nullable=False),
    Column("sent_by", Text, nullable=False),
    Column("cancelled_at", AwareDateTime),
    Column("cancel_reason", Text),
    UniqueConstraint("event_id", "window_start", "window_end", name="uq_capture_dispatches_window"),
)

#: The active ``livewatch scheduler`` (one row, id 1), written when one takes the scheduler lock; it is the
#: active one only while the PostgreSQL backend ``backend_pid`` still holds that advisory lock.
scheduler_leader = Table(
    "scheduler_leader", metadata,
    Column("id", Integer, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("since", AwareDateTime, nullable=False),
    Column("backend_pid", Integer, nullable=False),
)
