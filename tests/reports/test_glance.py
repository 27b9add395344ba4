"""A report that reads at a glance: the verdict says why, ids are visible and copyable, ASR is explained, the
timeline has a legend, unclipped labels and grey dismissed markers, evidence is cut between words, counts agree
between the report and the index after a review; the report and the index at a phone's width (400 px) and a
desktop's (1400 px) in headless Chromium: words whole, audio players usable, nothing outside the viewport."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup, Tag
from click.testing import CliRunner
from playwright.sync_api import Browser, Page, sync_playwright

from livewatch.cli import cli
from livewatch.reports.glance import finding_counts, verdict_reasons
from livewatch.reports.template_context import FindingCounts, VerdictReason
from livewatch.state import DataDir
from livewatch.state.runs import RunStore, SegmentRecord
from livewatch.textcut import cut_after, cut_before
from tests.reports.test_report import HOSTILE, attr, one, tone_wav
from tests.rules.test_event_check import T0, add_run, registered
from tests.support.artifacts import artifact
from tests.support.isolation import isolated_like_a_test

#: A long English line around a Chinese promise: the evidence window around the match cuts it.
BEFORE = ("Good evening everyone and welcome back to the studio where tonight we talk about savings plans "
          "that our sponsor describes as")
AFTER = ("which of course nobody can promise in earnest because markets go up and down every single day "
         "of the year as everyone knows")
LONG_LINE = f"{BEFORE} 这个理财保本保息 {AFTER}"
WIDTHS = {"phone": 400, "desktop": 1400}


@dataclass(frozen=True)
class Reviewed:
    """An event reported, then one finding dismissed by a reviewer and reported again."""

    data: DataDir
    document: dict[str, Any]
    dismissed: str


def _report(data: DataDir, *args: str) -> None:
    result = CliRunner().invoke(cli, ["--data", str(data.root), "report", *args])
    assert result.exit_code == 0, result.output


def _reviewed(folder: Path) -> Reviewed:
    data = DataDir(folder / "data")
    tone = tone_wav(folder / "tone.wav", 10)
    participants = [{"name": HOSTILE, "role": "host", "real_name_verified": True, "birth_year": 2014}]
    with registered(data, title=HOSTILE, participants=participants) as db:
        run_id = add_run(db, T0, [(0, "大家好", ""), (30, "这个理财保本保息", ""), (60, "加我V信", ""),
                                  (120, LONG_LINE, "")])
        store = RunStore(db.engine)
        for seq in range(13):
            path = Path(shutil.copy(tone, folder / f"s0-{seq:06d}.wav"))
            start = T0 + timedelta(seconds=10 * seq)
            store.add_segment(SegmentRecord(run_id, 0, None, "audio", seq, path, start, start + timedelta(seconds=10),
                                            path.stat().st_size, "ok"))
    _report(data)
    document = json.loads((data.report_dir("forum") / "findings.json").read_text(encoding="utf-8"))
    first = next(f for f in document["findings"] if f["category"] == "finance-promise")
    data.review_file("forum").write_text(f"{first['id']}:\n  status: dismissed\n  reviewer: 王审核\n",
                                         encoding="utf-8")
    _report(data, "forum")
    document = json.loads((data.report_dir("forum") / "findings.json").read_text(encoding="utf-8"))
    return Reviewed(data, document, first["id"])


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Reviewed:
    """Built once (isolated as tests/conftest.py isolates each test)."""
    with isolated_like_a_test():
        return _reviewed(tmp_path_factory.mktemp("glance"))


def _report_page(reviewed: Reviewed) -> BeautifulSoup:
    html = (reviewed.data.report_dir("forum") / "report.html").read_text(encoding="utf-8")
    return BeautifulSoup(html, "html.parser")


def _index_page(reviewed: Reviewed) -> BeautifulSoup:
    return BeautifulSoup((reviewed.data.reports / "index.html").read_text(encoding="utf-8"), "html.parser")


def _row(page: BeautifulSoup, finding_id: str) -> Tag:
    return one(page, f"#finding-{finding_id}")


# --- pure parts ------------------------------------------------------------------------------------------------


def test_text_is_cut_between_latin_words_and_between_cjk_characters() -> None:
    latin = "The quick brown fox jumps over the lazy dog"
    assert cut_after(latin, 18) == "The quick brown…"
    assert cut_before(latin, 18) == "…over the lazy dog"
    assert cut_after(latin, 100) == latin
    chinese = "这个理财产品保本保息年化收益百分之十五"
    assert cut_after(chinese, 8) == "这个理财产品保…"
    assert cut_before(chinese, 8) == "…收益百分之十五"
    assert cut_after("ab 加我V信好吗", 5) == "ab 加…"  # a CJK character is a place to cut
    assert cut_after("x" * 100, 20) == "x" * 19 + "…"  # one endless token is cut inside, not dropped


def test_counts_and_reasons_follow_the_verdict_rule() -> None:
    pairs = [("critical", "open"), ("high", "confirmed"), ("high", "dismissed"), ("low", "open")]
    assert finding_counts(pairs) == FindingCounts(counted=3, dismissed=1, critical_high=2)
    triples = [(severity, status, False) for severity, status in pairs]
    assert verdict_reasons("fail", triples) == [VerdictReason("critical", "open", 1, False),
                                                VerdictReason("high", "confirmed", 1, False)]
    review = [("medium", "open", False), ("medium", "open", True), ("low", "escalated", True), ("low", "open", False)]
    assert verdict_reasons("review", review) == [VerdictReason("medium", "open", 2, False),
                                                 VerdictReason("low", "escalated", 1, True)]
    assert verdict_reasons("pass", [("low", "open", False)]) == []


# --- the page, parsed --------------------------------------------------------------------------------------------


def test_the_verdict_says_why(reviewed: Reviewed) -> None:
    page = _report_page(reviewed)
    open_by_severity: dict[str, int] = {}
    for f in reviewed.document["findings"]:
        if f["status"] != "dismissed" and f["severity"] in ("critical", "high"):
            open_by_severity[f["severity"]] = open_by_severity.get(f["severity"], 0) + 1
    assert open_by_severity == {"critical": 1, "high": 2}
    assert one(page, "#verdict").get_text() == reviewed.document["verdict"] == "fail"
    assert " ".join(one(page, "#verdict-line").get_text().split()) == \
        "fail: 1 critical finding open, 2 high findings open"


def test_every_finding_id_is_shown_with_a_copy_button(reviewed: Reviewed) -> None:
    page = _report_page(reviewed)
    for f in reviewed.document["findings"]:
        row = _row(page, f["id"])
        assert one(row, ".finding-id").get_text() == f["id"]
        assert attr(one(row, "button.copy-id"), "data-copy") == f["id"]


def test_asr_confidence_is_explained(reviewed: Reviewed) -> None:
    page = _report_page(reviewed)
    shown = [small for small in page.select("#findings small") if "ASR" in small.get_text()]
    assert shown
    for small in shown:
        assert "speech recognition" in attr(one(small, "abbr"), "title")
    assert "how sure the transcriber was" in one(page, "#findings-legend").get_text()


def test_the_timeline_has_a_legend_and_dismissed_markers_are_marked(reviewed: Reviewed) -> None:
    page = _report_page(reviewed)
    legend = one(page, "#timeline-legend").get_text()
    for entry in ("registered window", "on air", "gap", "critical or high", "dismissed"):
        assert entry in legend
    for f in reviewed.document["findings"]:
        marker = one(page, f'a.marker-link[data-finding="{f["id"]}"] circle')
        assert ("dismissed" in (marker.get("class") or [])) == (f["id"] == reviewed.dismissed)
    assert attr(one(page, "svg.timeline text.tick:last-of-type"), "text-anchor") == "end"


def test_evidence_is_cut_between_words_and_an_empty_highlight_draws_nothing(reviewed: Reviewed) -> None:
    page = _report_page(reviewed)
    [long] = [f for f in reviewed.document["findings"] if BEFORE[-10:] in f["evidence"]]
    evidence = one(_row(page, long["id"]), "td.evidence")
    before = "".join(t for t in evidence.contents if isinstance(t, str))
    shown = before.strip()
    assert shown.startswith("…")
    assert shown.endswith("…")
    words = set(LONG_LINE.split())
    first, *_, last = shown.strip("…").split()
    assert first in words, first
    assert last in words, last
    assert one(evidence, "mark").get_text() == "保本保息"
    for f in reviewed.document["findings"]:
        if f["highlight"][0] == f["highlight"][1]:
            assert _row(page, f["id"]).select("mark") == []
    assert all(mark.get_text() for mark in page.select("mark"))


def test_the_report_and_the_index_count_alike_after_a_review(reviewed: Reviewed) -> None:
    statuses = [f["status"] for f in reviewed.document["findings"]]
    counted, dismissed = sum(s != "dismissed" for s in statuses), statuses.count("dismissed")
    assert dismissed == 1
    count = one(_report_page(reviewed), "#findings-count")
    assert (attr(count, "data-counted"), attr(count, "data-dismissed")) == (str(counted), "1")
    assert count.get_text() == f"{counted}, 1 dismissed"
    row = one(_index_page(reviewed), "tr.event")
    assert (attr(row, "data-findings"), attr(row, "data-dismissed")) == (str(counted), "1")
    critical_high = sum(f["status"] != "dismissed" and f["severity"] in ("critical", "high")
                        for f in reviewed.document["findings"])
    assert attr(row, "data-critical") == str(critical_high)
    assert "1 dismissed" in row.get_text()


# --- the page in Chromium ------------------------------------------------------------------------------------------

#: Every visible element's box, the Latin words split over two lines, CJK runs set one character a line.
_LAYOUT = """() => {
  const width = document.documentElement.clientWidth, outside = [], split = [], columns = [];
  for (const element of document.body.querySelectorAll("*")) {
    if (element.closest("svg:not(.timeline) , script, style, head")) continue;
    const r = element.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < -0.5 || r.right > width + 0.5)
      outside.push(element.tagName + "#" + element.id + "." + element.className + " " + r.left + ".." + r.right);
  }
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("svg, script, style") || !parent.getClientRects().length) continue;
    for (const [pattern, most] of [[/[A-Za-z]{3,16}/g, 1], [/[\\u4e00-\\u9fff]{4,}/g, 0]]) {
      for (const m of node.data.matchAll(pattern)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size;
        if (most === 1 && lines > 1) split.push(m[0]);
        if (most === 0 && lines > Math.ceil(m[0].length / 2)) columns.push(m[0]);
      }
    }
  }
  return {outside, split, columns, scroll: document.documentElement.scrollWidth - window.innerWidth};
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed; `make test` installs Debian's chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


def _open(browser: Browser, page_file: Path, width: int) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(page_file.as_uri())
    return page


def _check_layout(page: Page, shot: Path) -> None:
    kept = artifact(shot.name)
    page.screenshot(path=str(kept), full_page=True)
    print(f"screenshot: {kept}")  # kept for a person to look at
    layout = page.evaluate(_LAYOUT)
    assert layout["scroll"] <= 0, layout
    assert layout["outside"] == [], layout["outside"]
    assert layout["split"] == [], layout["split"]
    assert layout["columns"] == [], layout["columns"]


@pytest.mark.parametrize("name", WIDTHS)
def test_the_report_fits_the_screen(reviewed: Reviewed, browser: Browser, tmp_path: Path, name: str) -> None:
    page = _open(browser, reviewed.data.report_dir("forum") / "report.html", WIDTHS[name])
    _check_layout(page, tmp_path / f"report-{name}.png")
    players = page.locator("audio")
    assert players.count() >= 3
    for i in range(players.count()):
        box = players.nth(i).bounding_box()
        assert box is not None
        # Chromium drops the play button from a player narrower than this; the whole player is on screen.
        assert box["width"] >= 150, box
        assert 0 <= box["x"] <= WIDTHS[name] - box["width"], box
    page.close()


#: The timeline's text as drawn: each visible label's rendered font size (its CSS size times the drawing's
#: scale on screen), its box, and whether it lies inside its drawing and the viewport; overlapping labels;
#: each lane's line and name; the legend's entries.
TIMELINE = """() => {
  const width = document.documentElement.clientWidth, texts = [], overlaps = [], lanes = [], legend = [];
  const inside = (r, box) => r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.left >= -0.5
    && r.right <= width + 0.5;
  for (const svg of document.querySelectorAll("svg.timeline, svg.timeline-labels")) {
    const box = svg.getBoundingClientRect(), shown = [];
    for (const text of svg.querySelectorAll("text")) {
      if (getComputedStyle(text).display === "none") continue;
      const r = text.getBoundingClientRect();
      const size = parseFloat(getComputedStyle(text).fontSize) * text.getScreenCTM().a;
      texts.push({text: text.textContent, size, height: r.height, inside: inside(r, box)});
      for (const other of shown)
        if (r.left < other.right && other.left < r.right && r.top < other.bottom && other.top < r.bottom)
          overlaps.push(text.textContent);
      shown.push(r);
    }
  }
  for (const lane of document.querySelectorAll("svg.timeline g.lane")) {
    const line = lane.querySelector("line").getBoundingClientRect();
    const name = document.querySelector(`svg.timeline-labels text[data-channel="${lane.dataset.channel}"]`);
    lanes.push({channel: lane.dataset.channel, line: line.width, inside: inside(line, line),
                name: name ? name.getBoundingClientRect().width : 0});
  }
  for (const item of document.querySelectorAll("#timeline-legend li")) {
    const r = item.getBoundingClientRect();
    legend.push({text: item.textContent, inside: r.width > 0 && inside(r, r)});
  }
  return {texts, overlaps, lanes, legend};
}"""


@pytest.mark.parametrize("name", WIDTHS)
def test_the_timeline_reads_at_every_width(reviewed: Reviewed, browser: Browser, name: str) -> None:
    """At a phone's width the timeline's text keeps its size (a scaled drawing would make it about 4 px):
    every label at least 10 px, inside its drawing and the screen, none over another; every lane drawn and
    named; the legend whole."""
    page = _open(browser, reviewed.data.report_dir("forum") / "report.html", WIDTHS[name])
    shot = artifact(f"timeline-{name}.png")
    page.locator("#timeline").screenshot(path=str(shot))
    print(f"screenshot: {shot}")
    drawn = page.evaluate(TIMELINE)
    sizes = [round(t["size"], 1) for t in drawn["texts"]]
    print(f"timeline text at {WIDTHS[name]} px: {min(sizes)}-{max(sizes)} px")
    assert len(drawn["texts"]) >= 8, drawn["texts"]  # the rows' and lanes' names and at least three times
    assert all(t["size"] >= 10 and t["height"] >= 10 for t in drawn["texts"]), drawn["texts"]
    assert [t for t in drawn["texts"] if not t["inside"]] == []
    assert drawn["overlaps"] == []
    channels = [lane["channel"] for lane in drawn["lanes"]]
    assert channels[:2] == ["speech", "screen"], channels
    assert all(lane["line"] > WIDTHS[name] / 2 and lane["inside"] and lane["name"] > 0 for lane in drawn["lanes"]), \
        drawn["lanes"]
    assert len(drawn["legend"]) == 6
    assert all(item["inside"] for item in drawn["legend"]), drawn["legend"]
    page.close()


@pytest.mark.parametrize("name", WIDTHS)
def test_the_index_fits_the_screen(reviewed: Reviewed, browser: Browser, tmp_path: Path, name: str) -> None:
    page = _open(browser, reviewed.data.reports / "index.html", WIDTHS[name])
    _check_layout(page, tmp_path / f"index-{name}.png")
    page.close()


def test_a_dismissed_marker_is_grey_and_ids_copy(reviewed: Reviewed, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto((reviewed.data.report_dir("forum") / "report.html").as_uri())
    fill = page.locator(f'a.marker-link[data-finding="{reviewed.dismissed}"] circle').evaluate(
        "c => getComputedStyle(c).fill")
    red, green, blue = (int(part) for part in fill.removeprefix("rgb(").removesuffix(")").split(","))
    assert max(red, green, blue) - min(red, green, blue) < 24, fill  # grey, not the alarm red
    other = next(f["id"] for f in reviewed.document["findings"] if f["severity"] == "critical"
                 and f["status"] != "dismissed")
    assert page.locator(f'a.marker-link[data-finding="{other}"] circle').evaluate(
        "c => getComputedStyle(c).fill") != fill
    button = page.locator(f"#finding-{other} button.copy-id")
    button.click()
    assert page.evaluate("navigator.clipboard.readText()") == other
    assert button.text_content() == "copied"
    context.close()


def test_a_clean_event_passes_and_says_so(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with registered(data) as db:
        add_run(db, T0, [(0, "大家好，欢迎来到论坛", "")])  # the semantic rules find it "low"
    _report(data, "--no-clips")
    page = BeautifulSoup((data.report_dir("forum") / "report.html").read_text(encoding="utf-8"), "html.parser")
    document = json.loads((data.report_dir("forum") / "findings.json").read_text(encoding="utf-8"))
    assert {f["severity"] for f in document["findings"]} <= {"low", "info"}
    assert " ".join(one(page, "#verdict-line").get_text().split()) == \
        ("pass: no critical, high or medium finding open" if document["findings"] else "pass: no finding open")
    assert one(page, "#findings-count").get_text() == str(len(document["findings"]))
