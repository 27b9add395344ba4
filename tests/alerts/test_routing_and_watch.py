"""Routing by severity and category, globally and per event; schedule and capture alerts from the facts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from livewatch.alerts.routing import Route, routes_for
from livewatch.alerts.watch import GapFacts, RunFacts, schedule_alerts
from livewatch.registration.models import Event, EventAlerts, RegistrationContext
from livewatch.settings import AlertingSettings, Settings
from tests.alerts.conftest import T0, alert

TARGETS = Settings.model_validate({"alerts": [
    {"name": "ops", "type": "log", "min_severity": "high"},
    {"name": "compliance", "type": "log", "min_severity": "medium", "categories": ["finance-promise", "schedule"]},
    {"name": "everything", "type": "log", "min_severity": "info"},
]}).alerts
ALERTING = AlertingSettings(cooldown_s=120)


def names(routes: list[Route]) -> list[str]:
    return [route.target for route in routes]


def test_global_routing_by_severity_and_category() -> None:
    assert names(routes_for(alert(severity="high"), TARGETS, ALERTING)) == ["ops", "compliance", "everything"]
    assert names(routes_for(alert(severity="medium"), TARGETS, ALERTING)) == ["compliance", "everything"]
    assert names(routes_for(alert(severity="critical", category="rumor"), TARGETS, ALERTING)) == ["ops", "everything"]
    assert names(routes_for(alert(severity="low"), TARGETS, ALERTING)) == ["everything"]
    assert {route.cooldown_s for route in routes_for(alert(), TARGETS, ALERTING)} == {120}


def test_per_event_routing_replaces_the_targets_filters() -> None:
    event = EventAlerts(targets=["ops", "compliance"], min_severity="low", categories=["rumor"], cooldown_s=0)
    assert names(routes_for(alert(severity="low", category="rumor"), TARGETS, ALERTING, event)) == ["ops", "compliance"]
    assert routes_for(alert(severity="critical"), TARGETS, ALERTING, event) == []  # not a chosen category
    assert routes_for(alert(), TARGETS, ALERTING, EventAlerts(enabled=False)) == []
    assert {r.cooldown_s for r in routes_for(alert(category="rumor"), TARGETS, ALERTING, event)} == {0}


def test_test_alerts_go_everywhere() -> None:
    test = alert("test|1", severity="info", category="test")
    test = type(test)(**{**test.__dict__, "kind": "test"})
    assert names(routes_for(test, TARGETS, ALERTING, EventAlerts(enabled=False))) == ["ops", "compliance", "everything"]


def test_event_alert_targets_must_be_configured(tmp_path: Path) -> None:
    context = RegistrationContext(alert_targets=("ops",))
    with pytest.raises(ValidationError, match=r"no alert target named pager.*configured: ops"):
        EventAlerts.model_validate({"targets": ["pager"]}, context=context)
    assert EventAlerts.model_validate({"targets": ["ops"]}, context=context).targets == ["ops"]


def test_target_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="webhook target needs"):
        Settings.model_validate({"alerts": [{"name": "a", "type": "webhook", "url": "file:///etc/passwd"}]})
    with pytest.raises(ValidationError, match="repeated: a"):
        Settings.model_validate({"alerts": [{"name": "a", "type": "log"}, {"name": "a", "type": "log"}]})
    with pytest.raises(ValidationError, match="not an e-mail address"):
        Settings.model_validate({"alerts": [{"name": "m", "type": "email", "to": ["nobody"]}]})
    with pytest.raises(ValidationError, match="secret_env"):
        Settings.model_validate({"alerts": [{"name": "w", "type": "webhook", "url": "https://x", "secret_env": "a b"}]})


def event(**changes: object) -> Event:
    data = {"id": "forum", "title": "Forum", "kind": "forum", "organizer": {"name": "QA"},
            "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat(),
            "streams": [{"url": "https://example.org/live.m3u8"}],
            "tolerances": {"early_start": 5, "late_start": 10, "overrun": 15}, **changes}
    return Event.model_validate(data, context=RegistrationContext())


def run(status: str = "recording", on_air: float | None = 0.0, off_air: float | None = None) -> RunFacts:
    return RunFacts(7, status, None if on_air is None else T0 + timedelta(minutes=on_air),
                    None if off_air is None else T0 + timedelta(minutes=off_air), "ffmpeg exited 1")


def test_no_show_only_after_the_late_tolerance() -> None:
    assert schedule_alerts(event(), None, [], T0 + timedelta(minutes=9), 60) == []
    [no_show] = schedule_alerts(event(), None, [], T0 + timedelta(minutes=10), 60)
    assert (no_show.rule, no_show.severity, no_show.category, no_show.kind) == (
        "schedule.no-show", "high", "schedule", "schedule")
    assert "no-show risk" in no_show.summary
    waiting = schedule_alerts(event(), run("waiting", on_air=None), [], T0 + timedelta(minutes=11), 60)
    assert waiting[0].key == no_show.key
    assert schedule_alerts(event(), run(on_air=3), [], T0 + timedelta(minutes=11), 60) == []
    assert schedule_alerts(event(), run("cancelled", on_air=None), [], T0 + timedelta(minutes=30), 60) == []


def test_early_start_and_overrun() -> None:
    [early] = schedule_alerts(event(), run(on_air=-6), [], T0, 60)
    assert early.rule == "schedule.early-start"
    assert "6.0 min before" in early.summary
    assert schedule_alerts(event(), run(on_air=-4), [], T0, 60) == []
    end = T0 + timedelta(hours=1)
    assert schedule_alerts(event(), run(), [], end + timedelta(minutes=14), 60) == []
    [overrun] = schedule_alerts(event(), run(), [], end + timedelta(minutes=15), 60)
    assert overrun.rule == "schedule.overrun"
    assert schedule_alerts(event(), run(off_air=70), [], end + timedelta(minutes=20), 60) == []


def test_capture_failures_and_long_gaps() -> None:
    [failed] = schedule_alerts(event(), run("failed"), [], T0 + timedelta(minutes=5), 60)
    assert (failed.rule, failed.category, failed.severity) == ("capture.run-failed", "capture", "high")
    assert "ffmpeg exited 1" in failed.summary
    gaps = [GapFacts(1, 0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1, seconds=30), "dropped"),
            GapFacts(2, 0, T0 + timedelta(minutes=5), None, "reconnecting")]
    now = T0 + timedelta(minutes=5, seconds=61)
    [gap] = schedule_alerts(event(), run(), gaps, now, 60)
    assert gap.rule == "capture.gap"
    assert "61 s (reconnecting)" in gap.summary
    assert gap.key.endswith(f"|s0|{gaps[1].start_at.isoformat()}")
    assert len(schedule_alerts(event(), run(), gaps, now, 20)) == 2


def test_an_outage_alerts_while_it_lasts_and_once_with_its_ledger_row() -> None:
    last = T0 + timedelta(minutes=5)
    ongoing = RunFacts(7, "reconnecting", T0, None, None, {0: last, 1: T0 + timedelta(minutes=6)})
    segment = event().capture.segment_seconds
    quiet = last + timedelta(seconds=60 + segment + 6)  # the gap allowance plus a closing segment and HLS
    assert schedule_alerts(event(), ongoing, [], quiet, 60) == []
    [alert] = schedule_alerts(event(), ongoing, [], quiet + timedelta(seconds=1), 60)
    assert "still going on" in alert.summary
    assert alert.details["stream"] == 0
    # media returns: the ledger's row for the same gap is the same alert
    closed = GapFacts(9, 0, last, last + timedelta(seconds=90), "dropped")
    again = schedule_alerts(event(), run(), [closed], quiet + timedelta(seconds=30), 60)
    assert [a.key for a in again] == [alert.key]
