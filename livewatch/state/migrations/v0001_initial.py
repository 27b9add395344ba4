"""Initial schema: events, runs, connections, segments, gaps, transcripts, findings, work queue."""

from __future__ import annotations

from sqlalchemy import Connection, text

STATEMENTS = (
    """CREATE TABLE events (
        id TEXT PRIMARY KEY NOT NULL,
        title TEXT NOT NULL,
        kind TEXT NOT NULL,
        timezone TEXT NOT NULL,
        registered_start TEXT NOT NULL,
        registered_end TEXT NOT NULL,
        source_file TEXT NOT NULL,
        source_sha256 TEXT NOT NULL,
        registration_json TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        removed_at TEXT
    )""",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL REFERENCES events (id),
        status TEXT NOT NULL,
        registered_start TEXT NOT NULL,
        registered_end TEXT NOT NULL,
        started_at TEXT NOT NULL,
        on_air_at TEXT,
        off_air_at TEXT,
        ended_at TEXT,
        updated_at TEXT NOT NULL,
        stop_reason TEXT,
        error TEXT
    )""",
    "CREATE INDEX ix_runs_event ON runs (event_id)",
    """CREATE TABLE connections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        stream INTEGER NOT NULL,
        session INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        pid INTEGER,
        media_url TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        wall_base TEXT NOT NULL,
        exit_code INTEGER,
        end_reason TEXT,
        stderr_tail TEXT
    )""",
    """CREATE TABLE segments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        stream INTEGER NOT NULL,
        connection_id INTEGER REFERENCES connections (id),
        kind TEXT NOT NULL,
        seq INTEGER NOT NULL,
        path TEXT NOT NULL,
        start_at TEXT NOT NULL,
        end_at TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        status TEXT NOT NULL,
        note TEXT,
        CONSTRAINT uq_segments_run_stream_kind_seq UNIQUE (run_id, stream, kind, seq)
    )""",
    """CREATE TABLE gaps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        stream INTEGER NOT NULL,
        start_at TEXT NOT NULL,
        end_at TEXT,
        cause TEXT NOT NULL
    )""",
    """CREATE TABLE transcripts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        stream INTEGER NOT NULL,
        segment_id INTEGER REFERENCES segments (id),
        start_at TEXT NOT NULL,
        end_at TEXT NOT NULL,
        text TEXT NOT NULL,
        text_check TEXT NOT NULL,
        language TEXT,
        avg_logprob REAL,
        no_speech_prob REAL,
        compression_ratio REAL,
        flags TEXT NOT NULL,
        words_json TEXT NOT NULL,
        backend TEXT NOT NULL,
        model TEXT NOT NULL
    )""",
    """CREATE TABLE transcription_progress (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        stream INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        committed_until TEXT NOT NULL,
        flushed INTEGER NOT NULL,
        PRIMARY KEY (run_id, stream)
    )""",
    "CREATE INDEX ix_transcripts_run_start ON transcripts (run_id, start_at)",
    """CREATE TABLE findings (
        id TEXT PRIMARY KEY NOT NULL,
        event_id TEXT NOT NULL REFERENCES events (id),
        run_id INTEGER REFERENCES runs (id),
        rule TEXT NOT NULL,
        pack TEXT NOT NULL,
        category TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL,
        start_at TEXT NOT NULL,
        end_at TEXT NOT NULL,
        offset_s REAL,
        evidence TEXT NOT NULL,
        matched TEXT NOT NULL,
        details_json TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX ix_findings_event ON findings (event_id, start_at)",
    """CREATE TABLE work_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        item_key TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        enqueued_at TEXT NOT NULL,
        claimed_at TEXT,
        finished_at TEXT,
        error TEXT,
        CONSTRAINT uq_work_queue_item UNIQUE (queue, item_key)
    )""",
    "CREATE INDEX ix_work_queue_pending ON work_queue (queue, status, id)",
)


def upgrade(connection: Connection) -> None:
    for statement in STATEMENTS:
        connection.execute(text(statement))
