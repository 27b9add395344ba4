"""The distributed roles beside ``livewatch demo``, on its one broadcast: a ``livewatch scheduler`` reading the
demo's schedules folder (the registration folder shared, as docs/distributed.md asks of every scheduler machine)
and two ``livewatch worker`` processes, with their own data folder (media, reports) and their state in
PostgreSQL, on RabbitMQ. The demo registers its event there; both sides record it from the same origin, and
each side's findings are held against the plants with the demo's own machinery (:func:`evaluate`)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from livewatch.demo.run import DemoResult, evaluate, model_for, prepare_model, stage, write_config
from livewatch.demo.script import Script
from livewatch.demo.synth import Track
from livewatch.queue import TRANSCRIBE
from livewatch.settings import Settings, load_settings
from livewatch.state import Database, DataDir, tables
from tests.support.roles import Roles, purge_queues, wait_until

#: The worker that captures and checks, and the one that transcribes and reads the screen (one Whisper per side
#: on 2 cores).
CAPTURE_WORKER, TRANSCRIBE_WORKER = "capture-check", "transcribe"


#: A celery worker's log line about a task: its time (the logging module's default, local time, to the
#: millisecond), the task's name and id, and what became of it.
_TASK_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) INFO celery\.\S+: "
                        r"Task (\S+)\[([0-9a-f-]+)\] (received|succeeded|failed|raised|retry)", re.MULTILINE)


def task_lines(log: str, task: str) -> list[tuple[float, str, str]]:
    """(epoch seconds, task id, what) of each line of ``log`` about a ``task`` task, in log order."""
    return [(time.mktime(time.strptime(when, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000, task_id, what)
            for when, ms, name, task_id, what in _TASK_LINE.findall(log) if name == task]


def tasks_running(log: str, task: str) -> bool:
    """Whether a ``task`` task the worker received has not ended yet."""
    lines = task_lines(log, task)
    return bool({i for _, i, what in lines if what == "received"} - {i for _, i, what in lines if what != "received"})


def checked_after(log: str, moment: float) -> bool:
    """Whether a ``check`` task received at or after ``moment`` (epoch seconds; the log counts milliseconds)
    succeeded, and no check is still running. Checks of an event take turns and each reads the transcript once
    it has its turn, so the report is then one written from everything committed before ``moment``."""
    lines = task_lines(log, "livewatch.check")
    since = {i for when, i, what in lines if what == "succeeded" and i in
             {j for at, j, seen in lines if seen == "received" and at >= int(moment * 1000) / 1000}}
    return bool(since) and not tasks_running(log, "livewatch.check")


def heard_during(transcript: Path, start: datetime, end: datetime) -> str:
    """The checking text (Simplified) of the spans of a ``transcript.jsonl`` that overlap ``start``–``end``."""
    spans = [json.loads(line) for line in transcript.read_text(encoding="utf-8").splitlines() if line]
    return "".join(span["text_check"] for span in spans
                   if datetime.fromisoformat(span["start"]) < end and datetime.fromisoformat(span["end"]) > start)


def transcription_lags(database: Path | str) -> list[float]:
    """Seconds from each audio segment's close (queued) to its transcript's commit (done), in queue order."""
    q = tables.work_queue
    with Database(database, migrate=False) as db, db.engine.connect() as conn:
        rows = conn.execute(select(q.c.enqueued_at, q.c.finished_at).where(q.c.queue == TRANSCRIBE)
                            .order_by(q.c.id)).all()
    return [(finished - queued).total_seconds() for queued, finished in rows if finished is not None]


@dataclass
class DistributedSide:
    """A scheduler and two workers on PostgreSQL and RabbitMQ, reading ``schedules`` (the demo's folder)."""

    root: Path
    schedules: Path
    database_url: str
    broker_url: str
    settings: Settings = field(init=False)
    roles: Roles = field(init=False)
    ready_s: float = 0.0  # from the first process started to all three roles ready

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.schedules.mkdir(parents=True, exist_ok=True)
        # The demo's own configuration (capture settings, no [transcriber]: the event's language picks the
        # model), its state in PostgreSQL; the scheduler is pointed at the demo's schedules folder.
        config = write_config(self.root, self.database_url)
        self.settings = load_settings(config)
        self.roles = Roles(config, self.broker_url, self.root)

    def start(self, script: Script) -> None:
        """The three roles, ready to take the demo's event (the model imported into this side's store first)."""
        prepare_model(self.settings, model_for(script), lambda _: None)
        purge_queues(self.broker_url)
        began = time.monotonic()
        self.roles.scheduler(self.schedules)
        self.roles.worker(CAPTURE_WORKER, "capture,check", concurrency=2)
        # The frames the capture writes are read beside Whisper: one thread each.
        self.roles.worker(TRANSCRIBE_WORKER, "transcribe,screen", concurrency=2)
        wait_until(lambda: all(" ready." in self.roles.log_of(name) for name in (CAPTURE_WORKER, TRANSCRIBE_WORKER))
                   and "is now the active scheduler" in self.roles.log_of("scheduler"), 90, "the roles to be ready")
        self.ready_s = time.monotonic() - began

    def stop(self) -> None:
        self.roles.stop()
        purge_queues(self.broker_url)

    def done(self, event_id: str) -> bool:
        """The run finished, every segment transcribed, the stream flushed, and a check that began after the
        flush has written the report: only such a check read the whole transcript. Any earlier check may say
        "(final)" too (a screen check once the run is over includes the audio), so that word proves nothing."""
        q, progress = tables.work_queue, tables.transcription_progress
        with Database(self.database_url, migrate=False) as db, db.engine.connect() as conn:
            status = conn.execute(select(tables.runs.c.status).where(tables.runs.c.event_id == event_id)).scalar()
            pending = conn.execute(select(func.count()).where(q.c.queue == TRANSCRIBE, q.c.status != "done")).scalar()
            flushed = [row[0] for row in conn.execute(select(progress.c.flushed))]
        if not (status == "finished" and pending == 0 and bool(flushed) and all(flushed)):
            return False
        # The holder that flushed writes the transcript files after its commit, then sends its check: so no
        # transcribe task may still be running, and the files' time is the flush's (they are written at no
        # other time on this side).
        if tasks_running(self.roles.log_of(TRANSCRIBE_WORKER), "livewatch.transcribe"):
            return False
        written = DataDir(self.settings.data_dir).transcripts_dir(event_id) / "transcript.jsonl"
        if not written.is_file():
            return False
        return checked_after(self.roles.log_of(CAPTURE_WORKER), written.stat().st_mtime)

    def evaluate(self, script: Script, event_id: str, zero: datetime, track: Track) -> DemoResult:
        return evaluate(self.root, self.settings, script, event_id, zero, track, stage(script, track))
