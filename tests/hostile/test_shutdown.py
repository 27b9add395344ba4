"""SIGTERM ends the monitor within ``stop_timeout_s`` plus a few seconds whatever its peers do (issue 15,
item 3): here an alert receiver that drips its answer one byte a second (with a ``timeout_s`` long enough
that the delivery's own deadline does not end it) and a stream origin that drips its playlist, while a third
event is being recorded from a real live origin by a real ffmpeg. Before the fix the monitor joined every
thread without a deadline and ignored SIGTERM for as long as the peers liked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from livewatch.alerts.outbox import Outbox
from livewatch.state import Database, DataDir
from tests.alerts.conftest import SECRET
from tests.capture.conftest import now, write_event
from tests.capture.test_monitor import ffmpeg_writing_into, run_status, wait_until
from tests.hostile.drip import HTTP_ANSWER, DripServer
from tests.support.origin import LiveOrigin, wait_for_playlist

#: What "a few seconds" past stop_timeout_s means: the monitor's grace (5 s) and the interpreter's exit.
FEW_S = 8.0
STOP_TIMEOUT_S = 3


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[LiveOrigin]:
    with LiveOrigin(tmp_path / "origin", speech="Testing the stop of the monitor.") as live:
        live.start()
        wait_for_playlist(live.url, min_segments=2)
        yield live


def test_sigterm_ends_the_monitor_in_time_whatever_the_peers_do(tmp_path: Path, origin: LiveOrigin) -> None:
    hook = DripServer(HTTP_ANSWER)  # the alert receiver
    playlist = DripServer(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\n\r\n#EXTM3U\n" * 20)
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    t0 = now()
    write_event(schedules, "live", origin.url, t0 - timedelta(seconds=2), t0 + timedelta(minutes=5),
                stop_timeout_s=STOP_TIMEOUT_S)
    dripping = write_event(schedules, "dripping", f"http://127.0.0.1:{playlist.port}/live.m3u8",
                           t0 - timedelta(seconds=2), t0 + timedelta(minutes=5), rw_timeout_s=60,
                           stop_timeout_s=STOP_TIMEOUT_S)
    dripping.write_text(dripping.read_text() + "tolerances: {late_start: 0}\n", encoding="utf-8")  # a no-show alert
    config = tmp_path / "livewatch.toml"
    config.write_text('[transcriber]\nenabled = false\n\n[[alerts]]\nname = "hook"\ntype = "webhook"\n'
                      f'url = "{hook.url}"\nmin_severity = "info"\ntimeout_s = 120\n', encoding="utf-8")
    command = [sys.executable, "-m", "livewatch", "--config", str(config), "--data", str(data.root), "run",
               "--schedules", str(schedules), "--reload-interval", "0.5"]
    monitor = subprocess.Popen(command, env={**os.environ, "LIVEWATCH_WEBHOOK_SECRET": SECRET},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: run_status(data, "live") == "recording", 40, "the live event to record")
        wait_until(lambda: hook.connections >= 1 and playlist.connections >= 1, 30,
                   "an alert delivery and a live check to hang")
        time.sleep(1.0)
        stopped_at = time.monotonic()
        monitor.send_signal(signal.SIGTERM)
        try:
            monitor.wait(timeout=STOP_TIMEOUT_S + FEW_S + 10)
        except subprocess.TimeoutExpired:
            pytest.fail("the monitor ignored SIGTERM")
        took = time.monotonic() - stopped_at
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()
        hook.stop()
        playlist.stop()
    stderr = monitor.stderr.read().decode(errors="replace") if monitor.stderr else ""
    assert took <= STOP_TIMEOUT_S + FEW_S, f"took {took:.1f} s\n{stderr[-3000:]}"
    assert monitor.returncode == 0, stderr[-3000:]
    assert ffmpeg_writing_into(data.root) == []  # the live event's ffmpeg was stopped, not left behind
    with Database(data.database, migrate=False) as db:
        rows = Outbox(db.engine).rows()
    assert rows, "the no-show alert was raised"
    assert {row.status for row in rows} == {"pending"}, "an alert row was left `sending`"
