"""``kind: inspection`` (issue 22): what an inspection is held to is its kind's policy. No organizer, and a
block saying who asked; the registration checks that need declared data, the schedule rules and the schedule
alerts do not apply; the blacklist, capture alerts and an unresolved stream still do."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from livewatch.alerts.watch import RunFacts, schedule_alerts
from livewatch.registration.blacklist import BarredPerson, Blacklist
from livewatch.registration.kinds import INSPECTED, REGISTERED, kind_policy
from livewatch.registration.loader import Registration
from livewatch.registration.models import Event, RegistrationContext
from livewatch.registration.registration_checks import check_registration
from livewatch.rules.base import EventFacts, Gap, RuleInput
from livewatch.sourcemap import LineMap
from tests.rules.test_rule_types import FACTS, T0, evaluate

ASKED = {"inspector": "li.wei", "requested_at": T0.isoformat(), "tip_from": "a viewer"}
#: A participant the inspector named: no birth year, no credential, real name not known.
SPEAKER = {"name": "张某某", "role": "host"}


def event(kind: str = "inspection", **changes: Any) -> Event:
    data: dict[str, Any] = {
        "id": "inspect-1", "title": "Inspection", "kind": kind, "start": T0.isoformat(),
        "end": (T0 + timedelta(hours=2)).isoformat(), "streams": [{"url": "https://live.example.com/9"}],
        "topics": ["finance"], "participants": [SPEAKER]}
    if kind == "inspection":
        data["inspection"] = ASKED
    else:
        data["organizer"] = {"name": "QA"}
    return Event.model_validate({**data, **changes}, context=RegistrationContext())


def _messages(err: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return {".".join(map(str, e["loc"])): e["type"] for e in err.value.errors()}


def test_an_inspection_needs_no_organizer_and_says_who_asked() -> None:
    assert event().organizer is None
    assert event().inspection is not None
    with pytest.raises(ValidationError) as missing:
        event(inspection=None)
    assert _messages(missing) == {"inspection": "missing"}
    with pytest.raises(ValidationError) as forum:
        Event.model_validate({"id": "f", "title": "F", "kind": "forum", "start": T0.isoformat(),
                              "end": (T0 + timedelta(hours=1)).isoformat(),
                              "streams": [{"url": "https://live.example.com/1"}], "inspection": ASKED})
    assert _messages(forum) == {"organizer": "missing", "inspection": "value_error"}


def test_registration_checks_that_need_declared_data_are_not_findings_but_the_blacklist_is() -> None:
    barred = Blacklist((BarredPerson(name="张某某", reason="listed"),))

    def codes(ev: Event) -> set[str]:
        reg = Registration(ev, Path("x.yaml"), (), 1, "", LineMap())
        return {str(issue.code) for issue in check_registration(reg, barred)}

    assert codes(event("forum")) == {"no-category", "real-name-unknown", "host-age-unknown", "credential-missing",
                                     "blacklisted"}
    assert codes(event()) == {"blacklisted"}


def _minutes(a: float, b: float) -> tuple[tuple[Any, Any], ...]:
    return ((T0 + timedelta(minutes=a), T0 + timedelta(minutes=b)),)


@pytest.mark.parametrize(("check", "facts"), [
    ("early_start", replace(FACTS, on_air=_minutes(-30, 120))),
    ("late_start", replace(FACTS, on_air=_minutes(30, 120))),
    ("overrun", replace(FACTS, on_air=_minutes(0, 180))),
    ("no_show", replace(FACTS, on_air=(), run_status="no-show")),
    ("gaps", replace(FACTS, gaps=(Gap(T0 + timedelta(minutes=30), T0 + timedelta(minutes=60), "dropped"),))),
])
def test_schedule_rules_do_not_apply_to_an_inspection(tmp_path: Path, check: str, facts: EventFacts) -> None:
    rule = {"id": f"schedule.{check}", "type": "schedule", "check": check}
    assert evaluate(tmp_path, rule, RuleInput(replace(facts, registration=event("forum"))))
    assert evaluate(tmp_path, rule, RuleInput(replace(facts, registration=event()))) == []


def test_an_unresolved_stream_is_still_a_finding(tmp_path: Path) -> None:
    facts = replace(FACTS, on_air=(), run_status="unresolved", registration=event())
    assert evaluate(tmp_path, {"id": "schedule.unresolved", "type": "schedule", "check": "unresolved"},
                    RuleInput(facts))


def test_no_schedule_alerts_for_an_inspection_but_capture_alerts_still() -> None:
    later = T0 + timedelta(minutes=30)
    assert [a.rule for a in schedule_alerts(event("forum"), None, [], later, 60)] == ["schedule.no-show"]
    assert schedule_alerts(event(), None, [], later, 60) == []
    failed = RunFacts(7, "failed", None, None, "ffmpeg exited 1")
    assert [a.kind for a in schedule_alerts(event(), failed, [], later, 60)] == ["capture"]


def test_the_policy_of_a_kind() -> None:
    assert kind_policy("inspection") is INSPECTED
    assert kind_policy("forum") is REGISTERED
    assert kind_policy(None) is REGISTERED
