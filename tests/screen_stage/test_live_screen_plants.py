"""What the screen shows, read live: two local HLS origins recorded by the real monitor with QR and OCR on.

One picture (a moving test pattern) shows, at known seconds of the broadcast, a personal WeChat QR code that
appears and disappears, a code too small to read, a Chinese banner with an absolute term and a phone number
beside an English line, a black spell and a frozen one. The other is the moving test pattern alone and must
raise nothing. Times are the broadcast's own (its first program date-time is second 0).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from livewatch.demo.origin import SAMPLE_RATE
from livewatch.pipeline.screen import PictureSpell, ScreenItem
from livewatch.queue import SCREEN
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.state import DataDir
from livewatch.state.findings import FindingHeadline
from tests.capture.conftest import now, run_monitor_until_idle, write_event
from tests.screen_stage.media import WECHAT, qr_png
from tests.support.origin import LiveOrigin, wait_for_playlist

pytestmark = pytest.mark.slow

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SIZE, FPS = "640x360", 10
CODE = (8, 14)  # the readable code on screen (seconds of the broadcast)
SMALL_CODE = (8, 24)  # a code 22 px wide, under the readable size
TEXT = (15, 21)
BLACK = (23, 27)
FROZEN = (27, 33)
END_S = 36
BANNER = "全网最低价 咨询电话13812345678"
ENGLISH = "LIMITED OFFER TODAY"
TOLERANCE_S = 3.0


def _between(span: tuple[int, int]) -> str:
    return f"enable='between(t,{span[0]},{span[1]})'"


PICTURE = (
    f"[1:v]split[code][copy];[copy]scale=22:22[small];[0:v][code]overlay=x=W-w-20:y=20:{_between(CODE)}[a];"
    f"[a][small]overlay=x=20:y=H-h-20:{_between(SMALL_CODE)}[b];"
    f"[b]drawtext=fontfile={FONT}:text='{BANNER}':fontsize=30:fontcolor=white:box=1:boxcolor=black@0.8:"
    f"x=20:y=40:{_between(TEXT)},"
    f"drawtext=fontfile={FONT}:text='{ENGLISH}':fontsize=28:fontcolor=yellow:box=1:boxcolor=black@0.8:"
    f"x=20:y=100:{_between(TEXT)},"
    f"drawbox=c=black:t=fill:{_between(BLACK)},drawbox=c=gray:t=fill:{_between(FROZEN)}[v]"
)


class PictureOrigin(LiveOrigin):
    """The live origin, at a size OCR can read, with ``graph`` (a filter graph over the test pattern and the
    code, ending in [v]) or the bare moving test pattern."""

    def __init__(self, workdir: Path, code: Path, graph: str | None) -> None:
        super().__init__(workdir)
        self.code, self.graph = code, graph

    def encoder_argv(self, *, append: bool) -> list[str]:
        gop = max(1, round(FPS * self.segment_seconds))
        flags = "delete_segments+program_date_time+omit_endlist+temp_file" + ("+append_list" if append else "")
        graph = ["-filter_complex", self.graph, "-map", "[v]"] if self.graph else ["-map", "0:v"]
        return [
            "ffmpeg", "-hide_banner", "-nostats", "-loglevel", "warning", "-y",
            "-re", "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}",
            "-loop", "1", "-i", str(self.code),
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={SAMPLE_RATE},volume=0.05",
            *graph, "-map", "2:a:0",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-c:a", "aac", "-b:a", "64k", "-ar", str(SAMPLE_RATE), "-ac", "1",
            "-f", "hls", "-hls_time", f"{self.segment_seconds:g}", "-hls_list_size", str(self.list_size),
            "-hls_flags", flags, "-hls_segment_filename", str(self.workdir / "seg_%05d.ts"), str(self.playlist_path),
        ]  # fmt: skip


def _read(settings: Settings, event: str) -> tuple[list[ScreenItem], list[PictureSpell], list[FindingHeadline]]:
    with Session.open(settings) as session:
        run = session.runs.latest_run(event)
        assert run is not None
        assert run.status == "finished", run
        assert session.queue.backlog(SCREEN) == 0  # the one-shot monitor waited for every frame to be read
        return (session.screen.items(run.id), session.screen.spells(run.id),
                [f for f in session.findings.headlines(event) if f.channel == "screen"])


def test_codes_text_and_a_bad_picture_are_read_live_and_a_clean_picture_raises_nothing(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    settings = Settings(data_dir=data.root, transcriber={"enabled": False}, screen={"readers": ["qr", "ocr"]})
    code = qr_png(tmp_path, scale=4)
    with PictureOrigin(tmp_path / "shown", code, PICTURE) as shown, \
            PictureOrigin(tmp_path / "clean", code, None) as clean:
        shown.start()
        clean.start()
        zero = shown.first_program_date_time()
        clean_zero = clean.first_program_date_time()
        wait_for_playlist(shown.url, min_segments=2)
        start = now() + timedelta(seconds=1)
        write_event(schedules, "shown", shown.url, start, zero + timedelta(seconds=END_S))
        write_event(schedules, "clean", clean.url, start, clean_zero + timedelta(seconds=END_S))
        run_monitor_until_idle(settings, schedules, timeout=120)

    def at(moment: datetime) -> float:
        return (moment - zero).total_seconds()

    items, spells, findings = _read(settings, "shown")
    print("items", [(i.item, i.text, round(at(i.start_at), 1), round(at(i.end_at), 1)) for i in items])
    print("spells", [(s.problem, round(at(s.start_at), 1), s.end_at and round(at(s.end_at), 1)) for s in spells])
    print("findings", [(f.rule, f.matched, round(at(f.start_at), 1)) for f in findings])
    [shown_code] = [i for i in items if i.item == "code"]  # the small one is not read
    assert (shown_code.text, shown_code.payload_class) == (WECHAT, "wechat-personal")
    assert abs(at(shown_code.start_at) - CODE[0]) <= TOLERANCE_S
    assert abs(at(shown_code.end_at) - CODE[1]) <= TOLERANCE_S
    texts = [i for i in items if i.item == "text"]
    banner = [i for i in texts if "全网最低价" in i.text]
    assert banner, texts
    english = [i for i in texts if ENGLISH.split()[0] in i.text.upper()]
    assert len(english) == 1, texts  # one line on screen for six seconds is one appearance, however OCR read it
    assert len(banner) == 1, texts
    assert all(abs(at(i.start_at) - TEXT[0]) <= TOLERANCE_S for i in banner)
    blacks = [s for s in spells if s.problem == "black"]
    assert len(blacks) == 1, spells
    assert abs(at(blacks[0].start_at) - BLACK[0]) <= TOLERANCE_S
    assert blacks[0].end_at is not None
    assert abs(at(blacks[0].end_at) - BLACK[1]) <= TOLERANCE_S
    # A black picture does not move either: the frozen spell may begin with it, and lasts to the gray's end.
    frozen = [s for s in spells if s.problem == "frozen"]
    assert any(at(s.start_at) <= FROZEN[0] + TOLERANCE_S and s.end_at is not None
               and abs(at(s.end_at) - FROZEN[1]) <= TOLERANCE_S for s in frozen), spells
    by_rule = {f.rule: f for f in findings}
    assert abs(at(by_rule["traffic-diversion.contact-code"].start_at) - CODE[0]) <= TOLERANCE_S
    assert abs(at(by_rule["traffic-diversion.phone-number"].start_at) - TEXT[0]) <= TOLERANCE_S
    absolute = [f for f in findings if f.category == "absolute-terms"]
    assert absolute, findings
    assert all(f.frame is not None and f.box is not None for f in findings)
    # Frames are deleted once read, but for each item's evidence (the frame it was read best in).
    kept = {p.name for p in data.frames_dir("shown").glob("*.jpg")}
    assert kept == {i.frame.name for i in items}

    clean_items, clean_spells, clean_findings = _read(settings, "clean")
    assert clean_findings == [], clean_findings
    assert clean_spells == []
    assert [i for i in clean_items if i.item == "code"] == []
