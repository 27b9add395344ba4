"""The data directory's file system fills up mid-capture (issue 15, item 11). Before the fix the capture
failed, the run stayed `recording` in the database and no alert was raised: the alert needed a database
write, the very thing that failed.

How the disk is filled: a real full file system needs a small mount (root, or a tmpfs we cannot make
unprivileged). Instead the test lowers the running monitor's RLIMIT_FSIZE to 0 (``prlimit(2)``, allowed
on one's own processes) and does the same to its ffmpeg: from then on every write that would grow a file
(SQLite's WAL, a new segment) fails in the kernel with EFBIG, at the real write sites, exactly where ENOSPC
would (CPython ignores SIGXFSZ, so the monitor gets the error instead of being killed; SQLite reports it
as a disk I/O error). Nothing in the monitor is patched. Raising the limit again plays the operator who
frees space."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from livewatch.state import DataDir
from tests.alerts.conftest import SECRET
from tests.capture.conftest import now, write_event
from tests.capture.test_monitor import ffmpeg_writing_into, run_status, wait_until
from tests.support.origin import LiveOrigin, wait_for_playlist
from tests.support.webhook import WebhookReceiver


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[LiveOrigin]:
    with LiveOrigin(tmp_path / "origin", speech="Testing a full disk.") as live:
        live.start()
        wait_for_playlist(live.url, min_segments=2)
        yield live


def limit_file_size(pid: int, size: int) -> None:
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, hard))


def test_full_disk_gives_an_incomplete_run_and_an_alert(tmp_path: Path, origin: LiveOrigin) -> None:
    receiver = WebhookReceiver(SECRET.encode())
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = tmp_path / "data"
    t0 = now()
    write_event(schedules, "full", origin.url, t0 - timedelta(seconds=2), t0 + timedelta(minutes=5))
    config = tmp_path / "livewatch.toml"
    config.write_text('[transcriber]\nenabled = false\n\n[[alerts]]\nname = "hook"\ntype = "webhook"\n'
                      f'url = "{receiver.url}"\nmin_severity = "high"\ncategories = ["capture"]\n'
                      "retry_base_s = 0.5\n", encoding="utf-8")
    command = [sys.executable, "-m", "livewatch", "--config", str(config), "--data", str(data), "run",
               "--schedules", str(schedules), "--reload-interval", "0.5"]
    monitor = subprocess.Popen(command, env={**os.environ, "LIVEWATCH_WEBHOOK_SECRET": SECRET},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        folder = DataDir(data)
        wait_until(lambda: run_status(folder, "full") == "recording", 40, "the capture to record")
        for pid in [monitor.pid, *ffmpeg_writing_into(data)]:  # the disk is full, for everyone
            limit_file_size(pid, 0)
        [got] = receiver.wait_for(lambda got: any("run-incomplete" in r.payload["idempotency_key"] for r in got),
                                  timeout=30)
        assert run_status(folder, "full") == "recording"  # the database still cannot say so
        assert ffmpeg_writing_into(data) == []  # nothing records unwatched
        limit_file_size(monitor.pid, resource.RLIM_INFINITY)  # space freed
        wait_until(lambda: run_status(folder, "full") == "incomplete", 20, "the run's end to be recorded")
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(timeout=30)
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()
        receiver.stop()
    stderr = monitor.stderr.read().decode(errors="replace") if monitor.stderr else ""
    assert monitor.returncode == 0, stderr[-3000:]
    assert got.signature_ok
    assert got.payload["kind"] == "capture"
    assert got.payload["event"]["id"] == "full"
    assert "incomplete" in got.payload["summary"]
    # Whichever write meets the full disk first (SQLite's or a media file's), the reason names the disk.
    assert any(said in got.payload["summary"] for said in (
        "disk I/O error", "database or disk is full", "cannot write to the data directory (disk or quota full)"))
    assert receiver.keys()[got.payload["idempotency_key"]] == 1  # the schedule watch did not send it again
    assert "delivering it from memory" in stderr
