"""The monitor as a whole: restarts, edits while running, persistence, one monitor per data directory."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, select

from livewatch.cli import cli
from livewatch.errors import StateError
from livewatch.monitor import Monitor
from livewatch.monitor.jobs import armed_jobs
from livewatch.pipeline import decode
from livewatch.pipeline.run_status import RECORDING
from livewatch.pipeline.screen import CapturedFrame
from livewatch.queue import SCREEN, TRANSCRIBE
from livewatch.registration import validate_registrations
from livewatch.state import Database, DataDir, tables
from livewatch.state.runs import RunStore
from tests.capture.conftest import (
    capture_only,
    now,
    run_facts,
    run_monitor_until_idle,
    write_event,
)
from tests.support.origin import LiveOrigin, wait_for_playlist

pytestmark = pytest.mark.slow


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def run_status(data: DataDir, event_id: str, database: Path | str | None = None) -> str | None:
    if database is None:
        if not data.database.exists():
            return None
        database = data.database
    # The file exists a moment before the monitor has created its tables: no table yet means no run yet.
    with Database(database, migrate=False) as db, db.engine.connect() as conn:
        if not inspect(conn).has_table("runs"):
            return None
        return conn.execute(select(tables.runs.c.status).where(tables.runs.c.event_id == event_id)
                            .order_by(tables.runs.c.id.desc()).limit(1)).scalar()


def ffmpeg_writing_into(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "ffmpeg" in cmdline and str(folder) in cmdline:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveOrigin]:
    """One origin for the module, live throughout like a real broadcaster's: each test records the part of the
    stream its own event's window covers, so none needs an origin of its own (it took seconds to start)."""
    with LiveOrigin(tmp_path_factory.mktemp("origin"), speech="Testing the restart of the monitor.") as live:
        live.start()
        wait_for_playlist(live.url, min_segments=2)
        yield live


@dataclass
class RestartSite:
    """One backend's monitor in the SIGKILL test: its own data directory (and database), the shared origin."""

    backend: str
    data: DataDir
    database: str | None  # None: the data directory's SQLite file
    command: list[str]
    killed_at: datetime | None = None


def _restart_site(root: Path, backend: str, database: str | None, url: str, t0: datetime) -> RestartSite:
    schedules = root / "schedules"
    schedules.mkdir(parents=True)
    write_event(schedules, "restart", url, t0 + timedelta(seconds=1), t0 + timedelta(seconds=26))
    config = root / "livewatch.toml"  # transcription on: the transcript must not count anything twice
    # The screen stage off: every frame must stay where the capture wrote it (it deletes frames it has read).
    config_text = '[transcriber]\nlanguage = "en"\n[screen]\nenabled = false\n'
    if database is not None:  # runs, queue and jobs in PostgreSQL; the media still in the data directory
        config_text = f'database_url = "{database}"\n' + config_text
    config.write_text(config_text, encoding="utf-8")
    data = DataDir(root / "data")
    command = [sys.executable, "-m", "livewatch", "--config", str(config), "--data",
               str(data.root), "run", "--schedules", str(schedules), "--until-idle", "--reload-interval", "0.5"]
    return RestartSite(backend, data, database, command)


def test_sigkilled_monitor_resumes_the_same_run(tmp_path: Path, origin: LiveOrigin, postgres_url: str) -> None:
    """On each backend (SQLite, PostgreSQL) a monitor is SIGKILLed while recording and another resumes the run.
    The two backends' monitors run side by side, each with its own data directory and database, on the same
    origin and window: the test waits for the window once, not once per backend."""
    t0 = now()
    sites = [_restart_site(tmp_path / "sqlite", "sqlite", None, origin.url, t0),
             _restart_site(tmp_path / "postgresql", "postgresql", postgres_url, origin.url, t0)]
    firsts = [subprocess.Popen(site.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for site in sites]
    try:
        wait_until(lambda: all(run_status(site.data, "restart", site.database) == "recording" for site in sites),
                   30, "recording to start on both backends")
        time.sleep(5)
    finally:
        for site, first in zip(sites, firsts, strict=True):
            first.send_signal(signal.SIGKILL)
            first.wait()
            site.killed_at = now()
    seconds = [subprocess.Popen(site.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for site in sites]
    for site, second in zip(sites, seconds, strict=True):
        try:
            _, stderr = second.communicate(timeout=120)
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()
        assert second.returncode == 0, (site.backend, stderr[-2000:])
    for site in sites:
        _assert_resumed(site, t0)


def _assert_resumed(site: RestartSite, t0: datetime) -> None:
    data, database, killed_at = site.data, site.database, site.killed_at
    assert killed_at is not None
    facts = run_facts(data, "restart", database)  # asserts there is exactly one run
    assert facts.run.status == "finished", site.backend
    assert facts.run.started_at < killed_at, site.backend
    assert facts.connections[0].end_reason == "monitor stopped unexpectedly; recovered", site.backend
    assert len(facts.connections) >= 2, site.backend
    # Numbering continued; every segment exactly once; what the dead monitor's ffmpeg saved was kept.
    assert [s.seq for s in facts.audio] == list(range(len(facts.audio))), site.backend
    assert {s.connection_id for s in facts.audio} >= {facts.connections[0].id, facts.connections[-1].id}
    # No media counted twice, and any hole in the timeline is on the gap ledger.
    explained = {(g.start_at, g.end_at) for g in facts.gaps}
    assert all(gap in explained for gap in facts.coverage_breaks()), site.backend
    assert facts.audio[-1].end_at >= t0 + timedelta(seconds=24), site.backend
    assert ffmpeg_writing_into(data.root) == [], site.backend  # the orphaned ffmpeg was stopped
    # Whisper picked up where it was: every stretch of audio transcribed once, the queue empty.
    with Database(database or data.database, migrate=False) as db, db.engine.connect() as conn:
        rows = list(conn.execute(select(tables.transcripts).order_by(tables.transcripts.c.start_at)))
        queue = list(conn.execute(select(tables.work_queue.c.status).where(tables.work_queue.c.queue == TRANSCRIBE)))
        frames = [decode(CapturedFrame, json.loads(payload)) for (payload,) in conn.execute(
            select(tables.work_queue.c.payload_json).where(tables.work_queue.c.queue == SCREEN))]
    # Every frame either monitor's ffmpeg wrote was handed on to the screen readers: the dead one's that the
    # first monitor had not queued by the restarted one. Only a frame queued in the instant of the kill, before
    # that was noted, can come twice.
    files = set(data.frames_dir("restart").glob("*.jpg"))
    assert len(files) >= 20, site.backend
    assert {frame.path for frame in frames} == files, site.backend
    assert len(frames) - len(files) <= 2, site.backend
    assert {status for (status,) in queue} == {"done"}, site.backend
    assert len(queue) == len(facts.audio), site.backend
    # What the resumed monitor recorded after the kill was transcribed too: its segments have text. (Which words
    # tiny.en writes for "restart" varies with where the window falls in the origin's loop, so only the word
    # "monitor", which it always gets, is counted.)
    resumed = {s.id for s in facts.audio if s.connection_id == facts.connections[-1].id}
    assert any(r.segment_id in resumed and "monitor" in r.text.lower() for r in rows), (
        site.backend, [r.text for r in rows])
    assert " ".join(r.text for r in rows).lower().count("monitor") >= 2, site.backend
    assert rows[-1].end_at > killed_at, site.backend
    for before, after in itertools.pairwise(rows):
        assert after.start_at >= before.end_at - timedelta(seconds=0.5), f"{site.backend}: a stretch transcribed twice"


def test_a_run_left_open_past_its_window_is_closed_at_the_next_start(tmp_path: Path) -> None:
    """A monitor killed while recording, and none started again until the window (and its overrun cap) had
    passed: the next monitor still closes the run (recovering what its ffmpeg wrote, as after any restart)
    instead of leaving it "recording" for ever and never checked. (The SIGKILL test below covers what is kept;
    this run has no media.)"""
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    start = now() - timedelta(seconds=90)
    end = start + timedelta(seconds=60)
    write_event(schedules, "ended", "http://127.0.0.1:9/live.m3u8", start, end)
    settings = capture_only(data.root)
    with Database.open(data.ensure()) as db:
        db.sync_events(validate_registrations([schedules], settings).registrations)
        store = RunStore(db.engine)
        run = store.open_run("ended", start, end)
        assert run is not None
        store.set_status(run.id, RECORDING)
    run_monitor_until_idle(settings, schedules, timeout=30).shutdown()
    facts = run_facts(data, "ended")  # still exactly one run
    assert facts.run.id == run.id
    # Nothing had reached the segment list (no connection either), so its end says what was seen: nothing.
    assert (facts.run.status, facts.run.stop_reason) == ("no-show", "stream 0: finished (overrun cap reached)")


def test_edits_while_running_rearm_cancel_and_isolate_bad_files(
    tmp_path: Path, origin: LiveOrigin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livewatch")
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    later = now() + timedelta(hours=1)
    write_event(schedules, "moved", origin.url, later, later + timedelta(hours=1))
    write_event(schedules, "dropped", origin.url, later, later + timedelta(hours=1))
    (schedules / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n", encoding="utf-8")
    monitor = Monitor(capture_only(data.root), [schedules], reload_interval=0.3)
    monitor.start()
    thread = threading.Thread(target=monitor.run_forever, daemon=True)
    thread.start()
    try:
        jobs = armed_jobs(data)
        assert set(jobs) == {"moved", "dropped"}
        assert jobs["moved"] == later - timedelta(minutes=0)  # pre-roll 0 in the test settings
        assert any("broken.yaml" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)

        t0 = now()
        time.sleep(0.05)  # a new mtime even on coarse file systems
        write_event(schedules, "moved", origin.url, t0 + timedelta(seconds=1), t0 + timedelta(seconds=40))
        wait_until(lambda: run_status(data, "moved") == "recording", 20, "the moved event to start recording")

        (schedules / "dropped.yaml").unlink()
        wait_until(lambda: "dropped" not in armed_jobs(data), 10, "the removed event to be disarmed")

        (schedules / "moved.yaml").unlink()
        wait_until(lambda: run_status(data, "moved") == "cancelled", 20, "the removed event's capture to stop")
    finally:
        monitor.request_stop()
        thread.join(10)
        monitor.shutdown()
    facts = run_facts(data, "moved")
    assert "removed" in facts.run.stop_reason
    assert facts.audio, "what was recorded before the removal is kept"
    assert ffmpeg_writing_into(data.root) == []


def test_jobs_persist_and_one_monitor_per_data_directory(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    start = now() + timedelta(days=2)
    write_event(schedules, "future", "https://live.example.com/a.m3u8", start, start + timedelta(hours=2),
                pre_roll_minutes=10)
    settings = capture_only(data.root)
    first = Monitor(settings, [schedules])
    first.start()
    with pytest.raises(StateError, match=r"another livewatch monitor \(pid \d+\) is already running"):
        Monitor(settings, [schedules]).start()
    first.shutdown()
    assert armed_jobs(data) == {"future": start - timedelta(minutes=10)}

    again = Monitor(settings, [schedules])
    again.start()
    assert armed_jobs(data) == {"future": start - timedelta(minutes=10)}
    again.shutdown()

    result = CliRunner().invoke(cli, ["--data", str(data.root), "status", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"state": "armed"' in result.output


def test_until_idle_leaves_later_events_alone(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    start = now() + timedelta(hours=3)
    write_event(schedules, "tonight", "https://live.example.com/a.m3u8", start, start + timedelta(hours=1))
    env = {**os.environ, "LIVEWATCH_DATA": str(data.root)}
    done = subprocess.run([sys.executable, "-m", "livewatch", "run", "--schedules", str(schedules), "--until-idle"],
                          env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0
    assert run_status(data, "tonight") is None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1.5 MB tmpfs mounted as the event's folder (the tests run as root, as `make test` and CI do)."""
    mountpoint = tmp_path / "data" / "events" / "full"
    mountpoint.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True, check=False)
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr}"
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_disk_full_marks_the_run_incomplete_and_keeps_what_was_saved(
    tmp_path: Path, origin: LiveOrigin, small_disk: Path
) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data").ensure()  # the event's folder is on the small disk, the database is not
    assert data.event_dir("full") == small_disk
    t0 = now()
    write_event(schedules, "full", origin.url, t0 + timedelta(seconds=1), t0 + timedelta(seconds=60))
    run_monitor_until_idle(capture_only(data.root), schedules, timeout=90)
    facts = run_facts(data, "full")
    assert facts.run.status == "incomplete"
    assert "No space left on device" in facts.run.stop_reason
    assert facts.audio, "segments saved before the disk filled are kept"
    for segment in facts.audio + facts.media:
        assert Path(segment.path).exists()


def test_many_events_falling_due_during_start_do_not_deadlock(tmp_path: Path) -> None:
    """APScheduler runs its listeners under its own lock; arming takes the monitor's lock and then the
    scheduler's. Thirty events due at once used to freeze start() when the first fired mid-reconcile."""
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    t0 = now()
    for index in range(30):  # nobody listens on port 9: every capture waits, which is all this needs
        write_event(schedules, f"e{index:02d}", "http://127.0.0.1:9/live.m3u8", t0 - timedelta(seconds=5),
                    t0 + timedelta(minutes=5))
    data = DataDir(tmp_path / "data")
    monitor = Monitor(capture_only(data.root), [schedules], reload_interval=0.3)
    started = threading.Thread(target=monitor.start, daemon=True)
    started.start()
    started.join(timeout=30)
    assert not started.is_alive(), "Monitor.start() is stuck (deadlocked: shutting it down would hang too)"
    try:
        wait_until(lambda: len(monitor.captures) == 30, 30, "every capture to start")
        for _ in range(3):  # reloads while captures keep starting and waiting
            for path in schedules.iterdir():
                path.touch()
            monitor.reload_if_changed()
    finally:
        monitor.shutdown()
    assert all(run_status(data, f"e{index:02d}") is not None for index in range(30))


def test_a_monitor_for_some_events_leaves_the_others_jobs_armed(tmp_path: Path) -> None:
    """`livewatch watch` run alone is a monitor for its one event: the persistent job of another event that falls
    due meanwhile stays in the store for the next full monitor (it is not used up without a capture)."""
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    t0 = now()
    write_event(schedules, "other", "https://other.example/live.m3u8", t0 + timedelta(seconds=2),
                t0 + timedelta(minutes=5))
    write_event(schedules, "inspect", "https://inspect.example/live.m3u8", t0 + timedelta(minutes=30),
                t0 + timedelta(minutes=40))
    settings = capture_only(tmp_path / "data")
    full = Monitor(settings, [schedules], reload_interval=0.5)
    full.start()  # arms "other" in the persistent store, due in 2 s
    full.shutdown()
    assert "other" in armed_jobs(DataDir(settings.data_dir))
    some = Monitor(settings, [schedules], reload_interval=0.5, only={"inspect"})
    some.start()
    try:
        time.sleep(4)  # "other" falls due meanwhile
    finally:
        some.shutdown()
    assert "other" in armed_jobs(DataDir(settings.data_dir))
