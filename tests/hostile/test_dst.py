"""Daylight-saving time (issue 15, item 5) and hidden characters in URLs (issue 15, Low).

Registered times are compared and armed as instants: a local time the clocks skip or show twice is an error
that shows the instants it could mean, and an event right after the spring gap is armed at its real start.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from livewatch.cli import cli
from livewatch.monitor import Monitor
from livewatch.monitor.arming import window_of
from livewatch.monitor.jobs import armed_jobs
from livewatch.registration import RegistrationContext
from livewatch.registration.models import Event
from livewatch.settings import Settings

EVENT = """\
id: {id}
title: DST test
kind: forum
category: knowledge
organizer: {{name: QA}}
timezone: America/New_York
start: {start}
end: {end}
streams: [{{url: "{url}"}}]
capture: {{pre_roll_minutes: {pre_roll}}}
"""


def write(folder: Path, start: str, end: str, *, event_id: str = "dst", url: str = "http://127.0.0.1:9/a.m3u8",
          pre_roll: int = 10) -> Path:
    path = folder / f"{event_id}.yaml"
    path.write_text(EVENT.format(id=event_id, start=start, end=end, url=url, pre_roll=pre_roll), encoding="utf-8")
    return path


def errors(folder: Path) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["validate", "--format", "json", str(folder)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return [issue for issue in json.loads(result.output)["issues"] if issue["severity"] == "error"]


def test_a_start_in_the_spring_gap_is_refused_with_the_instants_it_could_mean(tmp_path: Path) -> None:
    write(tmp_path, "2027-03-14T02:50", "2027-03-14T03:05")
    [issue] = errors(tmp_path)
    assert issue["field"] == "start"
    assert issue["line"] == 7
    message = issue["message"]
    assert "2027-03-14T02:50 does not exist in America/New_York" in message
    assert "2027-03-14T07:50 UTC" in message  # read with EST, the offset before the change
    assert "2027-03-14T06:50 UTC" in message  # read with EDT, the offset after


def test_an_end_before_the_start_in_instants_is_refused(tmp_path: Path) -> None:
    # 02:50 EST is 07:50 UTC; 03:05 EDT is 07:05 UTC: on the wall clock it looks 15 minutes long, it is −45.
    write(tmp_path, "2027-03-14T02:50-05:00", "2027-03-14T03:05")
    [issue] = errors(tmp_path)
    assert issue["field"] == "end"
    assert "is not after start" in issue["message"]


def test_an_ambiguous_time_in_the_autumn_fold_shows_both_instants(tmp_path: Path) -> None:
    write(tmp_path, "2027-11-07T01:30", "2027-11-07T03:00")
    [issue] = errors(tmp_path)
    assert issue["field"] == "start"
    assert "ambiguous" in issue["message"]
    assert "2027-11-07T05:30 UTC" in issue["message"]  # 01:30 EDT
    assert "2027-11-07T06:30 UTC" in issue["message"]  # 01:30 EST


def test_an_explicit_offset_chooses_inside_the_fold_and_durations_are_real() -> None:
    context = RegistrationContext()
    event = Event.model_validate({
        "id": "fold", "title": "t", "kind": "forum", "organizer": {"name": "o"}, "timezone": "America/New_York",
        "start": "2027-11-07T01:50-04:00", "end": "2027-11-07T01:10-05:00",  # 20 minutes later, as instants
        "streams": [{"url": "https://live.example.com/a"}], "capture": {"pre_roll_minutes": 10,
                                                                         "overrun_cap_minutes": 30},
    }, context=context)
    assert event.end - event.start == timedelta(minutes=20)
    window = window_of(event)
    assert window.arm_at == datetime(2027, 11, 7, 5, 40, tzinfo=UTC)
    assert window.hard_stop == datetime(2027, 11, 7, 6, 40, tzinfo=UTC)


def test_an_event_across_the_autumn_change_lasts_its_real_length() -> None:
    # 00:50 EDT to 02:10 EST: 80 minutes on the wall clock, 140 in fact; the overrun cap counts from the real end.
    event = Event.model_validate({
        "id": "across", "title": "t", "kind": "forum", "organizer": {"name": "o"}, "timezone": "America/New_York",
        "start": "2027-11-07T00:50", "end": "2027-11-07T02:10", "streams": [{"url": "https://live.example.com/a"}],
        "capture": {"overrun_cap_minutes": 30},
    }, context=RegistrationContext())
    assert event.end - event.start == timedelta(minutes=140)
    assert window_of(event).hard_stop == datetime(2027, 11, 7, 7, 40, tzinfo=UTC)
    assert event.start.isoformat() == "2027-11-07T00:50:00-04:00"  # still shown on the officer's clock
    assert event.end.isoformat() == "2027-11-07T02:10:00-05:00"


def test_an_event_just_after_the_gap_is_armed_at_its_real_start(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    write(schedules, "2027-03-14T03:05", "2027-03-14T04:00", pre_roll=10)
    monitor = Monitor(Settings(data_dir=tmp_path / "data", transcriber={"enabled": False}), [schedules])
    monitor.start()
    try:
        armed = armed_jobs(monitor.data)
    finally:
        monitor.shutdown()
    # 03:05 EDT is 07:05 UTC; ten minutes of pre-roll arm it at 06:55 UTC (it was 07:55, 50 minutes late).
    assert armed == {"dst": datetime(2027, 3, 14, 6, 55, tzinfo=UTC)}


HIDDEN = {
    "DEL": "\x7f", "C1 CSI": "\x9b", "C1 NEL": "\x85", "ESC": "\x1b", "LRE": "\u202a", "RLO": "\u202e",
    "LRI": "\u2066", "PDI": "\u2069", "LRM": "\u200e", "RLM": "\u200f", "ALM": "\u061c", "ZWSP": "\u200b",
    "ZWNJ": "\u200c", "ZWJ": "\u200d", "WJ": "\u2060", "BOM": "\ufeff",
}


@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_urls_with_hidden_or_control_characters_are_refused(tmp_path: Path, name: str) -> None:
    url = f"https://live.example.com/ro{HIDDEN[name]}om/1"
    write(tmp_path, "2027-01-10T10:00", "2027-01-10T11:00", url=json.dumps(url)[1:-1])  # YAML escapes
    [issue] = errors(tmp_path)
    assert issue["field"] == "streams[0].url"
    assert f"U+{ord(HIDDEN[name]):04X}" in issue["message"]
    assert HIDDEN[name] not in issue["message"]


def test_urls_in_other_scripts_are_still_accepted(tmp_path: Path) -> None:
    write(tmp_path, "2027-01-10T10:00", "2027-01-10T11:00", url="https://直播.example.com/房间/1")
    assert errors(tmp_path) == []
