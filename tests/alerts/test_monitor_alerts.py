"""The real monitor raises a no-show alert for an event whose stream never comes, keeps it in the outbox
while the receiver is down, and delivers it exactly once after a restart."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from livewatch.alerts.outbox import Outbox
from livewatch.monitor import Monitor
from livewatch.settings import Settings
from livewatch.state import Database, DataDir
from tests.alerts.conftest import SECRET
from tests.capture.conftest import write_event
from tests.support.webhook import WebhookReceiver


def wait(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_no_show_alert_survives_a_restart_and_is_delivered_once(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEWATCH_WEBHOOK_SECRET", SECRET)
    receiver = WebhookReceiver(SECRET.encode())
    receiver.status = 503
    with socket.socket() as sock:  # a port nobody listens on: the stream never comes
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    now = datetime.now(UTC)
    path = write_event(schedules, "ghost-forum", f"http://127.0.0.1:{dead}/live.m3u8", now - timedelta(minutes=1),
                       now + timedelta(minutes=5))
    path.write_text(path.read_text() + "tolerances: {late_start: 0}\nalerts: {min_severity: high}\n")
    settings = Settings(data_dir=tmp_path / "data", transcriber={"enabled": False}, alerts=[
        {"name": "hook", "type": "webhook", "url": receiver.url, "min_severity": "info", "retry_base_s": 0.3,
         "retry_max_s": 1}])
    data = DataDir(settings.data_dir)
    try:
        first = Monitor(settings, [schedules], reload_interval=0.3)
        first.start()
        try:
            wait(lambda: receiver.requests >= 2, 20)  # raised, tried, refused, retried
        finally:
            first.shutdown()
        with Database(data.database) as db:
            [row] = Outbox(db.engine).rows()
        assert (row.status, row.kind, row.severity) == ("pending", "schedule", "high")
        assert row.key.startswith("schedule|ghost-forum|")
        assert row.key.endswith("|no-show")
        receiver.status = 200
        second = Monitor(settings, [schedules], reload_interval=0.3)
        second.start()
        try:
            receiver.wait_for(lambda got: len(got) == 1, timeout=20)
            time.sleep(2.5)  # a full watch interval: the no-show is seen again, and not sent again
        finally:
            second.shutdown()
    finally:
        receiver.stop()
    assert receiver.keys() == {row.key: 1}
    [got] = receiver.received
    assert got.signature_ok
    assert got.payload["event"]["id"] == "ghost-forum"
    assert "no-show risk" in got.payload["summary"]
    with Database(data.database) as db:
        assert [r.status for r in Outbox(db.engine).rows()] == ["sent"]
