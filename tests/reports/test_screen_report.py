"""Screen findings in the report: the frame embedded (data: URI) with the code boxed, the payload escaped, how
long it stood, the timeline's lanes; findings.json's channel, frame and box; a frame missing, linked or broken
is a note, never a broken report; the page in headless Chromium at a phone's width."""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json
import random
import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import get_args

import pytest
from bs4 import BeautifulSoup, Tag
from PIL import Image
from playwright.sync_api import sync_playwright

from livewatch.checking import check_event
from livewatch.pipeline.event_checks import EventCheck
from livewatch.pipeline.screen import Box, Channel
from livewatch.reports.findings_document import FindingEntry
from livewatch.reports.frames import BOX_COLOUR, MAX_THUMBNAIL_BYTES, THUMBNAIL_WIDTH, keep_frames, thumbnail_jpeg
from livewatch.reports.render import publish
from livewatch.state import DataDir
from tests.reports.screen_evidence import PAYLOAD, QR_BOX, frame_jpeg, put_frame, screen_finding
from tests.reports.test_report import ARTIFACTS, attr, one
from tests.rules.test_event_check import T0, add_run, registered, session_for
from tests.support.isolation import isolated_like_a_test

SHOWN_AT = T0 + timedelta(seconds=40)


def _published(folder: Path, frames: dict[str, str | None]) -> tuple[DataDir, EventCheck]:
    """An event with speech findings and one screen finding per entry of ``frames`` (name → frame path
    relative to the event's folder), each two minutes after the one before, published."""
    data = DataDir(folder / "data")
    with registered(data, timezone="Asia/Shanghai") as db:
        add_run(db, T0, [(0, "大家好", ""), (30, "这个理财保本保息", ""), (60, "加我V信", "")])
        session = session_for(data, db)
        check = check_event(session, "forum")
        screen = [screen_finding("forum", SHOWN_AT + timedelta(minutes=2 * i), frame, on_air=T0)
                  for i, frame in enumerate(frames.values())]
        check = replace(check, findings=[*check.findings, *screen])
        publish(session, check, clips=False)
    return data, check


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataDir, EventCheck]:
    """One screen finding whose frame is a real JPEG with a real QR code (isolated as tests/conftest.py does)."""
    with isolated_like_a_test():
        folder = tmp_path_factory.mktemp("screen")
        data = DataDir(folder / "data")
        frame = put_frame(data, "forum", "s0-000040.jpg", frame_jpeg())
        return _published(folder, {"qr": frame})


def _page(data: DataDir) -> BeautifulSoup:
    return BeautifulSoup((data.report_dir("forum") / "report.html").read_text(encoding="utf-8"), "html.parser")


def _screen_row(page: BeautifulSoup) -> Tag:
    [row] = page.select('tr.finding[data-channel="screen"]')
    return row


def test_the_frame_is_embedded_with_the_code_boxed(kept: tuple[DataDir, EventCheck]) -> None:
    data, _ = kept
    figure = one(_screen_row(_page(data)), "figure.frame")
    assert attr(figure, "data-box") == f"{QR_BOX.left},{QR_BOX.top},{QR_BOX.width},{QR_BOX.height}"
    source = attr(one(figure, "img"), "src")
    assert source.startswith("data:image/jpeg;base64,")
    jpeg = base64.b64decode(source.removeprefix("data:image/jpeg;base64,"), validate=True)
    assert len(jpeg) <= MAX_THUMBNAIL_BYTES
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        assert image.size == (THUMBNAIL_WIDTH, 270)  # 960 x 540 halved
        thumb = image.convert("RGB")
    scale = THUMBNAIL_WIDTH / 960

    def near_box_colour(x: float, y: float) -> bool:
        pixel = thumb.getpixel((round(x), round(y)))
        assert isinstance(pixel, tuple)
        return all(abs(a - b) < 60 for a, b in zip(pixel, BOX_COLOUR, strict=True))

    left, top = QR_BOX.left * scale, QR_BOX.top * scale
    right, bottom = (QR_BOX.left + QR_BOX.width) * scale, (QR_BOX.top + QR_BOX.height) * scale
    edges = [(left + 1, (top + bottom) / 2), (right - 1, (top + bottom) / 2), ((left + right) / 2, top + 1),
             ((left + right) / 2, bottom - 1)]
    assert all(near_box_colour(x, y) for x, y in edges), "the box is drawn on all four sides"
    assert not near_box_colour((left + right) / 2, (top + bottom) / 2 + 7), "inside the box is the picture"
    assert not near_box_colour(20, 20)


def test_the_payload_is_text_and_the_time_visible_is_shown(kept: tuple[DataDir, EventCheck]) -> None:
    data, _ = kept
    html = (data.report_dir("forum") / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    page = BeautifulSoup(html, "html.parser")
    row = _screen_row(page)
    assert one(row, "mark").get_text() == PAYLOAD
    assert len(page.select("img")) == 1  # the frame: nothing the payload made
    assert not page.select("[onerror]")
    assert len(page.select("script")) == 1
    caption = one(row, "figcaption").get_text()
    assert "visible 8 s, 09:00:40–09:00:48" in caption  # Asia/Shanghai
    assert attr(one(row, "figcaption a"), "href") == f"frames/{attr(row, 'id').removeprefix('finding-')}.jpg"
    details = [li.get_text() for li in row.select(".screen-details li")]
    assert details == ["payload_class: wechat-personal", "host: u.wechat.com", "symbology: QRCode"]
    assert not row.select('a[href^="#t-"]'), "what was shown is no line of the transcript"


def test_the_timeline_has_a_lane_per_channel(kept: tuple[DataDir, EventCheck]) -> None:
    page = _page(kept[0])
    lanes = {attr(g, "data-channel"): g for g in page.select("svg g.lane")}
    assert list(lanes)[:2] == ["speech", "screen"]
    lane_y = {channel: attr(one(g, "line"), "y1") for channel, g in lanes.items()}
    markers = page.select("a.marker-link")
    assert {attr(m, "data-channel") for m in markers} >= {"speech", "screen"}
    for marker in markers:
        assert attr(one(marker, "circle"), "cy") == lane_y[attr(marker, "data-channel")]
    assert lane_y["speech"] != lane_y["screen"]
    height = float(attr(one(page, "svg.timeline"), "height"))
    assert all(float(y) < height for y in lane_y.values())


def test_findings_json_and_csv_carry_channel_frame_and_box(kept: tuple[DataDir, EventCheck]) -> None:
    data, check = kept
    folder = data.report_dir("forum")
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    keys = [f.name for f in dataclasses.fields(FindingEntry)]
    assert all(list(f) == keys for f in document["findings"])  # every finding: the documented keys, in order
    assert all(f["channel"] in get_args(Channel) for f in document["findings"])
    [screen] = [f for f in document["findings"] if f["channel"] == "screen"]
    finding = next(f for f in check.findings if f.channel == "screen")
    assert Box(**screen["box"]) == finding.box
    assert screen["id"] == finding.id
    assert screen["frame"] == f"frames/{finding.id}.jpg"
    assert screen["box"] == {"left": QR_BOX.left, "top": QR_BOX.top, "width": QR_BOX.width, "height": QR_BOX.height}
    assert screen["evidence"] == PAYLOAD
    kept_frame = (folder / screen["frame"]).read_bytes()
    assert kept_frame == (data.event_dir("forum") / "frames/s0-000040.jpg").read_bytes()  # the box's pixels
    others = [f for f in document["findings"] if f["id"] != finding.id]
    assert others
    assert all((f["channel"], f["frame"], f["box"]) == ("speech", None, None) for f in others)
    rows = list(csv.DictReader(io.StringIO((folder / "findings.csv").read_text(encoding="utf-8-sig"))))
    assert {r["id"]: r["channel"] for r in rows} == {f["id"]: f["channel"] for f in document["findings"]}


def test_a_frame_missing_linked_or_broken_is_a_note(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    good = frame_jpeg()
    broken = put_frame(data, "forum", "broken.jpg", good[: len(good) // 3])
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(good)
    (data.event_dir("forum") / "frames" / "linked.jpg").symlink_to(secret)
    frames = {"missing": "frames/gone.jpg", "linked": "frames/linked.jpg", "broken": broken,
              "outside": "../../secret.jpg", "none": None}
    data, _ = _published(tmp_path, frames)
    page = _page(data)
    rows = page.select('tr.finding[data-channel="screen"]')
    assert len(rows) == len(frames)
    notes = [one(row, "p.frame-note").get_text() for row in rows]
    assert all(note.startswith("frame not kept: ") for note in notes)
    assert "missing" in notes[0]
    assert "refused" in notes[1]
    assert "no readable image" in notes[2]
    assert "refused" in notes[3]
    assert "no frame was recorded" in notes[4]
    assert not page.select("img")
    assert all("visible 8 s" in note for note in notes)
    document = json.loads((data.report_dir("forum") / "findings.json").read_text(encoding="utf-8"))
    screen = [f for f in document["findings"] if f["channel"] == "screen"]
    assert [f["frame"] for f in screen] == [None] * len(frames)
    assert all(f["box"] is not None for f in screen)
    kept_folder = data.report_dir("forum") / "frames"
    assert not kept_folder.exists() or not any(kept_folder.iterdir())


def test_a_busy_frame_still_makes_a_small_thumbnail() -> None:
    noise = random.Random(18).randbytes(960 * 540 * 3)
    image = Image.frombytes("RGB", (960, 540), noise)
    jpeg = thumbnail_jpeg(image, QR_BOX)
    assert len(jpeg) <= MAX_THUMBNAIL_BYTES
    with Image.open(io.BytesIO(jpeg)) as small:
        assert small.width <= THUMBNAIL_WIDTH


def test_the_screen_report_at_a_phone_width_in_headless_chromium(kept: tuple[DataDir, EventCheck]) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed; `make test` installs Debian's chromium"
    report = kept[0].report_dir("forum") / "report.html"
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for name, viewport in (("phone", {"width": 375, "height": 740}), ("desk", {"width": 1280, "height": 800})):
            page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report.as_uri())
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), name
            image = page.locator("figure.frame img")
            assert image.evaluate("img => img.complete && img.naturalWidth") == THUMBNAIL_WIDTH
            box = image.bounding_box()
            assert box is not None
            assert 0 < box["width"] <= 320
            assert box["x"] >= 0, name
            assert box["x"] + box["width"] <= viewport["width"], name
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"report-screen-{name}.png"), full_page=True)
            page.close()
        browser.close()
    assert errors == []
    assert all(url.startswith(("file://", "data:")) for url in requests), requests


def test_a_frame_that_is_no_jpeg_is_kept_as_one(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with Image.open(io.BytesIO(frame_jpeg())) as picture:
        png = io.BytesIO()
        picture.save(png, "PNG")
    frame = put_frame(data, "forum", "s0-000001.png", png.getvalue())
    finding = screen_finding("forum", SHOWN_AT, frame)
    folder = data.make_folder(data.report_dir("forum"))
    [evidence] = keep_frames(data, "forum", [finding], folder).values()
    assert (evidence.file, evidence.note) == (f"frames/{finding.id}.jpg", "")
    with Image.open(folder / f"frames/{finding.id}.jpg") as kept_frame:
        assert (kept_frame.format, kept_frame.size) == ("JPEG", (960, 540))
    with Image.open(io.BytesIO(evidence.thumbnail)) as thumb:
        assert thumb.size == (THUMBNAIL_WIDTH, 270)
