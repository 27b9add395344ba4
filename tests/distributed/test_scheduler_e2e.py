"""`livewatch scheduler` and `livewatch worker` processes on real PostgreSQL and RabbitMQ record a live stream
from the test origin: the scheduler arms the registered event, sends its capture when it falls due, and a
worker records the one run of its window."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from livewatch.settings import BROKER_URL_ENV
from livewatch.state import Database, DataDir, tables
from livewatch.state.dispatches import DispatchLog
from tests.capture.conftest import now, run_facts, write_event
from tests.support.origin import LiveOrigin, wait_for_playlist

pytestmark = pytest.mark.slow


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[LiveOrigin]:
    with LiveOrigin(tmp_path / "origin", speech="The scheduler sends this capture.") as live:
        live.start()
        wait_for_playlist(live.url, min_segments=2)
        yield live


def test_a_scheduler_and_a_worker_record_an_event(tmp_path: Path, postgres_url: str, rabbitmq_url: str,
                                                  origin: LiveOrigin) -> None:
    data = DataDir(tmp_path / "data")
    config = tmp_path / "livewatch.toml"
    config.write_text(f'data_dir = "{data.root}"\ndatabase_url = "{postgres_url}"\n[transcriber]\nenabled = false\n'
                      "[screen]\nenabled = false\n[distributed]\nstandby_poll_s = 0.5\n", encoding="utf-8")
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    t0 = now()
    start, end = t0 + timedelta(seconds=3), t0 + timedelta(seconds=13)
    write_event(schedules, "e2e", origin.url, start, end)
    env = {**os.environ, BROKER_URL_ENV: rabbitmq_url}
    env.pop("LIVEWATCH_DATABASE_URL", None)
    base = [sys.executable, "-m", "livewatch", "--config", str(config)]
    commands = {
        "scheduler": [*base, "scheduler", "--schedules", str(schedules), "--reload-interval", "0.5"],
        "worker": [*base, "worker", "--queues", "capture", "--concurrency", "2", "--hostname", "e2e@test"],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            with (tmp_path / f"{name}.log").open("wb") as log:
                processes[name] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: status(postgres_url, "e2e") == "finished", 60, "the run to finish")
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for name in commands:
            sys.stderr.write(f"--- {name}\n{(tmp_path / f'{name}.log').read_text(errors='replace')[-3000:]}\n")
    facts = run_facts(data, "e2e", postgres_url)  # exactly one run
    assert (facts.run.registered_start, facts.run.registered_end) == (start, end)
    assert len(facts.audio) >= 3
    assert [s.seq for s in facts.audio] == list(range(len(facts.audio)))
    with Database(postgres_url, migrate=False) as db:
        [sent] = DispatchLog(db.engine).all()
    assert (sent.event_id, sent.window_start, sent.generation, sent.cancelled_at) == ("e2e", start, 1, None)
    assert "Traceback" not in (tmp_path / "scheduler.log").read_text(errors="replace")


def status(database: str, event_id: str) -> str | None:
    with Database(database, migrate=False) as db, db.engine.connect() as conn:
        return conn.execute(select(tables.runs.c.status).where(tables.runs.c.event_id == event_id)
                            .order_by(tables.runs.c.id.desc()).limit(1)).scalar()
