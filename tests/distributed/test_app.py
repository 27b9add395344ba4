"""The deployment's Celery app: its broker and database requirements, delivery settings and routes; the
capture lease on a real PostgreSQL; `livewatch worker`'s refusals (exit codes, no traceback)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.cli import cli
from livewatch.distributed.app import broker_url, make_celery, require_postgresql
from livewatch.distributed.names import (
    CAPTURE_QUEUE,
    CAPTURE_TASK,
    CHECK_QUEUE,
    CHECK_TASK,
    SCREEN_QUEUE,
    SCREEN_TASK,
    TRANSCRIBE_QUEUE,
    TRANSCRIBE_TASK,
)
from livewatch.distributed.wakeups import WakingQueue
from livewatch.errors import ConfigError, StateError
from livewatch.session import Session
from livewatch.settings import BROKER_URL_ENV, Settings
from livewatch.state.capture_lease import lease_key, try_capture_lease

PG = "postgresql+psycopg://livewatch@db.example/livewatch"
START = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_the_broker_url_comes_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BROKER_URL_ENV, raising=False)
    with pytest.raises(ConfigError, match=BROKER_URL_ENV):
        broker_url()
    monkeypatch.setenv(BROKER_URL_ENV, "redis://:s3cret@host/0")
    with pytest.raises(ConfigError, match="AMQP") as raised:
        broker_url()
    assert "s3cret" not in str(raised.value)
    monkeypatch.setenv(BROKER_URL_ENV, "amqp://lw:s3cret@rabbit:5672/livewatch")
    assert broker_url() == "amqp://lw:s3cret@rabbit:5672/livewatch"


def test_distributed_mode_refuses_sqlite(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PostgreSQL"):
        require_postgresql(Settings(data_dir=tmp_path))
    with pytest.raises(ConfigError, match="not sqlite"):
        require_postgresql(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db"))
    assert require_postgresql(Settings(data_dir=tmp_path, database_url=PG)) == PG


def test_the_app_acknowledges_late_prefetches_one_and_routes_by_name(tmp_path: Path) -> None:
    app = make_celery(Settings(data_dir=tmp_path, database_url=PG), broker="amqp://guest:guest@127.0.0.1:1//")
    conf = app.conf
    assert conf.task_acks_late
    assert conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_ignore_result
    assert conf.result_backend is None
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.broker_connection_retry_on_startup
    assert 0 < conf.broker_connection_timeout <= 30
    assert {task: route["queue"] for task, route in conf.task_routes.items()} == {
        CAPTURE_TASK: CAPTURE_QUEUE, TRANSCRIBE_TASK: TRANSCRIBE_QUEUE, CHECK_TASK: CHECK_QUEUE,
        SCREEN_TASK: SCREEN_QUEUE}
    assert {queue.name for queue in conf.task_queues} == {CAPTURE_QUEUE, TRANSCRIBE_QUEUE, CHECK_QUEUE, SCREEN_QUEUE}


def test_worker_refusals_are_one_line_with_the_configuration_exit_code(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BROKER_URL_ENV, raising=False)
    runner = CliRunner()
    sqlite = runner.invoke(cli, ["--data", str(tmp_path), "worker"])
    assert sqlite.exit_code == 2, sqlite.output
    assert "PostgreSQL" in sqlite.output
    assert "Traceback" not in sqlite.output
    config = tmp_path / "livewatch.toml"
    config.write_text(f'database_url = "{PG}"\n', encoding="utf-8")
    no_broker = runner.invoke(cli, ["--config", str(config), "--data", str(tmp_path), "worker"])
    assert no_broker.exit_code == 2, no_broker.output
    assert BROKER_URL_ENV in no_broker.output
    unknown = runner.invoke(cli, ["--config", str(config), "worker", "--queues", "capture,video"])
    assert unknown.exit_code == 2
    assert "video" in unknown.output


def test_one_capture_lease_per_window_released_with_its_holder(postgres_url: str, tmp_path: Path) -> None:
    session = Session.open(Settings(data_dir=tmp_path, database_url=postgres_url))
    try:
        engine = session.engine
        first = try_capture_lease(engine, "ev", START)
        assert first is not None
        assert try_capture_lease(engine, "ev", START) is None  # another session: taken
        other = try_capture_lease(engine, "ev", START.replace(hour=13))  # another window: free
        assert other is not None
        other.release()
        first.release()
        again = try_capture_lease(engine, "ev", START)
        assert again is not None
        again.release()
        assert lease_key("ev", START) != lease_key("ev2", START)
    finally:
        session.database.close()


def test_capture_leases_need_postgresql(tmp_path: Path) -> None:
    session = Session.open(Settings(data_dir=tmp_path))
    try:
        with pytest.raises(StateError, match="PostgreSQL"):
            try_capture_lease(session.engine, "ev", START)
    finally:
        session.database.close()


def test_a_queued_item_wakes_a_worker_and_a_failed_wakeup_loses_nothing(tmp_path: Path) -> None:
    session = Session.open(Settings(data_dir=tmp_path))
    woken: list[tuple[str, dict[str, object]]] = []
    failing = threading.Event()

    def wake(queue: str, payload: dict[str, object]) -> None:
        if failing.is_set():
            raise ConnectionError("broker away")
        woken.append((queue, payload))

    try:
        queue = WakingQueue(session.queue, wake)
        assert queue.put("transcribe", "1:0:0", {"run_id": 1, "stream": 0})
        assert not queue.put("transcribe", "1:0:0", {"run_id": 1, "stream": 0})  # already there: no wake-up
        failing.set()
        assert queue.put("transcribe", "1:0:1", {"run_id": 1, "stream": 0})
        assert woken == [("transcribe", {"run_id": 1, "stream": 0})]
        assert queue.backlog("transcribe") == 2
    finally:
        session.database.close()
