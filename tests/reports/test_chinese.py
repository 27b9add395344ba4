"""The pages in Chinese: every message of the catalog translated, a real zh report with no English left in what
a reader sees (outside transcripts, evidence, ids, rule ids, file names, URLs and numbers), the machine-readable
parts still English, and CJK text drawn with a CJK font in Chromium (no tofu boxes)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from bs4 import BeautifulSoup
from click.testing import CliRunner
from playwright.sync_api import sync_playwright
from starlette.testclient import TestClient

from livewatch.cli import cli
from livewatch.i18n import LANGUAGES, CategoryTitles, Message, catalog_path, category_title, page_language, translations
from livewatch.registration import load_registrations
from livewatch.registration.models import RegistrationContext
from livewatch.reports.reviews import audit_trail
from livewatch.reports.schedule_view import schedule_context, schedule_rows
from livewatch.review_server import create_app
from livewatch.state import DataDir
from livewatch.state.runs import RunStore, SegmentRecord
from livewatch.templating import make_environment, message_html, render
from tests.conftest import SCHEDULES
from tests.reports.test_glance import TIMELINE
from tests.reports.test_report import tone_wav
from tests.reports.test_templates import NOW
from tests.review_server.conftest import form_token, report_page, serve_forum, sign_in
from tests.rules.test_event_check import T0, add_run, registered
from tests.support.artifacts import artifact
from tests.support.isolation import isolated_like_a_test

LOCALE = Path(__file__).resolve().parents[2] / "livewatch" / "locale"
#: Names a Chinese reader sees as they are: the product, the recognisers' and the loudness units' abbreviations,
#: the formats' names (the audit log's problems: 不是 JSON, 不是 UTF-8 编码).
KEPT_WORDS = {"livewatch", "ASR", "OCR", "LUFS", "LU", "dBTP", "sha256", "JSON", "UTF"}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalog(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def test_every_message_has_a_chinese_translation() -> None:
    template = _catalog(LOCALE / "livewatch.pot")
    chinese = _catalog(LOCALE / "zh_CN" / "LC_MESSAGES" / "livewatch.po")
    wanted = {m.id for m in template if m.id}
    assert wanted == {m.id for m in chinese if m.id}, "livewatch.po is out of date: update it from the .pot"
    for message in chinese:
        if not message.id:
            continue
        strings = [str(s) for s in message.string] if isinstance(message.string, tuple) else [str(message.string)]
        assert all(s and s != "None" for s in strings), f"no Chinese for {message.id!r}"
        assert not message.fuzzy, message.id
        source = str(message.id[0] if isinstance(message.id, tuple) else message.id)
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == set(PLACEHOLDER.findall(source)), message.id


def test_catalogs_load_from_the_po_and_plurals_follow_the_count() -> None:
    assert translations("zh-CN") is translations("zh-CN")  # read once per process
    zh, en = translations("zh-CN"), translations("en")
    assert zh.gettext("critical") == "严重"
    singular, plural = "%(count)s %(severity)s finding %(status)s", "%(count)s %(severity)s findings %(status)s"
    assert en.ngettext(singular, plural, 1) % {"count": 1, "severity": "critical", "status": "open"} \
        == "1 critical finding open"
    assert en.ngettext(singular, plural, 2) % {"count": 2, "severity": "critical", "status": "open"} \
        == "2 critical findings open"
    assert zh.ngettext(singular, plural, 2) % {"count": 2, "severity": "严重", "status": "待处理"} \
        == "2 项严重级发现待处理"
    assert all((LOCALE.parent / catalog_path(language)).is_file() for language in LANGUAGES if language != "en")
    assert not list(LOCALE.rglob("*.mo")), "catalogs are read from the .po; no compiled files in the repository"


@pytest.mark.parametrize(("setting", "spoken", "page"), [
    ("event", "zh", "zh-CN"), ("event", "en", "en"), ("event", "auto", "en"), ("event", None, "en"),
    ("zh-CN", "en", "zh-CN"), ("en", "zh", "en")])
def test_the_page_language(setting: str, spoken: str | None, page: str) -> None:
    assert page_language(setting, spoken) == page


def test_a_category_is_shown_in_the_page_language() -> None:
    """The pack's title in the page's language, else the catalog's, else the pack's title, else the id."""
    titles = {"desk": CategoryTitles("Desk", {"zh-CN": "台账"}), "plain": CategoryTitles("Plain"),
              "finance-promise": CategoryTitles("Finance and investment promises")}
    assert [category_title(c, titles, "zh-CN") for c in ("desk", "finance-promise", "plain", "odd-one")] == [
        "台账", "金融投资承诺", "Plain", "odd-one"]
    assert [category_title(c, titles, "en") for c in ("desk", "finance-promise", "plain", "odd-one")] == [
        "Desk", "Finance and investment promises", "Plain", "odd-one"]


def test_a_message_is_english_as_text_and_translated_on_a_page() -> None:
    why = Message("not UTF-8 (byte %(byte)s)", {"byte": 3})
    note = Message("%(file)s line %(line)s: %(why)s; skipped", {"file": "a<b>.jsonl", "line": 2, "why": why})
    assert str(note) == "a<b>.jsonl line 2: not UTF-8 (byte 3); skipped"
    assert note.render(translations("zh-CN")) == "a<b>.jsonl 第 2 行：不是 UTF-8 编码（第 3 字节），已跳过"
    assert str(message_html(note, translations("zh-CN"))) == \
        '<span class="data">a&lt;b&gt;.jsonl</span> 第 2 行：不是 UTF-8 编码（第 3 字节），已跳过'
    listed = Message("the decision cannot be recorded: %(problems)s", {"problems": ("x", "y")})
    assert (str(listed), listed.render(translations("zh-CN"))) == (
        "the decision cannot be recorded: x; y", "无法记录该决定：x；y")


@dataclass(frozen=True)
class Reported:
    data: DataDir
    config: Path


def _report(data: DataDir, *args: str) -> None:
    result = CliRunner().invoke(cli, ["--data", str(data.root), *args])
    assert result.exit_code == 0, result.output


def _reported(folder: Path) -> Reported:
    data = DataDir(folder / "data")
    tone = tone_wav(folder / "tone.wav", 10)
    participants = [{"name": "李华", "role": "host", "real_name_verified": True, "birth_year": 1990},
                    {"name": "王芳", "role": "guest", "real_name_verified": True, "birth_year": 2014}]
    with registered(data, title="理财知识论坛", language="zh", organizer={"name": "星河科技"},
                    participants=participants) as db:
        run_id = add_run(db, T0, [(0, "大家好", ""), (30, "这个理财保本保息", ""), (60, "加我V信", "low-confidence"),
                                  (90, "今天就到这里", "")])
        store = RunStore(db.engine)
        for seq in range(10):
            path = Path(shutil.copy(tone, folder / f"s0-{seq:06d}.wav"))
            start = T0 + timedelta(seconds=10 * seq)
            store.add_segment(SegmentRecord(run_id, 0, None, "audio", seq, path, start, start + timedelta(seconds=10),
                                            path.stat().st_size, "ok"))
    _report(data, "report")
    document = json.loads((data.report_dir("forum") / "findings.json").read_text(encoding="utf-8"))
    first = document["findings"][0]["id"]
    data.review_file("forum").write_text(f"{first}:\n  status: dismissed\n  reviewer: 王审核\n  note: 误报\n",
                                         encoding="utf-8")
    _report(data, "report", "forum")
    config = folder / "livewatch.toml"
    config.write_text('ui_language = "zh-CN"\n', encoding="utf-8")
    return Reported(data, config)


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Reported:
    """Built once (isolated as tests/conftest.py isolates each test)."""
    with isolated_like_a_test():
        return _reported(tmp_path_factory.mktemp("chinese"))


def _english_left(html: str) -> list[str]:
    """English words a reader sees: the visible text and the tooltips, labels and placeholders, less what is
    data (the event's title, transcript lines, evidence, finding and rule ids, pack ids and the packs' legal
    basis, provenance values, a message's values such as a file name or a parser's words) and less file names,
    paths, URLs, hashes, numbers and the kept names."""
    soup = BeautifulSoup(html, "html.parser")
    for css in ("script", "style", "title", "h1", ".transcript p.line", "td.evidence", ".finding-id", ".rule-id",
                ".pack-id", ".event-id", ".legal-basis", "#provenance dd", "#events small", "time", "span.data"):
        for tag in soup.select(css):
            tag.decompose()
    shown = [soup.get_text(" ")]
    for tag in soup.find_all(True):
        shown += [str(tag.get(name, "")) for name in ("title", "alt", "aria-label", "placeholder", "data-copied")]
    text = " ".join(shown)
    text = re.sub(r"\S*[/.@:]\S*[A-Za-z]\S*|\S*[A-Za-z]\S*[/.@]\S*", " ", text)  # paths, URLs, files, ids
    words = {w.strip("-") for w in re.findall(r"\b[A-Za-z][A-Za-z-]*\b", text)}
    return sorted(w for w in words if w not in KEPT_WORDS and len(w) > 1)


def test_the_chinese_report_has_no_english_left(reported: Reported) -> None:
    html = (reported.data.report_dir("forum") / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    assert _english_left(html) == []
    page = BeautifulSoup(html, "html.parser")
    assert "项" in page.select_one("#verdict-reason").get_text()  # type: ignore[union-attr]
    verdict_line = one_text(page, "#verdict-line")
    assert verdict_line.startswith("不合格：1 项严重级发现待处理"), verdict_line  # Chinese punctuation
    assert ":" not in verdict_line, verdict_line
    counts = one_text(page, "p.counts")
    assert "严重：1" in counts, counts
    assert "金融投资承诺：1" in counts, counts  # the built-in pack's Chinese title for finance-promise
    assert "审核人 王审核" in page.get_text()  # the review log
    flag = page.select_one("#participants span.flag")
    assert flag is not None
    assert (str(flag["data-code"]), flag.get_text()) == ("guest-under-16", "未满 16 周岁，不得主持直播")


def test_the_chinese_index_under_ui_language(reported: Reported) -> None:
    data = reported.data
    _report(data, "--config", str(reported.config), "report", "forum")
    html = (data.reports / "index.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    soup = BeautifulSoup(html, "html.parser")
    assert str(soup.select_one("tr.event")["data-status"]) == "done"  # type: ignore[index]
    for title in soup.select("#events td a"):  # the events' titles are data
        title.decompose()
    assert _english_left(str(soup)) == []


def test_the_chinese_schedule_page() -> None:
    registrations = load_registrations([SCHEDULES], RegistrationContext()).registrations
    context = schedule_context(schedule_rows(registrations, NOW), [], NOW)
    soup = BeautifulSoup(render(make_environment(language="zh-CN"), "schedule.html", context), "html.parser")
    for row in soup.select("tr.event"):
        cells = row.find_all("td")
        for cell in (cells[0], cells[-1]):  # the event's id and its stream URLs
            cell.decompose()
        for text in cells[1].find_all(string=True, recursive=False):  # the event's title (its category stays)
            text.replace_with("")
    assert _english_left(str(soup)) == []
    assert "共 4 场活动" in soup.get_text()


def test_machine_readable_parts_stay_english(reported: Reported) -> None:
    folder = reported.data.report_dir("forum")
    soup = BeautifulSoup((folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    severities = {"critical", "high", "medium", "low", "info"}
    rows = soup.select("tr.finding")
    assert rows
    assert {str(row["data-severity"]) for row in rows} <= severities
    assert {str(s["data-status"]) for s in soup.select("small.status")} <= {"open", "confirmed", "dismissed",
                                                                           "escalated"}
    assert str(soup.select_one("#verdict")["data-verdict"]) in ("fail", "review", "pass")  # type: ignore[index]
    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    assert document["verdict"] in ("fail", "review", "pass")
    assert {f["severity"] for f in document["findings"]} <= severities
    assert "dismissed" in {f["status"] for f in document["findings"]}
    table = list(csv.DictReader(io.StringIO((folder / "findings.csv").read_text(encoding="utf-8-sig"))))
    assert {row["severity"] for row in table} <= severities


def test_the_chinese_report_draws_cjk_with_a_cjk_font(reported: Reported, tmp_path: Path) -> None:
    chromium_path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium_path, "chromium is not installed; `make test` installs Debian's chromium"
    page_file = reported.data.report_dir("forum") / "report.html"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 400, "height": 900})
            page.goto(page_file.as_uri())
            shot = artifact("report-zh-400.png")
            page.screenshot(path=str(shot))
            print(f"screenshot: {shot}")
            # The fonts Chromium actually drew the verdict and a heading with: a CJK face, never a fallback box.
            cdp = page.context.new_cdp_session(page)
            cdp.send("DOM.enable")
            cdp.send("CSS.enable")
            root = cdp.send("DOM.getDocument")["root"]["nodeId"]
            for selector in ("#verdict-reason", "section[aria-label] h2"):
                node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
                fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
                families = [f["familyName"] for f in fonts]
                assert any("CJK" in f or "Han" in f for f in families), families
            assert page.evaluate("document.documentElement.scrollWidth") <= 400
            # The timeline's Chinese labels as readable as the English ones (tests/reports/test_glance.py).
            drawn = page.evaluate(TIMELINE)
            assert all(t["size"] >= 10 and t["inside"] for t in drawn["texts"]), drawn["texts"]
            assert drawn["overlaps"] == []
            assert all(lane["name"] > 0 and lane["inside"] for lane in drawn["lanes"]), drawn["lanes"]
        finally:
            browser.close()


def test_the_review_server_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-in page, index and a report with its review forms, all in zh-CN; a decision shown translated."""
    monkeypatch.setenv("LIVEWATCH_SERVER_SECRET", "a test secret, not a real one")
    served = serve_forum(tmp_path)
    settings = served.settings.model_copy(update={"ui_language": "zh-CN"})
    with TestClient(create_app(settings)) as client:
        login = client.get("/login").text
        assert '<html lang="zh-CN">' in login
        assert _english_left(login) == []
        sign_in(client, "王审核", "wrong")  # refused with a translated message
        sign_in(client, "王审核")
        page = report_page(client)
        first = str(page.select("tr.finding")[0]["data-rule"])
        finding = str(page.select("tr.finding")[0]["id"]).removeprefix("finding-")
        response = client.post(f"/forum/findings/{finding}",
                               data={"csrf": form_token(page), "action": "dismiss", "note": "误报"},
                               follow_redirects=False)
        assert response.status_code in (200, 303), response.text
        html = client.get("/forum/report.html").text
        assert "已驳回，审核人 王审核: 误报" in html, first
        soup = BeautifulSoup(html, "html.parser")
        for tag in soup.select("h1, title, .organizer"):  # the event's title ("Forum") and organizer are data
            tag.decompose()
        assert _english_left(str(soup)) == []
        assert "全部活动" in client.get("/").text
        forged = client.post(f"/forum/findings/{finding}", data={"csrf": "forged", "action": "confirm"},
                             follow_redirects=False)
        assert forged.status_code == 403
        assert "表单令牌缺失或已过期，请刷新页面" in forged.text


#: A desk's own pack: its category titled in Chinese (a page in Chinese shows the title, never the id).
DESK_PACK = """\
id: desk
version: "1.0"
title: The desk's own terms
categories:
  miracle-cure: {title: "Miracle cures", titles: {zh-CN: 神药宣传}, legal_basis: 广告法 第十七条}
rules:
  - id: miracle-cure.shenyao
    type: lexicon
    category: miracle-cure
    severity: high
    terms: [神药]
    examples:
      fires: [这是神药]
      passes: [这是好药]
"""


def test_a_broken_audit_log_and_a_desk_pack_in_chinese(tmp_path: Path) -> None:
    """The audit log's problems (a bad line, a line not UTF-8, an entry missing fields, an edit that breaks the
    hash chain) and a user pack's category in a zh report: Chinese, with only data (the log's name, line
    numbers, field names) as it is; the command line keeps the English; data attributes keep the ids."""
    data = DataDir(tmp_path / "data")
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "desk.yaml").write_text(DESK_PACK, encoding="utf-8")
    config = tmp_path / "livewatch.toml"
    config.write_text(f'rule_packs_dir = "{packs}"\n', encoding="utf-8")
    with registered(data, title="健康讲座", language="zh", organizer={"name": "星河科技"},
                    rule_packs=["default", "desk"]) as db:
        add_run(db, T0, [(0, "大家好", ""), (30, "这个理财保本保息", ""), (60, "这是神药", "")])
    _report(data, "--config", str(config), "report")
    document = json.loads((data.report_dir("forum") / "findings.json").read_text(encoding="utf-8"))
    first, second = (f["id"] for f in document["findings"][:2])
    data.review_file("forum").write_text(f"{first}: {{status: dismissed, reviewer: 王审核}}\n"
                                         f"{second}: {{status: confirmed, reviewer: 李主管}}\n", encoding="utf-8")
    _report(data, "--config", str(config), "report", "forum")
    log = data.reviews / "forum.audit.jsonl"
    one, two = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(one.replace("王审核".encode(), "张三".encode()) + two + b"{cut off\n" + b"\xff\xfe\n"
                    + b'{"at": "2026-01-01T00:00:00+00:00"}\n')
    result = CliRunner().invoke(cli, ["--data", str(data.root), "--config", str(config), "report", "forum"])
    assert result.exit_code == 0, result.output
    assert "forum.audit.jsonl line 2: the hash chain breaks here" in result.output  # English on the command line
    html = (data.report_dir("forum") / "report.html").read_text(encoding="utf-8")
    assert _english_left(html) == []
    page = BeautifulSoup(html, "html.parser")
    notes = [" ".join(p.get_text().split()) for p in page.select("p.audit-note")]
    assert notes == [
        "forum.audit.jsonl 第 3 行：不是 JSON（因崩溃被截断，或被编辑过），已跳过",
        "forum.audit.jsonl 第 4 行：不是 UTF-8 编码（第 1 字节），已跳过",
        "forum.audit.jsonl 第 5 行：不是审计条目（缺少或有误的字段：event, finding, from, to），已跳过",
        "forum.audit.jsonl 第 2 行：哈希链在此断开（其记录的哈希值与第 1 行不符：此前有行被修改、插入或删除）"]
    assert one_text(page, "#audit-summary").startswith("审计日志：2 条记录，哈希链已断裂，末行 sha256 ")
    trail = audit_trail(data, "forum")
    assert str(trail.summary()).startswith("audit log: 2 entries, hash chain BROKEN, last line sha256 ")
    assert trail.summary().render(translations("zh-CN")) == one_text(page, "#audit-summary")
    shown = {str(tag["data-category"]): tag.get_text() for tag in page.select("[data-category]")}
    assert shown["miracle-cure"].startswith("神药宣传")
    assert shown["finance-promise"].startswith("金融投资承诺")  # the built-in pack's own Chinese title
    assert {f["category"] for f in document["findings"]} >= {"miracle-cure", "finance-promise"}


def one_text(page: BeautifulSoup, selector: str) -> str:
    tag = page.select_one(selector)
    assert tag is not None, selector
    return " ".join(tag.get_text().split())


def test_refused_decisions_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the review server refuses, in Chinese with the data kept as it is: a note too long, a finding the
    event does not have, and a review file made invalid by a hand edit (nothing recorded in each case)."""
    monkeypatch.setenv("LIVEWATCH_SERVER_SECRET", "a test secret, not a real one")
    served = serve_forum(tmp_path)
    settings = served.settings.model_copy(update={"ui_language": "zh-CN"})
    with TestClient(create_app(settings)) as client:
        sign_in(client, "王审核")
        page = report_page(client)
        finding = str(page.select("tr.finding")[0]["id"]).removeprefix("finding-")
        token = form_token(page)

        def refused(finding_id: str, note: str, status: int) -> str:
            response = client.post(f"/forum/findings/{finding_id}",
                                   data={"csrf": token, "action": "confirm", "note": note}, follow_redirects=False)
            assert response.status_code == status, response.text
            assert '<html lang="zh-CN">' in response.text
            assert _english_left(response.text) == [], response.text
            return " ".join(BeautifulSoup(response.text, "html.parser").get_text().split())

        assert "无法记录该决定：备注超过 20000 个字符" in refused(finding, "很长" * 10_001, 400)
        assert "活动 forum 中没有发现 0123456789abcdef" in refused("0123456789abcdef", "", 400)
        review = served.data.review_file("forum")
        review.write_text(f"{finding}:\n  status: maybe\n  reviewer: 王审核\n", encoding="utf-8")
        text = refused(finding, "", 409)
        assert "审核文件 forum.yaml 经手工编辑后无效，因此未记录任何内容；请先改正：" \
            f"第 2 行，{finding}.status：" in text
        review.write_text(f"{finding}: {{status: dismissed, reviewer: 王审核}}\n{finding}: {{status: confirmed, "
                          "reviewer: 李主管}\n", encoding="utf-8")
        assert f"发现 {finding} 在第 1 行和第 2 行各有一条决定" in refused(finding, "", 409)
        assert audit_trail(served.data, "forum").entries == ()  # nothing was recorded
