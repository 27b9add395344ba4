"""Helpers for tests that record real live streams from a local HLS origin through the real monitor."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from livewatch.monitor import Monitor
from livewatch.queue import TRANSCRIBE
from livewatch.settings import Settings
from livewatch.state import Database, DataDir, tables

#: Fast capture settings for tests: short segments, quick polls and reconnects, no pre-roll, no overrun.
FAST = {
    "pre_roll_minutes": 0, "poll_interval_s": 1, "poll_jitter_s": 0, "segment_seconds": 2, "stall_timeout_s": 6,
    "backoff_base_s": 0.5, "backoff_max_s": 2, "reconnect_grace_s": 3, "overrun_cap_minutes": 0,
    "stop_timeout_s": 5,
}


def capture_only(data: Path) -> Settings:
    """Settings for capture tests: transcription and the screen stage off (they have their own tests) so timing
    is not disturbed and every frame stays where the capture wrote it."""
    return Settings(data_dir=data, transcriber={"enabled": False}, screen={"enabled": False})


def capture_only_config(folder: Path) -> Path:
    """The same as a configuration file, for tests that run the `livewatch` command."""
    config = folder / "livewatch.toml"
    config.write_text("[transcriber]\nenabled = false\n[screen]\nenabled = false\n", encoding="utf-8")
    return config


def now() -> datetime:
    return datetime.now(UTC)


def write_event(folder: Path, event_id: str, url: str, start: datetime, end: datetime, **capture: Any) -> Path:
    settings = {**FAST, **capture}
    lines = [
        f"id: {event_id}", f"title: Test {event_id}", "kind: forum", "category: knowledge", "organizer: {name: QA}",
        f"start: {start.isoformat()}", f"end: {end.isoformat()}", f'streams: [{{url: "{url}"}}]', "capture:",
        *(f"  {key}: {value}" for key, value in settings.items()),
    ]
    path = folder / f"{event_id}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class RunFacts:
    """Everything recorded for one event's run, read back from the database."""

    run: Any
    audio: list[Any]
    media: list[Any]
    gaps: list[Any]
    connections: list[Any]
    queued: int

    def coverage_breaks(self, tolerance: float = 0.35) -> list[tuple[datetime, datetime]]:
        """Places where one audio segment does not start where the previous one ended."""
        breaks = []
        for before, after in zip(self.audio, self.audio[1:], strict=False):
            if abs((after.start_at - before.end_at).total_seconds()) > tolerance:
                breaks.append((before.end_at, after.start_at))
        return breaks


def run_facts(data: DataDir, event_id: str, database: Path | str | None = None) -> RunFacts:
    with Database(database or data.database, migrate=False) as db, db.engine.connect() as conn:
        runs = list(conn.execute(select(tables.runs).where(tables.runs.c.event_id == event_id)))
        assert len(runs) == 1, f"{event_id}: expected exactly one run, found {len(runs)}"
        run = runs[0]
        segs = tables.segments
        audio = list(conn.execute(select(segs).where(segs.c.run_id == run.id, segs.c.kind == "audio")
                                  .order_by(segs.c.seq)))
        media = list(conn.execute(select(segs).where(segs.c.run_id == run.id, segs.c.kind == "media")
                                  .order_by(segs.c.seq)))
        gaps = list(conn.execute(select(tables.gaps).where(tables.gaps.c.run_id == run.id)))
        connections = list(conn.execute(select(tables.connections).where(tables.connections.c.run_id == run.id)
                                        .order_by(tables.connections.c.id)))
        queued = _queued(conn, run.id)
    return RunFacts(run, audio, media, gaps, connections, queued)


def _queued(conn: Any, run_id: int) -> int:
    """Audio segments queued for transcription (frames for the screen readers are on another queue)."""
    rows = conn.execute(select(tables.work_queue.c.payload_json)
                        .where(tables.work_queue.c.queue == TRANSCRIBE)).fetchall()
    return sum(json.loads(row[0])["run_id"] == run_id for row in rows)


def run_monitor_until_idle(settings: Settings, schedules: Path, timeout: float) -> Monitor:
    """Run a real monitor in one-shot mode in this process; fail if it is not idle within ``timeout``."""
    monitor = Monitor(settings, [schedules], reload_interval=0.5, horizon=timedelta(minutes=10))
    monitor.start()
    done = threading.Event()

    def body() -> None:
        try:
            monitor.run_until_idle()
        finally:
            done.set()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    finished = done.wait(timeout)
    if not finished:
        monitor.request_stop()
        thread.join(30)
    monitor.shutdown()
    assert finished, f"monitor not idle after {timeout} s"
    return monitor

