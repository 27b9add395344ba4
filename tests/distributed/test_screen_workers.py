"""``livewatch worker --queues screen,check`` processes on a real RabbitMQ and PostgreSQL, woken by a capture's
queue: a QR code on screen while two workers take its stream's frames, one of them SIGKILLed mid-appearance,
is one appearance and one finding."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from livewatch.distributed.app import send_screen
from livewatch.distributed.tasks import WorkerRuntime
from livewatch.pipeline import encode
from livewatch.pipeline.run_status import FINISHED
from livewatch.queue import SCREEN
from livewatch.settings import load_settings
from tests.distributed.test_screen_lanes import T0, frames, open_run, open_session
from tests.distributed.test_workers import Deployment, wait_until
from tests.screen_stage.media import WECHAT, screen_video

pytestmark = pytest.mark.slow


@pytest.fixture
def deployment(tmp_path: Path, postgres_url: str, rabbitmq_url: str) -> Iterator[Deployment]:
    made = Deployment(tmp_path, postgres_url, rabbitmq_url, transcribe=False)
    made.config.write_text(f'database_url = "{postgres_url}"\n[transcriber]\nenabled = false\n'
                           '[screen]\nreaders = ["qr"]\n', encoding="utf-8")
    try:
        yield made
    finally:
        made.stop()


def test_a_stream_read_by_a_killed_worker_and_then_another_is_one_appearance_and_one_finding(
    tmp_path: Path, deployment: Deployment
) -> None:
    media = screen_video(tmp_path)
    with open_session(deployment.data.root, deployment.database) as session:
        run_id = open_run(session)
        shot = frames(session, media, run_id)

        # A capture task's own queue: each frame queued wakes the screen queue.
        settings = load_settings(deployment.config).model_copy(update={"data_dir": deployment.data.root})
        runtime = WorkerRuntime(deployment.app, settings)
        capture_queue = runtime.ctx.queue

        def sent(batch: range) -> None:
            for frame in (shot[index] for index in batch):
                assert capture_queue.put(SCREEN, frame.queue_key, encode(frame))

        first = deployment.start_worker("first", "screen,check")
        deployment.start_worker("second", "screen,check")  # both take the stream's tasks, in turn
        sent(range(9))  # the code is on screen from 5 s
        wait_until(lambda: session.queue.backlog(SCREEN) == 0, 30, "the first worker to read nine frames")
        kept = session.screen.lane_memory(run_id, 0)
        assert kept is not None
        assert '"open":[{' in kept.memory_json  # the code is open, in the store
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        sent(range(9, len(shot)))
        session.runs.finish_run(run_id, FINISHED, "test")
        send_screen(deployment.app, run_id, 0)  # the capture's end: finish the stream once it is read

        def finished() -> bool:
            memory = session.screen.lane_memory(run_id, 0)
            return memory is not None and memory.finished

        wait_until(finished, 30, "the second worker to read the rest and finish the stream")
        items = session.screen.items(run_id)
        assert [(i.text, i.start_at, i.end_at) for i in items] == [
            (WECHAT, T0.replace(second=5), T0.replace(second=12))]

        def screen_findings() -> list[str]:
            return [f.matched for f in session.findings.headlines("forum") if f.channel == "screen"]

        wait_until(screen_findings, 30, "the final check's finding")
        assert screen_findings() == [WECHAT]
        assert "Traceback" not in deployment.log_of("second")
        runtime.session.close()
