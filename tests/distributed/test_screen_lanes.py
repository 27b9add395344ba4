"""A stream's screen lane across workers (PostgreSQL advisory locks, the stage's memory in the store): a code
on screen while its frames are read by two workers in turn is one appearance and one finding; a holder killed
mid-frame loses its lane and its frame to the next holder, which reads it once; the stream is finished once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select

from livewatch.analyze import frames_argv
from livewatch.distributed.lanes import check_event_now
from livewatch.distributed.screen_lane import screen_lane
from livewatch.monitor.screen_stage import ScreenStage
from livewatch.pipeline import encode
from livewatch.pipeline.run_status import FINISHED
from livewatch.pipeline.screen import CapturedFrame
from livewatch.queue import SCREEN
from livewatch.registration.models import Event
from livewatch.screen.base import Reading, ScreenReader
from livewatch.screen.qr import QrReader
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state import tables
from tests.screen_stage.media import WECHAT, screen_video

T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
#: How long a process-level test may wait for its child.
CHILD_TIMEOUT_S = 60.0


def open_session(data_root: Path, url: str) -> Session:
    return Session.open(Settings.model_validate({"data_dir": str(data_root), "database_url": url,
                                                 "screen": {"readers": ["qr"]}}), migrate=False)


def stage_of(session: Session, readers: list[ScreenReader] | None = None) -> ScreenStage:
    """A worker's stage: its own readers and memory, the shared store."""
    return ScreenStage(session.screen, session.data, readers or [QrReader()])


def open_run(session: Session) -> int:
    event = Event.model_validate({
        "id": "forum", "title": "Forum", "kind": "forum", "category": "knowledge", "organizer": {"name": "Org"},
        "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(), "language": "en",
        "streams": [{"url": "https://live.example.com/1"}],
    })
    with session.engine.begin() as conn:
        conn.execute(tables.events.insert().values(
            id="forum", title="Forum", kind="forum", timezone="UTC", registered_start=T0,
            registered_end=T0 + timedelta(hours=1), source_file="x.yaml", source_sha256="0",
            registration_json=event.model_dump_json(), updated_at=T0))
    run = session.runs.open_run("forum", T0, T0 + timedelta(hours=1))
    assert run is not None
    return run.id


def frames(session: Session, media: Path, run_id: int) -> list[CapturedFrame]:
    """The video's frames (1 a second) in the event's frames folder, as the capture writes them."""
    folder = session.data.ensure_event("forum") / "frames"
    argv = frames_argv(media, folder, fps=1.0, max_width=960)
    argv[-1] = str(folder / "s0-c0-%08d.jpg")
    subprocess.run(argv, check=True)
    return [CapturedFrame("forum", run_id, 0, 0, path, T0 + timedelta(seconds=int(path.stem[-8:])), 1.0)
            for path in sorted(folder.glob("s0-c0-*.jpg"))]


def put(session: Session, frame: CapturedFrame) -> None:
    session.queue.put(SCREEN, frame.queue_key, encode(frame))


def queue_items(session: Session) -> list[tuple[str, str, int]]:
    t = tables.work_queue
    with session.engine.connect() as conn:
        return [(row.item_key, row.status, row.attempts) for row in conn.execute(
            select(t).where(t.c.queue == SCREEN).order_by(t.c.id))]


def assert_one_appearance(session: Session, run_id: int) -> None:
    items = session.screen.items(run_id)
    assert [(i.item, i.text, i.start_at, i.end_at) for i in items] == [
        ("code", WECHAT, T0 + timedelta(seconds=5), T0 + timedelta(seconds=12))]
    assert items[0].frame.is_file()  # the evidence stays, whichever worker read it


def test_a_code_read_by_two_workers_in_turn_is_one_appearance_and_one_finding(tmp_path: Path,
                                                                              postgres_url: str) -> None:
    media = screen_video(tmp_path)
    with open_session(tmp_path / "data", postgres_url) as one, open_session(tmp_path / "data", postgres_url) as two:
        run_id = open_run(one)
        workers = [(one, stage_of(one)), (two, stage_of(two))]
        news: list[tuple[str, bool]] = []
        shot = frames(one, media, run_id)
        assert len(shot) == 20
        for index, frame in enumerate(shot):  # each frame's task lands on the other worker
            put(one, frame)
            session, stage = workers[index % 2]
            assert screen_lane(session, stage, run_id, 0, on_news=lambda e, f: news.append((e, f))) == 1
            assert stage.streams() == []  # nothing kept in the worker once its lane is let go
        # ffmpeg's picture metadata (all written at once here) with the first frame, then the code when it
        # appeared: never again however often the stream changed hands.
        assert news == [("forum", False)] * 2
        one.runs.finish_run(run_id, FINISHED, "test")
        assert screen_lane(two, workers[1][1], run_id, 0, on_news=lambda e, f: news.append((e, f))) == 0
        assert news[-1] == ("forum", True)  # finished: what was on screen closed
        kept = one.screen.lane_memory(run_id, 0)
        assert kept is not None
        assert kept.finished
        # Finished once: a later task finds nothing to do.
        assert screen_lane(one, workers[0][1], run_id, 0, on_news=lambda e, f: news.append((e, f))) == 0
        assert news[-1] == ("forum", True)
        assert len(news) == 3
        assert_one_appearance(one, run_id)
        assert {status for _, status, _ in queue_items(one)} == {"done"}
        check_event_now(one, "forum", True)
        findings = [f for f in one.findings.headlines("forum") if f.channel == "screen"]
        assert len(findings) == 1, findings
        assert findings[0].matched == WECHAT


class Stalling(ScreenReader):
    """The QR reader, stalling (the marker file written) on the third frame it finds the code in: its worker
    is mid-frame, mid-appearance."""

    name: ClassVar[str] = "qr"

    def __init__(self, marker: Path) -> None:
        self.inner, self.marker, self.seen = QrReader(), marker, 0

    def read(self, image: NDArray[np.uint8]) -> list[Reading]:
        found = self.inner.read(image)
        if found:
            self.seen += 1
            if self.seen == 3:
                self.marker.write_text("stalled", encoding="utf-8")
                time.sleep(CHILD_TIMEOUT_S)
        return found


def stalling_worker(data_root: str, url: str, run_id: int, marker: str, results: Any) -> None:
    with open_session(Path(data_root), url) as session:
        results.put(screen_lane(session, stage_of(session, [Stalling(Path(marker))]), run_id, 0))


def test_a_worker_killed_mid_frame_leaves_the_frame_to_the_next_holder_which_reads_it_once(
    tmp_path: Path, postgres_url: str
) -> None:
    media = screen_video(tmp_path)
    marker = tmp_path / "stalled"
    with open_session(tmp_path / "data", postgres_url) as session:
        run_id = open_run(session)
        shot = frames(session, media, run_id)
        for frame in shot:
            put(session, frame)
        session.runs.finish_run(run_id, FINISHED, "test")
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        child = context.Process(target=stalling_worker,
                                args=(str(tmp_path / "data"), postgres_url, run_id, str(marker), results))
        child.start()
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while not marker.exists():
            assert time.monotonic() < deadline
            assert child.is_alive()
            time.sleep(0.02)
        stage = stage_of(session)
        assert screen_lane(session, stage, run_id, 0) == 0  # the lane is the child's
        claimed = [key for key, status, _ in queue_items(session) if status == "claimed"]
        assert len(claimed) == 1
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(CHILD_TIMEOUT_S)
        started = time.monotonic()
        while not (done := screen_lane(session, stage, run_id, 0)):
            assert time.monotonic() - started < 10, "no task took over the killed holder's lane and frame"
            time.sleep(0.05)
        items = queue_items(session)
        assert done == len(shot) - [key for key, _, _ in items].index(claimed[0])  # from the stalled one on
        assert {status for _, status, _ in items} == {"done"}
        assert {key: attempts for key, _, attempts in items if attempts > 1} == dict.fromkeys(claimed, 2)
        assert_one_appearance(session, run_id)
        kept = session.screen.lane_memory(run_id, 0)
        assert kept is not None
        assert kept.finished
