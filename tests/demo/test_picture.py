"""The demo's picture, read back by the real readers: its own generator (``livewatch.demo.picture``) renders the
Mandarin forum's stage and screen plants, ffmpeg extracts frames from the video as the frame stream would (JPEG),
and zxing-cpp and RapidOCR must read the personal-WeChat code and the banner exactly while they are shown, the
stage's title always, and nothing else (the camera inset's clock is cropped off). The live origin broadcasts the
same picture. The demo's screen check is tested on findings.json-shaped dicts."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import zxingcpp
from PIL import Image

from livewatch.capture.hls import parse_media
from livewatch.demo.origin import HlsOrigin
from livewatch.demo.picture import CJK_FONT, Picture, PictureError, ShownAt, render_argv, schedule
from livewatch.demo.run import match_plant
from livewatch.demo.screen_check import check_screen, reads_the_screen, screen_lines
from livewatch.demo.script import (
    ABSOLUTE_SHOWN_ZH,
    BANNER_TEXT,
    FORUM_ZH,
    PHONE_SHOWN_ZH,
    QR_SHOWN_ZH,
    WECHAT_QR_PAYLOAD,
    Shown,
)
from livewatch.demo.synth import SpokenLine
from livewatch.fields import CaptureSettings
from livewatch.rules.base import RuleInput, example_lines
from livewatch.rules.engine import RuleEngine
from livewatch.rules.examples import EXAMPLE_FACTS, EXAMPLE_START
from livewatch.rules.packs import PackLibrary
from livewatch.rules.transcript import Transcript
from livewatch.settings import Settings
from tests.support.origin import wait_for_playlist

TITLE = "星河科技年度粉丝大会"
#: Line starts that put the forum's banner (line 4) at 1–7 s and its QR code (line 14) at 5–11 s.
LINE_STARTS = [0.0] * 4 + [1.0] + [0.0] * 9 + [5.0, 0.0]
Rgb = npt.NDArray[np.uint8]
TEXT_RULES = frozenset({"lexicon", "regex", "composite", "proximity"})


@cache
def ocr() -> Any:
    from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped,unused-ignore]

    return RapidOCR()


def read(image: Rgb) -> tuple[list[str], list[str]]:
    """QR payloads and OCR lines (spaces dropped: OCR joins or splits them as it likes) in ``image``."""
    codes = [code.text for code in zxingcpp.read_barcodes(image)]
    result, _ = ocr()(image)
    return codes, ["".join(str(line[1]).split()) for line in result or []]


def pack_finds(text: str) -> set[tuple[str, str]]:
    """(category, rule) of what the default pack's text rules find in ``text`` (the semantic ones left out: they
    load a model, and no plant relies on them)."""
    transcript = Transcript.of_lines(example_lines(text, EXAMPLE_START))
    start, end = transcript.utterances[0].start_at, transcript.utterances[-1].end_at
    facts = replace(EXAMPLE_FACTS, event_id="picture", registered_start=start, registered_end=end,
                    on_air=((start, end),))
    packs = [pack.with_rules(rule for rule in pack.rules if rule.type_name in TEXT_RULES)
             for pack in PackLibrary(Settings().rule_packs_dir).select(("default",))]
    found = RuleEngine(packs).evaluate(RuleInput(facts, {0: transcript}))
    return {(finding.category, finding.rule) for finding in found}


def frame_at(video: Path, seconds: float, out: Path) -> Rgb:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", f"{seconds:g}", "-i", str(video), "-frames:v", "1",
                    "-q:v", "3", str(out)], check=True)
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.uint8)


def test_the_screen_plants_are_placed_on_their_lines() -> None:
    placed = schedule(FORUM_ZH.screen, LINE_STARTS)
    assert [(p.shown.kind, p.start_s, p.end_s) for p in placed] == [("banner", 1.0, 7.0), ("qr", 5.0, 11.0)]
    assert placed[0].enable() == "enable='between(t,1.000,7.000)'"
    assert [plant.category for p in placed for plant in p.shown.plants] == [
        "absolute-terms", "traffic-diversion", "traffic-diversion"]
    with pytest.raises(PictureError, match="a banner is shown with line 4, but the script has 3 lines"):
        schedule(FORUM_ZH.screen, [0.0, 1.0, 2.0])


def test_the_stage_filtergraph_and_the_origin_argv() -> None:
    shown = ShownAt(Shown("qr", "x", 0, 2.0, (QR_SHOWN_ZH,)), 3.0, 5.0)
    banner = ShownAt(Shown("banner", "y", 0, 2.0, (PHONE_SHOWN_ZH,)), 6.0, 8.0)
    picture = Picture("t", (banner, shown))
    font = f"fontfile={CJK_FONT}:fontcolor=white"
    assert picture.filter_complex().split(";") == [
        "testsrc2=size=384x256:rate=10,crop=384:216:0:40[camera]",
        "[0:v][camera]overlay=x=48:y=120[stage]",
        f"[stage]drawtext={font}:textfile=title.txt:fontsize=34:x=48:y=44[s0]",
        f"[s0]drawtext={font}:textfile=banner-0.txt:fontsize=40:box=1:boxcolor=0xc1121f:boxborderw=18:"
        "x=(w-text_w)/2:y=h-th-60:enable='between(t,6.000,8.000)'[s1]",
        "[s1][2:v]overlay=x=W-w-72:y=96:enable='between(t,3.000,5.000)'[s2]",
        "[s2]format=yuv420p[picture]",
    ]
    assert picture.encoder_video(["-i", "a.wav"]) == [
        "-re", "-f", "lavfi", "-i", "color=c=0x14213d:size=960x540:rate=10", "-i", "a.wav", "-i", "qr-1.png",
        "-filter_complex", picture.filter_complex()]
    assert set(picture.files()) == {"title.txt", "banner-0.txt", "qr-1.png"}


def test_the_demo_picture_is_read_by_the_real_readers_exactly_while_shown(tmp_path: Path) -> None:
    picture = Picture(TITLE, schedule(FORUM_ZH.screen, LINE_STARTS))
    picture.prepare(tmp_path)
    subprocess.run(render_argv(picture, tmp_path / "stage.mp4", 12), cwd=tmp_path, check=True)
    banner = "".join(BANNER_TEXT.split())
    expected = {0.5: ([], [TITLE]), 3.0: ([], [TITLE, banner]), 6.0: ([WECHAT_QR_PAYLOAD], [TITLE, banner]),
                9.0: ([WECHAT_QR_PAYLOAD], [TITLE]), 11.5: ([], [TITLE])}
    for seconds, (codes, lines) in expected.items():
        image = frame_at(tmp_path / "stage.mp4", seconds, tmp_path / f"frame-{seconds:g}.jpg")
        assert image.shape == (540, 960, 3)
        assert read(image) == (codes, lines), f"at {seconds} s"
    # What the OCR read off the banner is what its plants name: the default pack's rules find exactly them in it
    # (checked as text here; on the screen channel once the rules read it).
    shown_banner = next(shown for shown in FORUM_ZH.screen if shown.kind == "banner")
    assert pack_finds(banner) == {(plant.category, plant.rule) for plant in shown_banner.plants}
    assert pack_finds(TITLE) == set(), "the stage's title is clean"


def test_the_origin_broadcasts_the_picture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Live: the first segment of an origin with the demo's stage carries the QR code shown from 0 s. Its work
    folder is given relative: the encoder runs in it (to read the picture's files), so the origin makes it
    absolute."""
    shown = ShownAt(Shown("qr", WECHAT_QR_PAYLOAD, 0, 4.0, (QR_SHOWN_ZH,)), 0.0, 4.0)
    monkeypatch.chdir(tmp_path)
    with HlsOrigin(Path("origin"), picture=Picture(TITLE, (shown,)), segment_seconds=1.0) as origin:
        origin.start()
        text = wait_for_playlist(origin.url, min_segments=1, timeout=20)
        first = parse_media(text, origin.url).segments[0]
        segment = origin.workdir / Path(first.uri).name
        image = frame_at(segment, 0, tmp_path / "live.jpg")
    assert image.shape == (540, 960, 3)
    assert [code.text for code in zxingcpp.read_barcodes(image)] == [WECHAT_QR_PAYLOAD]


# --- the demo's screen check -----------------------------------------------------------------------------------

ZERO = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def finding(ident: str, category: str, rule: str, start_s: float, end_s: float, channel: str | None,
            severity: str = "high") -> dict[str, Any]:
    found = {"id": ident, "category": category, "rule": rule, "severity": severity, "matched": "",
             "start": (ZERO + timedelta(seconds=start_s)).isoformat(),
             "end": (ZERO + timedelta(seconds=end_s)).isoformat()}
    return found if channel is None else {**found, "channel": channel}


def test_screen_plants_are_found_on_the_screen_within_three_seconds() -> None:
    shows = schedule(FORUM_ZH.screen, [0.0] * 4 + [20.0] + [0.0] * 9 + [80.0, 0.0])
    findings = [
        finding("said", "traffic-diversion", "traffic-diversion.qr-groups", 80.5, 83.0, None),
        finding("phone", "traffic-diversion", "traffic-diversion.phone-number", 21.0, 26.0, "screen"),
        finding("banner", "absolute-terms", "absolute-terms.superlatives", 22.5, 24.0, "screen", "low"),
        finding("code", "traffic-diversion", "traffic-diversion.contact-code", 88.0, 92.0, "screen"),
    ]
    checks = check_screen(shows, ZERO, findings, checked=True)
    assert [(c.plant, c.found, c.finding["id"] if c.finding else None) for c in checks] == [
        (ABSOLUTE_SHOWN_ZH, True, "banner"), (PHONE_SHOWN_ZH, True, "phone"), (QR_SHOWN_ZH, True, "code")]
    assert checks[2].delta_s == pytest.approx(8.0), "shown 80–86 s, found from 88 s: within 3 s of it"
    # 3.5 s after it went is too late, and the spoken finding at the same time never stands in.
    late = check_screen(shows, ZERO, [*findings[:3], finding("code", "traffic-diversion", "x", 89.5, 92, "screen")],
                        checked=True)
    assert late[2].finding is not None
    assert late[2].finding["id"] == "code"
    assert not late[2].found
    assert screen_lines(late)[0].startswith("[bold]2 of 3 on-screen violations found[/bold]")
    assert checks[0].explains(finding("pair", "absolute-terms", "absolute-terms.near-promotion", 25, 26, "speech"))

    unchecked = check_screen(shows, ZERO, findings, checked=False)
    assert [(c.found, c.finding) for c in unchecked] == [(False, None)] * 3
    assert screen_lines(unchecked) == ["on-screen violations: 3 shown, not checked (this monitor reads no frames)"]


def test_a_spoken_plant_is_never_matched_by_what_the_screen_showed() -> None:
    line = next(line for line in FORUM_ZH.lines
                if line.plant is not None and line.plant.category == "traffic-diversion")
    spoken = SpokenLine(line, 80.0, 84.0)
    screen_only = [finding("code", "traffic-diversion", "qr", 80.5, 82.0, "screen")]
    assert match_plant(spoken, ZERO, screen_only).finding is None
    both = [*screen_only, finding("said", "traffic-diversion", "traffic-diversion.qr-groups", 81.0, 83.0, None)]
    assert match_plant(spoken, ZERO, both).found


def test_the_screen_is_checked_when_the_capture_reads_frames() -> None:
    assert reads_the_screen(Settings()) == ("frames" in CaptureSettings.model_fields)
