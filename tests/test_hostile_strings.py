"""Hostile strings everywhere a user can type: every one is either refused with the file and field named,
or kept exactly and shown as text — in the terminal, the report, the index, the exports and the alerts."""

from __future__ import annotations

import csv
import email.policy
import io
import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from livewatch.alerts.base import Delivery
from livewatch.alerts.channels.email import message_for
from livewatch.alerts.channels.webhook import body_of
from livewatch.alerts.service import finding_alert
from livewatch.checking import check_event
from livewatch.cli import cli
from livewatch.reports.render import publish
from livewatch.state import DataDir
from tests.rules.test_event_check import T0, add_run, registered, session_for

#: Accepted in free text: markup, template syntax, SQL, spreadsheet formulas, terminal markup, format
#: strings, path tricks, bidi overrides, zero-width and combining characters, other scripts, long text.
ACCEPTED = [
    '<script>alert(1)</script>"><img src=x onerror=alert(2)>',
    "{{ 7*7 }}{% for x in range(3) %}x{% endfor %}${7*7}",
    "'; DROP TABLE events; --",
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "[bold red]rich markup[/bold red] [link=http://evil.example]x[/link]",
    "%s %n %(name)s {0} {name!r}",
    "../../../etc/passwd",
    "zero\u200bwidth\u200djoiners\ufeff",
    "e\u0301 combining, 😀 emoji, 中文, العربية, עברית",
    "x" * 290,
]
#: Refused, with the field named: line breaks, control characters and bidirectional overrides.
REFUSED = [
    "\u202egnp.exe (a right-to-left override hides what a name says)",
    "two\nlines",
    "null\x00byte",
    "bell\x07",
    "escape \x1b[31mred\x1b[0m",
    "Subject: x\r\nBcc: all@example.org",
]

EVENT = """\
id: hostile
title: {title}
kind: forum
organizer: {{name: {organizer}}}
start: 2026-12-01T09:00:00+00:00
end: 2026-12-01T10:00:00+00:00
streams: [{{url: "https://live.example.com/1"}}]
participants: [{{name: {name}, role: guest}}]
notes: {notes}
"""


def write_event(folder: Path, text: str) -> Path:
    quoted = json.dumps(text, ensure_ascii=False)  # a YAML double-quoted scalar
    path = folder / "hostile.yaml"
    path.write_text(EVENT.format(title=quoted, organizer=quoted, name=quoted, notes=quoted), encoding="utf-8")
    return path


@pytest.mark.parametrize("text", ACCEPTED, ids=range(len(ACCEPTED)))
def test_validate_accepts_and_prints_free_text_literally(tmp_path: Path, text: str) -> None:
    write_event(tmp_path, text)
    result = CliRunner().invoke(cli, ["schedule", "--format", "json", "--schedules", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [event] = json.loads(result.output)["events"]
    assert event["title"] == text
    validated = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert validated.exit_code == 0, validated.output
    assert validated.exception is None


def test_schedule_table_shows_markup_as_text(tmp_path: Path) -> None:
    """rich reads ``[bold]`` in a table cell as style and raises on an unmatched ``[/x]``: a title typed by
    someone outside the project is shown as written instead."""
    write_event(tmp_path, "[/x] [bold red]稳赚[/bold red]")
    result = CliRunner().invoke(cli, ["schedule", "--schedules", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "[/x] [bold red]稳赚[/bold red]" in result.output


@pytest.mark.parametrize("text", REFUSED, ids=range(len(REFUSED)))
def test_validate_refuses_control_characters_naming_file_and_field(tmp_path: Path, text: str) -> None:
    path = write_event(tmp_path, text)
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{path}:" in result.output
    for field in ("title", "organizer.name", "participants[0].name"):
        assert field in result.output
    assert "\x1b[31m" not in result.output
    assert "\x00" not in result.output


def test_event_ids_with_path_tricks_are_refused(tmp_path: Path) -> None:
    for bad in ("../escape", "a/b", "..", "CON", "x" * 80, "ok\u202e"):
        text = EVENT.format(title='"t"', organizer='"o"', name='"n"', notes='"n"').replace("id: hostile",
                                                                                        f"id: {json.dumps(bad)}")
        (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
        result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
        assert result.exit_code == 1, bad
        assert "bad.yaml:1: id:" in result.output


def test_every_output_keeps_hostile_text_as_text(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    hostile = "|".join(ACCEPTED[:8])[:300]
    spoken: list[tuple[float, str, str]] = [(0, ACCEPTED[0], ""), (10, "=1+2 这个理财保本保息 {{ 7*7 }}", ""),
              (20, f"{ACCEPTED[4]} 加我V信 {ACCEPTED[7]}", "")]
    participants = [{"name": ACCEPTED[0], "role": "host", "real_name_verified": True, "birth_year": 1990}]
    organizer = {"name": ACCEPTED[7]}
    with registered(data, title=hostile, notes=hostile, organizer=organizer, participants=participants) as db:
        add_run(db, T0, spoken)
        session = session_for(data, db)
        check = check_event(session, "forum")
        publish(session, check, clips=False)
        findings = [f for f in check.findings if f.category in ("finance-promise", "traffic-diversion")]
    assert len(findings) == 2
    folder = data.report_dir("forum")

    for page_path in (folder / "report.html", data.reports / "index.html"):
        html = page_path.read_text(encoding="utf-8")
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        page = BeautifulSoup(html, "html.parser")
        assert not page.select("img")
        assert not page.select("[onerror]")
    report = BeautifulSoup((folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    assert report.select_one("#notes").get_text() == hostile  # type: ignore[union-attr]
    assert ACCEPTED[7] in report.get_text()  # the organizer, rich markup and all
    assert "{{ 7*7 }}" in report.get_text()  # the evidence's template syntax, shown, not evaluated
    assert ACCEPTED[0] in report.get_text()  # the host's name

    document = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    evidence = {f["rule"]: f["evidence"] for f in document["findings"]}
    assert "=1+2 这个理财保本保息 {{ 7*7 }}" in evidence["finance-promise.guaranteed-returns"]
    rows = list(csv.DictReader(io.StringIO((folder / "findings.csv").read_text(encoding="utf-8-sig"))))
    for row in rows:
        for cell in row.values():
            assert not (cell or "").startswith(("=", "+", "-", "@")), cell  # no cell is a formula

    for finding in findings:
        alert = finding_alert(finding, check.event, str(folder / "report.html"))
        payload = json.loads(body_of(Delivery(alert.key, "hook", alert.payload(), 1)))
        assert payload["evidence"] == finding.evidence
        assert payload["event"]["title"] == hostile
        message = message_for(Delivery(alert.key, "mail", alert.payload(), 1), "lw@example.org", ["r@example.org"])
        raw = message.as_bytes(policy=email.policy.SMTP)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert "\n" not in str(parsed["Subject"])
        assert parsed["Bcc"] is None
        assert finding.evidence in parsed.get_content()


def test_hostile_text_on_the_schedule_page(tmp_path: Path) -> None:
    write_event(tmp_path, ACCEPTED[0])
    result = CliRunner().invoke(cli, ["schedule", "--format", "html", "--schedules", str(tmp_path)])
    assert result.exit_code == 0
    assert "<script>alert" not in result.output
    page = BeautifulSoup(result.output, "html.parser")
    assert ACCEPTED[0] in page.get_text()
    assert not page.select("img")
