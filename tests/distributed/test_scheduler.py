"""The scheduler role in-process, on a real PostgreSQL: one active, a standby taking over, each window sent
once, removed and moved windows flagged for their capture task, a refused send tried again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from livewatch.capture.context import StopSignal
from livewatch.distributed.scheduler import SchedulerIdentity, SchedulerRole
from livewatch.distributed.scheduler_metrics import scheduler_registry
from livewatch.errors import ConfigError
from livewatch.monitor.status import scheduler_status
from livewatch.settings import Settings
from livewatch.state.dispatches import Dispatch, DispatchLog
from tests.capture.conftest import write_event

URL = "http://127.0.0.1:9/live.m3u8"  # never fetched: the scheduler only sends the task


class Sent:
    """A capture sender that records what it was asked to send (the Celery one has its own tests)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime]] = []
        self.failures = 0
        self._lock = threading.Lock()

    def __call__(self, event_id: str, window_start: datetime) -> None:
        with self._lock:
            if self.failures:
                self.failures -= 1
                raise ConnectionError("broker unreachable")
            self.calls.append((event_id, window_start))

    def events(self) -> list[str]:
        with self._lock:
            return [event_id for event_id, _ in self.calls]


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def schedules(tmp_path: Path) -> Path:
    folder = tmp_path / "schedules"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=postgres_url, distributed={"standby_poll_s": 0.2})


@pytest.fixture
def roles(settings: Settings, schedules: Path) -> Iterator[Callable[[str, Sent], SchedulerRole]]:
    made: list[SchedulerRole] = []

    def make(host: str, sent: Sent) -> SchedulerRole:
        role = SchedulerRole(settings, [schedules], sent, reload_interval=0.2, identity=SchedulerIdentity(host, 1))
        role.start()
        made.append(role)
        return role

    yield make
    for role in made:
        role.shutdown()


def soon() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)


def test_needs_postgresql(tmp_path: Path, schedules: Path) -> None:
    with pytest.raises(ConfigError, match="needs PostgreSQL.*SQLite"):
        SchedulerRole(Settings(data_dir=tmp_path), [schedules], Sent())
    with pytest.raises(ConfigError, match="needs PostgreSQL"):
        SchedulerRole(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db"), [schedules], Sent())


def test_one_active_standby_takes_over_and_nothing_is_sent_twice(
        roles: Callable[[str, Sent], SchedulerRole], schedules: Path, settings: Settings) -> None:
    start = soon()
    write_event(schedules, "first", URL, start, start + timedelta(minutes=30))
    sent_a, sent_b = Sent(), Sent()
    a, b = roles("alpha", sent_a), roles("beta", sent_b)
    a.poll()
    b.poll()
    assert (a.active, b.active) == (True, False)
    wait_until(lambda: sent_a.events() == ["first"], 10, "the active scheduler to send the first capture")
    assert sent_a.calls == [("first", start)]
    active = scheduler_status(settings)
    assert active is not None and (active.host, active.holds_lock) == ("alpha", True)

    # The active one's session ends as when its process is killed: the server releases the lock.
    end_session_of_active(settings)
    wait_until(lambda: not getattr(scheduler_status(settings), "holds_lock", True), 5, "the lock to be released")
    gone = scheduler_status(settings)
    assert gone is not None and gone.host == "alpha"
    a.poll()
    assert not a.active  # it saw its lock go and stood by
    b.poll()
    assert b.active
    active = scheduler_status(settings)
    assert active is not None and (active.host, active.holds_lock) == ("beta", True)

    # An event added after the takeover is armed and sent by the new active one; the first is not sent again.
    start2 = soon()
    write_event(schedules, "second", URL, start2, start2 + timedelta(minutes=30))
    wait_until(lambda: (b.poll(), sent_b.events())[1] == ["second"], 10, "the new active one to send the second")
    time.sleep(0.5)
    a.poll()  # the lock is beta's now: alpha stays a standby
    assert not a.active
    assert sent_a.events() == ["first"] and sent_b.events() == ["second"]
    assert [d.event_id for d in DispatchLog(a.db.engine).all()] == ["first", "second"]


def end_session_of_active(settings: Settings) -> None:
    """End the active scheduler's database session, as the server does when its process is killed."""
    assert settings.database_url is not None
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(backend_pid) FROM scheduler_leader")).scalar()
            conn.commit()
    finally:
        engine.dispose()
