"""The screen stage in the real monitor: a live HLS origin whose picture shows a personal WeChat QR code is
recorded, its frames read as they come, and the one-shot monitor returns only once they are all read, with
the code stored as one appearance and found by the default pack on the screen channel."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from livewatch.demo.origin import FPS, SAMPLE_RATE, SIZE
from livewatch.queue import SCREEN
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state import DataDir, tables
from tests.capture.conftest import now, run_monitor_until_idle, write_event
from tests.screen_stage.media import WECHAT, qr_png
from tests.support.origin import LiveOrigin, wait_for_playlist

pytestmark = pytest.mark.slow


class CodeOrigin(LiveOrigin):
    """The live origin's test picture with a QR code over it all the time."""

    def __init__(self, workdir: Path, code: Path) -> None:
        self.code = code
        super().__init__(workdir)

    def encoder_argv(self, *, append: bool) -> list[str]:
        gop = max(1, round(FPS * self.segment_seconds))
        flags = "delete_segments+program_date_time+omit_endlist+temp_file" + ("+append_list" if append else "")
        return [
            "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning", "-y",
            "-re", "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={SAMPLE_RATE},volume=0.05",
            "-loop", "1", "-i", str(self.code),
            "-filter_complex", "[0:v][2:v]overlay=x=W-w-10:y=(H-h)/2[v]", "-map", "[v]", "-map", "1:a:0",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "64k", "-ar", str(SAMPLE_RATE), "-ac", "1",
            "-f", "hls", "-hls_time", f"{self.segment_seconds:g}", "-hls_list_size", str(self.list_size),
            "-hls_flags", flags, "-hls_segment_filename", str(self.workdir / "seg_%05d.ts"), str(self.playlist_path),
        ]  # fmt: skip


def test_the_monitor_reads_the_screen_live_and_waits_for_it(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    settings = Settings(data_dir=data.root, transcriber={"enabled": False}, screen={"readers": ["qr"]})
    with CodeOrigin(tmp_path / "origin", qr_png(tmp_path, scale=4)) as live:
        live.start()
        wait_for_playlist(live.url, min_segments=2)
        t0 = now()
        write_event(schedules, "coded", live.url, t0 + timedelta(seconds=1), t0 + timedelta(seconds=9))
        run_monitor_until_idle(settings, schedules, timeout=60)
    with Session.open(settings) as session:
        run = session.runs.latest_run("coded")
        assert run is not None
        assert run.status == "finished"
        assert session.queue.backlog(SCREEN) == 0  # until-idle waited for every frame
        [code] = session.screen.items(run.id)
        with session.engine.connect() as conn:
            frames = conn.execute(select(tables.work_queue.c.status).where(tables.work_queue.c.queue == SCREEN)).all()
            findings = conn.execute(select(tables.findings.c.channel, tables.findings.c.category)).all()
    assert len(frames) >= 6
    assert {status for (status,) in frames} == {"done"}
    assert (code.text, code.payload_class) == (WECHAT, "wechat-personal")
    assert run.on_air_at is not None
    assert abs((code.start_at - run.on_air_at).total_seconds()) <= 1.5  # on screen from the first frame
    assert (code.end_at - code.start_at).total_seconds() >= 5
    assert code.frame.is_file()
    assert len(list(data.frames_dir("coded").glob("*.jpg"))) == 1  # only the evidence stays
    assert ("screen", "traffic-diversion") in findings
