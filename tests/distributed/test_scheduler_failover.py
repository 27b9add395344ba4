"""Two ``livewatch scheduler`` processes on real PostgreSQL and RabbitMQ: the active one sends a capture task,
is SIGKILLed, the standby takes over within seconds and sends the capture of an event added after the kill;
no capture task is sent twice. The tasks are read from the broker's ``capture`` queue with kombu."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kombu.connection import Connection

from livewatch.distributed.names import CAPTURE_QUEUE, CAPTURE_TASK
from livewatch.monitor.status import scheduler_status
from livewatch.settings import Settings
from livewatch.state.scheduler_lock import ActiveScheduler
from tests.capture.conftest import write_event

pytestmark = pytest.mark.slow

URL = "http://127.0.0.1:9/live.m3u8"  # never fetched: no worker runs here
POLL_S = 0.5
#: The standby must be active this soon after the active one is killed (poll interval plus start-up).
TAKEOVER_S = 5.0


class CaptureQueue:
    """The broker's capture queue, read message by message (each read takes the message off the queue)."""

    def __init__(self, url: str) -> None:
        connect: Callable[[str], Any] = Connection  # kombu is untyped: what it returns is Any here
        self.connection = connect(url)
        self.channel = self.connection.channel()
        self.seen: list[tuple[str, str]] = []

    def drain(self) -> list[tuple[str, str]]:
        while True:
            try:
                message = self.channel.basic_get(queue=CAPTURE_QUEUE, no_ack=True)
            except Exception:  # the queue is declared by the first send: nothing to read before that
                self.channel = self.connection.channel()
                return self.seen
            if message is None:
                return self.seen
            assert message.headers["task"] == CAPTURE_TASK
            args, _kwargs, _embed = json.loads(message.body)
            self.seen.append((args[0], args[1]))

    def close(self) -> None:
        self.connection.close()


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def active_one(settings: Settings, pid: int) -> ActiveScheduler | None:
    """The active scheduler, if it is process ``pid`` and holds the lock."""
    active = scheduler_status(settings)
    return active if active is not None and active.pid == pid and active.holds_lock else None


@pytest.fixture
def scheduler_processes(tmp_path: Path, postgres_url: str, rabbitmq_url: str) -> Iterator[
        tuple[Callable[[], subprocess.Popen[bytes]], Settings, Path]]:
    config = tmp_path / "livewatch.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\ndatabase_url = "{postgres_url}"\n'
                      f"[distributed]\nstandby_poll_s = {POLL_S}\n", encoding="utf-8")
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    env = {**os.environ, "LIVEWATCH_BROKER_URL": rabbitmq_url}
    env.pop("LIVEWATCH_DATABASE_URL", None)
    started: list[subprocess.Popen[bytes]] = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def start() -> subprocess.Popen[bytes]:
        out = (logs / f"scheduler-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "livewatch", "--config", str(config), "scheduler", "--schedules", str(schedules),
             "--reload-interval", str(POLL_S)], env=env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        started.append(process)
        return process

    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url)
    try:
        yield start, settings, schedules
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        for path in sorted(logs.iterdir()):  # shown with a failure
            sys.stderr.write(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}\n")


def test_standby_takes_over_from_a_killed_active_scheduler(
        scheduler_processes: tuple[Callable[[], subprocess.Popen[bytes]], Settings, Path], rabbitmq_url: str) -> None:
    start_scheduler, settings, schedules = scheduler_processes
    queue = CaptureQueue(rabbitmq_url)
    try:
        queue.drain()
        queue.seen.clear()  # left by earlier tests on the session's broker
        tag = uuid.uuid4().hex[:8]
        first, second = f"first-{tag}", f"second-{tag}"
        on_air = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        write_event(schedules, first, URL, on_air, on_air + timedelta(minutes=30))

        active = start_scheduler()
        wait_until(lambda: active_one(settings, active.pid), 20, "the first scheduler to become active")
        standby = start_scheduler()
        wait_until(lambda: queue.drain(), 10, "the first capture task")
        assert queue.seen == [(first, on_air.isoformat())]
        time.sleep(3 * POLL_S)  # the standby is up and polling (it must not send anything)
        assert standby.poll() is None

        active.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        active.wait(10)
        took_over = wait_until(lambda: active_one(settings, standby.pid), TAKEOVER_S, "the standby to take over")
        takeover_s = time.monotonic() - killed_at
        assert took_over.since > on_air - timedelta(seconds=1)

        later = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        write_event(schedules, second, URL, later, later + timedelta(minutes=30))
        wait_until(lambda: len(queue.drain()) == 2, 10, "the capture task of the event added after the kill")
        time.sleep(4 * POLL_S)  # anything sent twice would be on the queue by now
        assert queue.drain() == [(first, on_air.isoformat()), (second, later.isoformat())]
        sys.stderr.write(f"takeover after SIGKILL: {takeover_s:.2f} s\n")
    finally:
        queue.close()
