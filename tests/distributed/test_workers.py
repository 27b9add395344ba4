"""`livewatch worker` processes on a real RabbitMQ and PostgreSQL, recording a live stream from the test origin:
one event end to end, and a worker stopped, then another killed, mid-event whose capture another worker resumes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import func, select

from livewatch.distributed.app import make_celery, send_capture
from livewatch.queue import TRANSCRIBE
from livewatch.registration import validate_registrations
from livewatch.settings import BROKER_URL_ENV, load_settings
from livewatch.state import Database, DataDir, tables
from livewatch.state.dispatches import DispatchLog
from tests.capture.conftest import now, run_facts, write_event
from tests.capture.test_monitor import ffmpeg_writing_into
from tests.support.origin import LiveOrigin, wait_for_playlist
from tests.support.rabbitmq import RabbitBroker
from tests.support.roles import purge_queues

pytestmark = pytest.mark.slow

#: Seconds of media the origin's playlist lists (two 2-second segments).
PLAYLIST_SPAN_S = 4.0


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveOrigin]:
    # A short playlist (two 2-second segments): a capture resumed later than that cannot fetch what it missed
    # from the origin, so the downtime shows on the gap ledger.
    with LiveOrigin(tmp_path_factory.mktemp("origin"), speech="Testing the workers of the monitor.",
                    list_size=round(PLAYLIST_SPAN_S / 2)) as live:
        live.start()
        wait_for_playlist(live.url, min_segments=2)
        yield live


class Deployment:
    """A scheduler's side in miniature (the events synced, captures sent) and the workers it starts."""

    def __init__(self, root: Path, database: str, broker: str, *, transcribe: bool) -> None:
        self.root, self.database, self.broker = root, database, broker
        self.schedules = root / "schedules"
        self.schedules.mkdir()
        self.data = DataDir(root / "data")
        self.config = root / "livewatch.toml"
        transcriber = '[transcriber]\nlanguage = "en"\n' if transcribe else "[transcriber]\nenabled = false\n"
        self.config.write_text(f'database_url = "{database}"\n{transcriber}[screen]\nenabled = false\n',
                               encoding="utf-8")
        self.settings = load_settings(self.config).model_copy(update={"data_dir": self.data.root})
        self.app: Celery = make_celery(self.settings, broker=broker)
        self.purge()  # the session's broker: nothing a previous test left behind is taken
        self.workers: list[subprocess.Popen[bytes]] = []

    def register(self, event_id: str, url: str, start: datetime, end: datetime) -> None:
        write_event(self.schedules, event_id, url, start, end)
        with Database(self.database) as db:
            db.sync_events(validate_registrations([self.schedules], self.settings).registrations)

    def start_worker(self, name: str, queues: str = "capture,transcribe,check", *extra: str) -> subprocess.Popen[bytes]:
        return self._start(name, ["worker", "--queues", queues, "--concurrency", "4", "--hostname", f"{name}@test",
                                  *extra])

    def start_scheduler(self) -> subprocess.Popen[bytes]:
        return self._start("scheduler", ["scheduler", "--schedules", str(self.schedules), "--reload-interval", "0.5"])

    def _start(self, name: str, role: list[str]) -> subprocess.Popen[bytes]:
        env = {**os.environ, BROKER_URL_ENV: self.broker}
        command = [sys.executable, "-m", "livewatch", "--config", str(self.config), "--data", str(self.data.root),
                   *role]
        log = (self.root / f"{name}.log").open("wb")
        worker = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.workers.append(worker)
        return worker

    def log_of(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def status(self, event_id: str) -> str | None:
        with Database(self.database, migrate=False) as db, db.engine.connect() as conn:
            return conn.execute(select(tables.runs.c.status).where(tables.runs.c.event_id == event_id)
                                .order_by(tables.runs.c.id.desc()).limit(1)).scalar()

    def count(self, table: str) -> int:
        with Database(self.database, migrate=False) as db, db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tables.metadata.tables[table])).scalar() or 0)

    def pending_transcriptions(self) -> int:
        q = tables.work_queue
        with Database(self.database, migrate=False) as db, db.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(q.c.queue == TRANSCRIBE, q.c.status != "done"))
                       .scalar() or 0)

    def flushed(self) -> bool:
        with Database(self.database, migrate=False) as db, db.engine.connect() as conn:
            rows = list(conn.execute(select(tables.transcription_progress.c.flushed)))
        return bool(rows) and all(row[0] for row in rows)

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        self.purge()  # nor for the next test
        self.app.close()

    def purge(self) -> None:
        """Empty the three queues, on a connection of its own (a broker restart leaves the app's pooled one dead)."""
        purge_queues(self.broker)


@pytest.fixture
def deployment(tmp_path: Path, postgres_url: str, rabbitmq_url: str) -> Iterator[Callable[[bool], Deployment]]:
    made: list[Deployment] = []

    def make(transcribe: bool) -> Deployment:
        made.append(Deployment(tmp_path, postgres_url, rabbitmq_url, transcribe=transcribe))
        return made[-1]

    yield make
    for deployment in made:
        deployment.stop()


def test_a_worker_records_transcribes_and_checks_an_event(deployment: Callable[[bool], Deployment],
                                                          origin: LiveOrigin) -> None:
    """The whole path across roles: a `livewatch scheduler` arms the registered event and sends its capture when
    it falls due (once); a `livewatch worker` records the one run of its window, transcribes each closed segment
    and checks the event."""
    site = deployment(True)
    t0 = now()
    start, end = t0 + timedelta(seconds=3), t0 + timedelta(seconds=15)
    write_event(site.schedules, "one", origin.url, start, end)
    site.start_scheduler()
    site.start_worker("w1", "capture,transcribe,check", "--metrics-port", "0")
    wait_until(lambda: site.status("one") == "finished", 60, "the run to finish")
    assert "capture task sent" in site.log_of("scheduler")
    facts = run_facts(site.data, "one", site.database)  # exactly one run, of the registered window
    assert (facts.run.registered_start, facts.run.registered_end) == (start, end)
    assert len(facts.audio) >= 4
    assert [s.seq for s in facts.audio] == list(range(len(facts.audio)))
    # The scheduler sent the window's capture once, and never told it to stop.
    with Database(site.database, migrate=False) as db:
        [sent] = DispatchLog(db.engine).all()
    assert (sent.event_id, sent.window_start, sent.generation, sent.cancelled_at) == ("one", start, 1, None)
    # Every closed segment woke the transcribe queue, and the stream was flushed once the run had ended.
    wait_until(lambda: site.pending_transcriptions() == 0 and site.flushed(), 90, "every segment transcribed")
    assert site.count("transcripts") > 0
    # The transcript grew and was checked, and once more, finally, after the flush: the report is written.
    wait_until(lambda: "(final)" in site.log_of("w1"), 60, "the final check")
    assert (site.data.report_dir("one") / "report.html").is_file()
    assert "Traceback" not in site.log_of("w1")
    assert "Traceback" not in site.log_of("scheduler")
    # The worker's Prometheus metrics: the database's (as every role serves them) and its own.
    url = re.search(r"serving Prometheus metrics at (\S+)", site.log_of("w1"))
    assert url is not None, "the worker announces its metrics URL"
    metrics = scrape(url.group(1))
    assert metrics["livewatch_up"] == 1
    assert metrics['livewatch_queue_items{queue="transcribe",status="done"}'] == len(facts.audio)
    assert metrics['livewatch_worker_tasks_total{outcome="done",queue="capture"}'] == 1
    assert metrics['livewatch_worker_tasks_total{outcome="done",queue="transcribe"}'] >= 1
    assert metrics['livewatch_worker_tasks_total{outcome="done",queue="check"}'] >= 1
    assert metrics['livewatch_worker_tasks_total{outcome="failed",queue="transcribe"}'] == 0
    assert (metrics["livewatch_worker_lanes_held"], metrics["livewatch_worker_captures_running"]) == (0, 0)
    recorded_s = sum((s.end_at - s.start_at).total_seconds() for s in facts.audio)
    assert abs(metrics["livewatch_worker_transcribed_audio_seconds_total"] - recorded_s) < 0.5, recorded_s
    assert metrics['livewatch_worker_consumes{queue="capture"}'] == 1


def scrape(url: str) -> dict[str, float]:
    """A Prometheus text exposition as {"name{labels}": value} (labels as the client library sorts them)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_a_removed_event_stops_its_capture(deployment: Callable[[bool], Deployment], origin: LiveOrigin) -> None:
    """The scheduler flags the capture task of an event removed from the registrations; the worker recording
    it stops within seconds and closes its run as cancelled, as `livewatch run` does."""
    site = deployment(False)
    t0 = now()
    path = write_event(site.schedules, "gone", origin.url, t0 + timedelta(seconds=2), t0 + timedelta(seconds=60))
    site.start_scheduler()
    site.start_worker("w1", "capture")
    wait_until(lambda: site.status("gone") == "recording", 30, "recording to start")
    path.unlink()
    removed_at = time.monotonic()
    wait_until(lambda: site.status("gone") == "cancelled", 20, "the capture to stop")
    stopped_in = time.monotonic() - removed_at
    print(f"capture stopped {stopped_in:.1f} s after the registration was removed")
    assert stopped_in < 12
    assert ffmpeg_writing_into(site.data.root) == []
    assert "event removed from the registrations; stopping the capture" in site.log_of("w1")


def test_a_stopped_workers_capture_is_handed_over_and_a_killed_ones_resumed(
        deployment: Callable[[bool], Deployment], origin: LiveOrigin) -> None:
    """One event's capture through both ways a worker leaves, one after the other (one window, one wait):

    * SIGTERM (a deploy): the worker stops its ffmpeg, leaves the run open and gives the task back to the broker
      unacknowledged; the other worker continues the same run at once.
    * SIGKILL: the worker's ffmpeg dies with it; nothing records until a third worker, started later than the
      origin's playlist reaches back, resumes the same run; what went out meanwhile is on the gap ledger."""
    site = deployment(False)
    t0 = now()
    end = t0 + timedelta(seconds=37)
    site.register("faults", origin.url, t0 + timedelta(seconds=1), end)
    first = site.start_worker("w1", "capture")
    send_capture(site.app, "faults", t0 + timedelta(seconds=1))
    wait_until(lambda: site.status("faults") == "recording", 30, "recording to start")
    second = site.start_worker("w2", "capture")
    wait_until(lambda: "ready" in site.log_of("w2"), 30, "the second worker to be ready")
    # SIGTERM: handed over.
    began = time.monotonic()
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0
    stopped_in = time.monotonic() - began
    wait_until(lambda: site.count("connections") >= 2, 10, "the second worker to continue the run")
    handed_over_in = time.monotonic() - began
    handed_over_at = now()
    assert "left open for the next worker" in site.log_of("w1")
    assert "continuing run" in site.log_of("w2")
    assert stopped_in < 10, stopped_in
    assert handed_over_in < 12, handed_over_in
    print(f"stopped in {stopped_in:.1f} s, continued elsewhere {handed_over_in:.1f} s after the SIGTERM")
    time.sleep(4)
    # SIGKILL: the worker only. Its ffmpeg (in a session of its own, so no signal to the worker's group reaches
    # it) dies with it, by PR_SET_PDEATHSIG, instead of writing on into files nothing reads. Nothing records
    # until another worker resumes the run.
    assert ffmpeg_writing_into(site.data.root)
    second.send_signal(signal.SIGKILL)
    second.wait()
    killed_at = now()
    wait_until(lambda: ffmpeg_writing_into(site.data.root) == [], 2, "the killed worker's ffmpeg to die with it")
    print(f"its ffmpeg was gone {(now() - killed_at).total_seconds():.2f} s after the worker's SIGKILL")
    # Long enough past the origin's playlist that what is lost makes a gap (over the writer's 1.5 s) however
    # fast the next worker starts: once 4 s here and a 1.1 s start made 1.1 s, jitter rather than a gap.
    time.sleep(PLAYLIST_SPAN_S + 3)
    site.start_worker("w3", "capture")
    wait_until(lambda: site.count("connections") >= 3, 30, "a third worker to resume the run")
    resumed_after = (now() - killed_at).total_seconds()
    assert "continuing run" in site.log_of("w3")
    wait_until(lambda: site.status("faults") == "finished", 60, "the resumed run to finish")
    facts = run_facts(site.data, "faults", site.database)  # one run
    assert facts.run.started_at < handed_over_at
    assert len(facts.connections) == 3, [c.end_reason for c in facts.connections]
    assert facts.connections[1].end_reason == "monitor stopped unexpectedly; recovered"  # the killed worker's
    assert ffmpeg_writing_into(site.data.root) == []
    assert [s.seq for s in facts.audio] == list(range(len(facts.audio)))  # numbering continued
    explained = {(g.start_at, g.end_at) for g in facts.gaps}
    assert all(gap in explained for gap in facts.coverage_breaks())
    assert facts.audio[-1].end_at >= end - timedelta(seconds=2)
    assert resumed_after < 30, resumed_after
    # What went out while no worker recorded, less what the resumed one still found in the origin's playlist,
    # is on the gap ledger: one gap since the hand-over.
    gaps = [(g.end_at - g.start_at).total_seconds() for g in facts.gaps if g.end_at > handed_over_at]
    print(f"resumed {resumed_after:.1f} s after the kill; gaps on the ledger since the hand-over {gaps}; all",
          [(g.start_at, g.end_at) for g in facts.gaps])
    assert len(gaps) == 1, gaps
    assert abs(gaps[0] - (resumed_after - PLAYLIST_SPAN_S)) <= 2.5, (gaps, resumed_after)


def test_a_broker_restart_mid_event_never_starts_a_second_recorder(
        deployment: Callable[[bool], Deployment], origin: LiveOrigin, rabbitmq_broker: RabbitBroker) -> None:
    """The broker restarts while a worker records: RabbitMQ delivers the unacknowledged capture again (to any
    worker) while the first recording goes on. The second delivery waits for the window's capture lease
    instead of starting a second ffmpeg, and finds the window recorded when the first is done."""
    site = deployment(False)
    t0 = now()
    site.register("steady", origin.url, t0 + timedelta(seconds=1), t0 + timedelta(seconds=20))
    site.start_worker("w1", "capture")
    send_capture(site.app, "steady", t0 + timedelta(seconds=1))
    wait_until(lambda: site.status("steady") == "recording", 30, "recording to start")
    site.start_worker("w2", "capture")
    rabbitmq_broker.restart()
    wait_until(lambda: "another worker is recording this window" in site.log_of("w1") + site.log_of("w2"), 40,
               "the capture delivered again")
    wait_until(lambda: site.status("steady") == "finished", 40, "the run to finish")
    wait_until(lambda: "already recorded" in site.log_of("w1") + site.log_of("w2"), 20,
               "the second delivery to find the window recorded")
    facts = run_facts(site.data, "steady", site.database)  # one run
    assert len(facts.connections) == 1  # one recorder, never interrupted
    assert facts.gaps == []
    assert [s.seq for s in facts.audio] == list(range(len(facts.audio)))
