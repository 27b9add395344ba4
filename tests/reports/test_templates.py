"""Templates: strict, autoescaped, every context field documented, rendered pages checked in Chromium."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pytest
from bs4 import BeautifulSoup

from livewatch.registration import load_registrations
from livewatch.registration.models import RegistrationContext
from livewatch.reports.schedule_view import ScheduleContext, ScheduleRow, schedule_context, schedule_rows
from livewatch.reports.template_context import (
    AuditSummary,
    DecisionNote,
    FindingCounts,
    FindingView,
    IndexContext,
    IndexRow,
    Lane,
    ParticipantFlag,
    ParticipantView,
    ReportContext,
    ReviewLine,
    ScreenView,
    Span,
    TranscriptLine,
    VerdictReason,
)
from livewatch.templating import builtin_templates_dir, make_environment, render
from tests.conftest import REPO, SCHEDULES

CONTEXTS = [ScheduleContext, ScheduleRow, ReportContext, FindingView, ScreenView, Lane, ParticipantView,
            TranscriptLine, Span, IndexContext, IndexRow, FindingCounts, VerdictReason, ParticipantFlag,
            ReviewLine, AuditSummary, DecisionNote]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("context", CONTEXTS, ids=lambda c: c.__name__)
def test_every_context_field_has_help(context: type) -> None:
    assert context.__doc__
    for field in dataclasses.fields(context):
        assert field.metadata.get("help"), f"{context.__name__}.{field.name} has no help"


def test_every_template_compiles() -> None:
    env = make_environment()
    names = sorted(p.name for p in builtin_templates_dir().glob("*.html"))
    assert names == sorted(p.name for p in (REPO / "templates").glob("*.html"))
    for name in names:
        env.get_template(name)


def test_environment_is_strict_and_autoescaping() -> None:
    env = make_environment()
    assert env.autoescape is True
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    assert env.from_string("{{ x }}").render(x="<b>&") == "&lt;b&gt;&amp;"


def test_override_dir_wins_and_can_extend_the_default(tmp_path: Path) -> None:
    (tmp_path / "schedule.html").write_text(
        '{% extends "default:schedule.html" %}{% block title %}Custom{% endblock %}', encoding="utf-8")
    html = render(make_environment(tmp_path), "schedule.html", schedule_context([], [], NOW))
    assert "<title>Custom</title>" in html
    assert 'id="schedule"' in html


def test_render_refuses_a_plain_dict() -> None:
    with pytest.raises(TypeError):
        render(make_environment(), "schedule.html", {"rows": []})


def _sample_page(tmp_path: Path) -> Path:
    registrations = load_registrations([SCHEDULES], RegistrationContext()).registrations
    page = tmp_path / "schedule.html"
    context = schedule_context(schedule_rows(registrations, NOW), ["x.yaml:1: id: <b>problem</b>"], NOW)
    page.write_text(render(make_environment(), "schedule.html", context), encoding="utf-8")
    return page


def test_schedule_page_structure(tmp_path: Path) -> None:
    soup = BeautifulSoup(_sample_page(tmp_path).read_text(encoding="utf-8"), "html.parser")
    ids = [row["data-event-id"] for row in soup.select("tr.event")]
    assert ids == ["creator-economy-forum-day1", "creator-economy-forum-day2",
                   "public-health-lecture-2026-12", "xinghe-annual-meeting-2026"]
    problem = soup.select_one("section.problems li")
    assert problem is not None
    assert problem.get_text() == "x.yaml:1: id: <b>problem</b>"
    assert not soup.select("link[rel=stylesheet], script[src], img[src^=http]"), "page must be self-contained"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed; `make test` installs Debian's chromium"
    return found


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,800",
]


def test_schedule_page_in_headless_chromium(tmp_path: Path) -> None:
    page = _sample_page(tmp_path)
    profile = tmp_path / "profile"
    dom = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    soup = BeautifulSoup(dom, "html.parser")
    assert len(soup.select("tr.event")) == 4
    assert "星河科技 2026 年度股东大会暨新品发布" in soup.get_text()
    shot = tmp_path / "shot.png"
    subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
