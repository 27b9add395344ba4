"""Initial schema: events, runs, segments, gaps, transcripts, findings."""

from __future__ import annotations

from sqlalchemy import Connection, text

STATEMENTS = (
    """CREATE TABLE events (
        id TEXT PRIMARY KEY,
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
        started_at TEXT NOT NULL,
        on_air_at TEXT,
        ended_at TEXT,
        error TEXT
    )""",
    "CREATE INDEX ix_runs_event ON runs (event_id)",
    """CREATE TABLE segments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        kind TEXT NOT NULL,
        seq INTEGER NOT NULL,
        path TEXT NOT NULL,
        start_at TEXT NOT NULL,
        end_at TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        status TEXT NOT NULL,
        note TEXT,
        CONSTRAINT uq_segments_run_kind_seq UNIQUE (run_id, kind, seq)
    )""",
    """CREATE TABLE gaps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        start_at TEXT NOT NULL,
        end_at TEXT,
        cause TEXT NOT NULL
    )""",
    """CREATE TABLE transcripts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        segment_id INTEGER REFERENCES segments (id),
        start_at TEXT NOT NULL,
        end_at TEXT NOT NULL,
        text TEXT NOT NULL,
        language TEXT,
        avg_logprob REAL,
        no_speech_prob REAL,
        compression_ratio REAL,
        flags TEXT NOT NULL,
        words_json TEXT NOT NULL
    )""",
    "CREATE INDEX ix_transcripts_run_start ON transcripts (run_id, start_at)",
    """CREATE TABLE findings (
        id TEXT PRIMARY KEY,
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
)


def upgrade(connection: Connection) -> None:
    for statement in STATEMENTS:
        connection.execute(text(statement))
