"""The scheduler role in-process, on a real PostgreSQL: one active, a standby taking over, each window sent
once, removed and moved windows flagged for their capture task, a refused send tried again."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from livewatch.capture.context import StopSignal
from livewatch.cli import cli
from livewatch.distributed.scheduler import SchedulerIdentity, SchedulerRole
from livewatch.distributed.scheduler_metrics import scheduler_registry
from livewatch.errors import ConfigError
from livewatch.monitor.status import scheduler_status
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state import tables
from livewatch.state.dispatches import Dispatch, DispatchLog
from tests.capture.conftest import write_event
from tests.support.webhook import WebhookReceiver

URL = "http://127.0.0.1:9/live.m3u8"  # never fetched: the scheduler only sends the task
WEBHOOK_SECRET = "scheduler-test-secret"


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
    with pytest.raises(ConfigError, match=r"needs PostgreSQL.*SQLite"):
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
    assert active is not None
    assert (active.host, active.holds_lock) == ("alpha", True)

    # The active one's session ends as when its process is killed: the server releases the lock.
    end_session_of_active(settings)
    wait_until(lambda: not getattr(scheduler_status(settings), "holds_lock", True), 5, "the lock to be released")
    gone = scheduler_status(settings)
    assert gone is not None
    assert gone.host == "alpha"
    a.poll()
    assert not a.active  # it saw its lock go and stood by
    b.poll()
    assert b.active
    active = scheduler_status(settings)
    assert active is not None
    assert (active.host, active.holds_lock) == ("beta", True)

    # An event added after the takeover is armed and sent by the new active one; the first is not sent again.
    start2 = soon()
    write_event(schedules, "second", URL, start2, start2 + timedelta(minutes=30))
    def second_sent() -> bool:
        b.poll()
        return sent_b.events() == ["second"]

    wait_until(second_sent, 10, "the new active one to send the second")
    time.sleep(0.5)
    a.poll()  # the lock is beta's now: alpha stays a standby
    assert not a.active
    assert sent_a.events() == ["first"]
    assert sent_b.events() == ["second"]
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


def test_removed_and_moved_windows_are_flagged_for_their_capture_task(
        roles: Callable[[str, Sent], SchedulerRole], schedules: Path) -> None:
    start = soon()
    kept = write_event(schedules, "moved", URL, start, start + timedelta(minutes=30))
    dropped = write_event(schedules, "dropped", URL, start, start + timedelta(minutes=30))
    sent = Sent()
    role = roles("alpha", sent)
    role.poll()
    wait_until(lambda: sorted(sent.events()) == ["dropped", "moved"], 10, "both captures to be sent")
    log = role.dispatches
    first = log.latest("moved", start)
    assert first is not None
    assert first.generation == 1
    assert log.stop_reason("moved", start, start + timedelta(minutes=30), 1) is None

    dropped.unlink()
    later = start + timedelta(seconds=1)  # the end moves: a new window, and the old one's capture must stop
    kept.unlink()
    write_event(schedules, "moved", URL, later, later + timedelta(minutes=45))
    role.poll()
    assert log.stop_reason("dropped", start, start + timedelta(minutes=30), 1) == StopSignal.REMOVED
    assert log.stop_reason("moved", start, start + timedelta(minutes=30), 1) == StopSignal.RESCHEDULED
    wait_until(lambda: sent.events().count("moved") == 2, 10, "the moved window to be sent")
    assert sent.calls[-1] == ("moved", later)
    assert log.stop_reason("moved", later, later + timedelta(minutes=45), 1) is None

    # Moved back: the first window is sent again as a new generation; a task still running the old one stops.
    write_event(schedules, "moved", URL, start, start + timedelta(minutes=30))
    role.poll()
    wait_until(lambda: sent.events().count("moved") == 3, 10, "the window moved back to be sent again")
    again = log.latest("moved", start)
    assert again is not None
    assert again.generation == 2
    assert log.stop_reason("moved", start, start + timedelta(minutes=30), 2) is None
    assert log.stop_reason("moved", start, start + timedelta(minutes=30), 1) is not None
    assert log.stop_reason("moved", later, later + timedelta(minutes=45), 1) == StopSignal.RESCHEDULED


def test_a_send_the_broker_refuses_is_tried_again(roles: Callable[[str, Sent], SchedulerRole], schedules: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("livewatch.distributed.scheduler.RESEND_DELAY_S", 0.5)
    start = soon()
    write_event(schedules, "retried", URL, start, start + timedelta(minutes=30))
    sent = Sent()
    sent.failures = 1
    role = roles("alpha", sent)
    role.poll()
    wait_until(lambda: sent.events() == ["retried"], 10, "the capture to be sent on the second try")
    assert [d.event_id for d in role.dispatches.all()] == ["retried"]  # the refused try left no row
    assert role.sent == 1


def test_a_due_window_whose_job_is_gone_but_never_sent_is_sent_after_a_takeover(
        roles: Callable[[str, Sent], SchedulerRole], schedules: Path, settings: Settings) -> None:
    """The active one died after APScheduler took the due job out of the store and before it sent the task:
    the next active one arms it again from the registrations and sends it."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)  # on air already
    write_event(schedules, "orphan", URL, start, start + timedelta(minutes=30))
    sent_a, sent_b = Sent(), Sent()
    a = roles("alpha", sent_a)
    a._on_job = lambda job_event: None  # type: ignore[method-assign]  # it "dies" before it sends the task
    a.poll()
    wait_until(lambda: a.armed_jobs() == 0, 10, "the due job to run")
    a.shutdown()
    b = roles("beta", sent_b)
    b.poll()
    assert b.active
    wait_until(lambda: sent_b.events() == ["orphan"], 10, "the new active one to send the orphaned capture")


def test_scheduler_metrics(roles: Callable[[str, Sent], SchedulerRole], schedules: Path) -> None:
    start = soon() + timedelta(hours=1)
    write_event(schedules, "later", URL, start, start + timedelta(minutes=30))
    a, b = roles("alpha", Sent()), roles("beta", Sent())
    a.poll()
    b.poll()
    samples = {}
    for role in (a, b):
        registry = scheduler_registry(role)
        samples[role.identity.host] = {name: registry.get_sample_value(name) for name in (
            "livewatch_scheduler_active", "livewatch_scheduler_armed_jobs", "livewatch_scheduler_takeovers_total",
            "livewatch_scheduler_captures_sent_total", "livewatch_up")}
    assert samples["alpha"] == {"livewatch_scheduler_active": 1, "livewatch_scheduler_armed_jobs": 1,
                                "livewatch_scheduler_takeovers_total": 1,
                                "livewatch_scheduler_captures_sent_total": 0, "livewatch_up": 1}
    assert samples["beta"]["livewatch_scheduler_active"] == 0
    assert samples["beta"]["livewatch_scheduler_armed_jobs"] == 0

    # Every metric of the role is in docs/distributed.md's table, and nothing else is.
    exported = {sample.name for family in scheduler_registry(a).collect() for sample in family.samples
                if sample.name.startswith("livewatch_scheduler_")}
    guide = (Path(__file__).resolve().parents[2] / "docs" / "distributed.md").read_text(encoding="utf-8")
    table = guide.split("\n### Metrics", 1)[1].split("\n### ", 1)[0]
    assert exported == set(re.findall(r"^\| `(livewatch_scheduler_[a-z_]+)` \|", table, flags=re.MULTILINE))


def test_status_names_the_active_scheduler(roles: Callable[[str, Sent], SchedulerRole], schedules: Path,
                                           settings: Settings, tmp_path: Path) -> None:
    start = soon() + timedelta(hours=1)
    write_event(schedules, "later", URL, start, start + timedelta(minutes=30))
    config = tmp_path / "livewatch.toml"
    config.write_text(f'data_dir = "{settings.data_dir}"\ndatabase_url = "{settings.database_url}"\n', encoding="utf-8")
    role = roles("alpha", Sent())
    role.poll()
    shown = CliRunner().invoke(cli, ["--config", str(config), "status"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "scheduler: alpha pid 1, since" in shown.output
    assert ": active" in shown.output
    role.shutdown()
    shown = CliRunner().invoke(cli, ["--config", str(config), "status"], env={"COLUMNS": "200"})
    assert "alpha pid 1" in shown.output
    assert "gone (no scheduler holds the lock)" in shown.output


def test_the_command_refuses_sqlite(tmp_path: Path) -> None:
    config = tmp_path / "livewatch.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    done = CliRunner().invoke(cli, ["--config", str(config), "scheduler"], env={"LIVEWATCH_DATABASE_URL": None})
    assert done.exit_code == 2
    assert "livewatch scheduler needs PostgreSQL" in done.output
    assert "SQLite" in done.output


def test_two_schedulers_sending_one_window_at_once_send_it_once(settings: Settings) -> None:
    """The seconds around a takeover, when both may believe they are active: the second waits on the first
    one's row and sends nothing; had the first failed to send, the second would."""
    with Session.open(settings) as session:
        start = datetime(2026, 12, 2, 12, tzinfo=UTC)
        with session.database.engine.begin() as conn:
            conn.execute(tables.events.insert().values(
                id="e", title="t", kind="forum", timezone="UTC", registered_start=start,
                registered_end=start + timedelta(hours=1), source_file="f", source_sha256="s",
                registration_json="{}", updated_at=start))
        log = DispatchLog(session.database.engine)
        window = Dispatch("e", start, start + timedelta(hours=1), start, start + timedelta(hours=2), 1,
                          start, "alpha pid 1")
        inside, release = threading.Event(), threading.Event()
        results: dict[str, object] = {}

        def first() -> None:
            with log.sending(window) as sent:
                results["first"] = sent
                inside.set()
                release.wait(10)

        def second() -> None:
            with log.sending(window) as sent:
                results["second"] = sent

        one = threading.Thread(target=first)
        one.start()
        assert inside.wait(10)
        two = threading.Thread(target=second)
        two.start()
        time.sleep(0.5)
        assert "second" not in results  # waiting on the first one's row
        release.set()
        one.join(10)
        two.join(10)
        assert isinstance(results["first"], Dispatch)
        assert results["second"] is None

        failed = Dispatch("e", start, start + timedelta(hours=3), start, start + timedelta(hours=4), 1, start, "a")
        with pytest.raises(ConnectionError), log.sending(failed):
            raise ConnectionError("broker unreachable")
        with log.sending(failed) as sent:
            assert sent is not None


def test_the_active_scheduler_raises_and_delivers_schedule_alerts(
        tmp_path: Path, postgres_url: str, schedules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Distributed mode's schedule alerts (a no-show here) come from the active scheduler, once."""
    monkeypatch.setenv("LIVEWATCH_WEBHOOK_SECRET", WEBHOOK_SECRET)
    receiver = WebhookReceiver(WEBHOOK_SECRET.encode())
    now = datetime.now(UTC)
    path = write_event(schedules, "ghost", URL, now - timedelta(minutes=1), now + timedelta(minutes=5))
    path.write_text(path.read_text() + "tolerances: {late_start: 0}\n")
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, alerts=[
        {"name": "hook", "type": "webhook", "url": receiver.url, "min_severity": "info"}])
    made = [SchedulerRole(settings, [schedules], Sent(), identity=SchedulerIdentity(host, 1))
            for host in ("alpha", "beta")]
    try:
        for role in made:
            role.start()
            role.poll()
        assert [role.active for role in made] == [True, False]
        [got] = receiver.wait_for(lambda got: len(got) >= 1, timeout=20)
        time.sleep(2.5)  # a full watch interval: seen again, not sent again (and never by the standby)
    finally:
        for role in made:
            role.shutdown()
        receiver.stop()
    assert got.signature_ok
    assert got.payload["idempotency_key"].endswith("|no-show")
    assert got.payload["event"]["id"] == "ghost"
    assert len(receiver.received) == 1


def test_a_task_reading_its_window_while_it_is_sent_again_waits_for_the_new_generation(settings: Settings) -> None:
    """The capture task's message can arrive before the scheduler's transaction commits: its read of the row
    waits for that commit and gets the generation it was sent as."""
    with Session.open(settings) as session:
        start = datetime(2026, 12, 2, 12, tzinfo=UTC)
        with session.database.engine.begin() as conn:
            conn.execute(tables.events.insert().values(
                id="e", title="t", kind="forum", timezone="UTC", registered_start=start,
                registered_end=start + timedelta(hours=1), source_file="f", source_sha256="s",
                registration_json="{}", updated_at=start))
        log = DispatchLog(session.database.engine)
        window = Dispatch("e", start, start + timedelta(hours=1), start, start + timedelta(hours=2), 1,
                          start, "alpha pid 1")
        with log.sending(window):
            pass
        assert log.cancel("e", start, start + timedelta(hours=1), StopSignal.RESCHEDULED)
        read: list[Dispatch | None] = []
        reader = threading.Thread(target=lambda: read.append(log.latest("e", start)))
        with log.sending(window) as again:
            assert again is not None
            assert again.generation == 2
            reader.start()  # the worker, reading while the send is not committed yet
            time.sleep(0.5)
            assert read == []
        reader.join(10)
        [seen] = read
        assert seen is not None
        assert (seen.generation, seen.cancelled_at) == (2, None)
