"""The per-event report and the index: parsed HTML consistent with findings.json, hostile text shown as
text, and the real page in headless Chromium (Playwright, Debian's chromium) from file:// with no network."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from bs4 import BeautifulSoup, Tag
from click.testing import CliRunner
from playwright.sync_api import sync_playwright

from livewatch.cli import cli
from livewatch.state import DataDir
from livewatch.state.runs import RunStore, SegmentRecord
from tests.rules.test_event_check import T0, add_run, registered
from tests.support.isolation import isolated_like_a_test

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def one(tag: Tag, css: str) -> Tag:
    found = tag.select_one(css)
    assert found is not None, css
    return found


def attr(tag: Tag, name: str) -> str:
    value = tag.get(name)
    assert isinstance(value, str), name
    return value


def tone_wav(path: Path, seconds: float) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000",
                    "-t", str(seconds), "-ac", "1", "-c:a", "pcm_s16le", str(path)], check=True)
    return path


def report_of_hostile_event(folder: Path) -> DataDir:
    """An event with hostile text everywhere a user can type, three findings, audio, and its report."""
    data = DataDir(folder / "data")
    participants = [{"name": HOSTILE, "role": "host", "real_name_verified": True, "birth_year": 2014}]
    tone = tone_wav(folder / "tone.wav", 10)
    with registered(data, title=HOSTILE, participants=participants) as db:
        run_id = add_run(db, T0, [(0, f"大家好 {HOSTILE}", ""), (30, "这个理财保本保息", ""), (60, "加我V信", "")])
        store = RunStore(db.engine)
        for seq in range(8):
            path = Path(shutil.copy(tone, folder / f"s0-{seq:06d}.wav"))  # eight segments of the same tone
            start = T0 + timedelta(seconds=10 * seq)
            store.add_segment(SegmentRecord(run_id, 0, None, "audio", seq, path, start, start + timedelta(seconds=10),
                                            path.stat().st_size, "ok"))
    result = CliRunner().invoke(cli, ["--data", str(data.root), "report"])
    assert result.exit_code == 0, result.output
    assert "forum: fail" in result.output
    return data


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    """Built once for the tests that only read it (a test that changes it builds its own). It runs before the
    per-test isolation of tests/conftest.py, so it isolates itself the same way."""
    with isolated_like_a_test():
        return report_of_hostile_event(tmp_path_factory.mktemp("reported"))


def test_report_lists_every_finding_with_anchors_times_and_clips(reported: DataDir) -> None:
    folder = reported.report_dir("forum")
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    page = BeautifulSoup((folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    rows = page.select("tr.finding")
    assert [r["id"] for r in rows] == [f"finding-{f['id']}" for f in document["findings"]]
    for row, finding in zip(rows, document["findings"], strict=True):
        assert row["data-start"] == finding["start"]
        assert attr(one(row, "time"), "datetime") == finding["start"]
        marker = page.select_one(f'a.marker-link[data-finding="{finding["id"]}"]')
        assert marker is not None
        assert marker["href"] == f"#finding-{finding['id']}"
        anchor = row.select_one('a[href^="#t-"]')
        assert (anchor is not None) == (finding["stream"] is not None)
        if finding["stream"] is not None:
            assert anchor is not None
            assert page.select_one(attr(anchor, "href")) is not None
            clip = attr(one(row, "audio"), "src")
            assert (folder / clip).stat().st_size > 1000
    [promise] = [r for r in rows if "finance-promise" in r.get_text()]
    assert one(promise, "mark").get_text() == "保本保息"
    assert one(page, "#verdict").get_text() == document["verdict"] == "fail"
    assert "cn-live-events@1.4.1" in page.get_text()
    [host] = page.select("#participants tbody tr")
    assert "hosts must be at least 16" in host.get_text()
    index = BeautifulSoup((reported.reports / "index.html").read_text(encoding="utf-8"), "html.parser")
    [row] = index.select("tr.event")
    assert (row["data-status"], row["data-verdict"]) == ("done", "fail")
    assert attr(one(row, "a"), "href") == "forum/report.html"


def test_hostile_text_is_shown_as_text(reported: DataDir) -> None:
    html = (reported.report_dir("forum") / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    page = BeautifulSoup(html, "html.parser")
    assert HOSTILE in page.get_text()
    assert not page.select("img")
    assert len(page.select("script")) == 1  # ours only


def test_report_in_headless_chromium(reported: DataDir) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed; `make test` installs Debian's chromium"
    report = reported.report_dir("forum") / "report.html"
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri())
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
        markers = page.locator("a.marker-link")
        last = markers.nth(markers.count() - 1)
        target = page.locator(f"#finding-{last.get_attribute('data-finding')}")
        page.evaluate("window.scrollTo(0, 0)")
        last.click()
        page.wait_for_timeout(300)
        assert target.evaluate("row => { const r = row.getBoundingClientRect(); "
                               "return r.top >= 0 && r.bottom <= window.innerHeight; }")
        audio = page.locator("audio").first
        duration = audio.evaluate("a => new Promise(done => { if (a.readyState >= 1) done(a.duration); "
                                  "a.addEventListener('loadedmetadata', () => done(a.duration)); a.load(); })")
        assert duration > 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert all(url.startswith("file://") for url in requests), requests


def test_report_names_unknown_events(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        add_run(db, T0, [(0, "大家好", "")])
    result = CliRunner().invoke(cli, ["--data", str(data.root), "report", "nope"])
    assert result.exit_code == 2
    assert "no such event: nope" in result.output


def test_generated_at_is_local_to_the_event(reported: DataDir) -> None:
    document = json.loads((reported.report_dir("forum") / "findings.json").read_text(encoding="utf-8"))
    assert datetime.fromisoformat(document["provenance"]["generated_at"]).utcoffset() is not None


def test_reviews_change_the_report_and_are_summarised(tmp_path: Path) -> None:
    reported = report_of_hostile_event(tmp_path)
    document = json.loads((reported.report_dir("forum") / "findings.json").read_text(encoding="utf-8"))
    [promise] = [f for f in document["findings"] if f["category"] == "finance-promise"]
    review = reported.review_file("forum")
    review.write_text(f"{promise['id']}:\n  status: dismissed\n  reviewer: 王审核\n  note: 引用监管提示\n",
                      encoding="utf-8")
    result = CliRunner().invoke(cli, ["--data", str(reported.root), "report", "forum", "--no-clips"])
    assert result.exit_code == 0, result.output
    page = BeautifulSoup((reported.report_dir("forum") / "report.html").read_text(encoding="utf-8"), "html.parser")
    row = one(page, f"#finding-{promise['id']}")
    assert "dismissed" in (row.get("class") or [])
    log = one(page, 'section[aria-label="Reviews"]').get_text()
    assert "open → dismissed by 王审核 — 引用监管提示" in log


def test_a_live_event_page_refreshes_itself(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        run = RunStore(db.engine).open_run("forum", T0, T0 + timedelta(hours=1))
        assert run is not None
        RunStore(db.engine).set_status(run.id, "recording")
    result = CliRunner().invoke(cli, ["--data", str(data.root), "report", "--no-clips"])
    assert result.exit_code == 0, result.output
    page = BeautifulSoup((data.report_dir("forum") / "report.html").read_text(encoding="utf-8"), "html.parser")
    assert attr(one(page, 'meta[http-equiv="refresh"]'), "content") == "30"
    index = BeautifulSoup((data.reports / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert attr(one(index, "tr.event"), "data-status") == "live"
