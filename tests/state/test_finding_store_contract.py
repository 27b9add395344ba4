"""The findings store's contract, on every state back-end (``state_backend``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from livewatch.pipeline.screen import Box
from livewatch.rules.engine import Finding
from livewatch.state import Database, tables
from livewatch.state.findings import FindingStore
from livewatch.state.runs import RunStore

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _event(db: Database, event_id: str = "forum") -> int:
    """Register the event; returns the id of a run of it."""
    with db.engine.begin() as conn:
        conn.execute(tables.events.insert().values(
            id=event_id, title="Forum", kind="livestream", timezone="Asia/Shanghai", registered_start=START,
            registered_end=START + timedelta(hours=1), source_file="forum.toml", source_sha256="0" * 64,
            registration_json="{}", updated_at=START))
    run = RunStore(db.engine).open_run(event_id, START, START + timedelta(hours=1))
    assert run is not None
    return run.id


def finding(finding_id: str, severity: str = "high", event_id: str = "forum") -> Finding:
    at = START + timedelta(seconds=int(finding_id, 16) % 600)
    return Finding(finding_id, event_id, "ads.promise", "default@1", "f" * 64, "advertising", severity,  # type: ignore[arg-type]
                   at, at + timedelta(seconds=2), 12.5, "稳赚", "保证稳赚不赔", (2, 4), "稳赚", "广告法 §28", 0.8,
                   False, "high", stream=0, details={"terms": ["稳赚"]})


def test_findings_keep_their_status_and_open_ones_not_found_again_are_withdrawn(state_backend: Database) -> None:
    run_id = _event(state_backend)
    _event(state_backend, "other")
    store = FindingStore(state_backend.engine)
    kept = store.save("forum", None, [finding("a1"), finding("b2"), finding("c3", "low")])
    assert [f.status for f in kept] == ["open", "open", "open"]
    store.save("other", None, [finding("d4", event_id="other")])

    def confirm_b2(current: Mapping[str, str]) -> dict[str, str]:
        assert current == {"a1": "open", "b2": "open", "c3": "open"}
        return {"b2": "confirmed"}

    store.update_statuses("forum", confirm_b2, lambda: None)
    # b2 is confirmed (kept although not found again), a1 open and not found again (withdrawn), c3 found again.
    again = store.save("forum", run_id, [finding("c3", "low"), finding("e5")])
    assert [(f.id, f.status) for f in again] == [("c3", "open"), ("e5", "open")]
    assert store.statuses("forum") == {"b2": "confirmed", "c3": "open", "e5": "open"}
    assert store.statuses("other") == {"d4": "open"}
    assert [(h.id, h.status, h.severity) for h in store.headlines("forum")] == [
        ("b2", "confirmed", "high"), ("c3", "open", "low"), ("e5", "open", "high")]  # in time order
    # A reviewer's status comes back with the finding when a check finds it again.
    assert store.save("forum", run_id, [finding("b2"), finding("c3", "low"), finding("e5")])[0].status == "confirmed"
    with state_backend.engine.connect() as conn:
        row = conn.execute(tables.findings.select().where(tables.findings.c.id == "b2")).one()
    assert (row.run_id, row.evidence, row.matched) == (run_id, "保证稳赚不赔", "稳赚")
    assert row.start_at == START + timedelta(seconds=0xb2 % 600)
    assert '"highlight": [2, 4]' in row.details_json
    assert "pack_sha256" in row.details_json


def test_a_failing_step_before_the_commit_changes_no_status(state_backend: Database) -> None:
    _event(state_backend)
    store = FindingStore(state_backend.engine)
    store.save("forum", None, [finding("a1"), finding("b2", "medium")])

    def audit() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.update_statuses("forum", lambda current: dict.fromkeys(current, "dismissed"), audit)
    assert store.statuses("forum") == {"a1": "open", "b2": "open"}
    store.update_statuses("forum", lambda current: {"a1": "dismissed"}, lambda: None)
    assert store.statuses("forum") == {"a1": "dismissed", "b2": "open"}


def test_a_finding_saved_again_keeps_when_it_was_first_seen(state_backend: Database) -> None:
    run_id = _event(state_backend)
    store = FindingStore(state_backend.engine)
    store.save("forum", None, [finding("a1")])
    with state_backend.engine.connect() as conn:
        first = conn.execute(tables.findings.select()).one().created_at
    store.save("forum", run_id, [replace(finding("a1"), evidence="changed")])
    with state_backend.engine.connect() as conn:
        row = conn.execute(tables.findings.select()).one()
    assert (row.created_at, row.evidence, row.run_id) == (first, "changed", run_id)


def test_a_findings_channel_frame_and_box_are_written_and_read_back(state_backend: Database) -> None:
    run_id = _event(state_backend)
    store = FindingStore(state_backend.engine)
    shown = replace(finding("a1"), channel="screen", frame="frames/1/000123.jpg", box=Box(12, 640, 480, 56))
    silence = replace(finding("b2", "low"), channel="audio")
    store.save("forum", run_id, [shown, silence, finding("c3")])
    with state_backend.engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(tables.findings.select())}
    assert (rows["a1"].channel, rows["a1"].frame) == ("screen", "frames/1/000123.jpg")
    assert json.loads(rows["a1"].box_json) == {"left": 12, "top": 640, "width": 480, "height": 56}
    assert (rows["b2"].channel, rows["b2"].frame, rows["b2"].box_json) == ("audio", None, None)
    assert (rows["c3"].channel, rows["c3"].frame, rows["c3"].box_json) == ("speech", None, None)
    # They have columns of their own: details_json does not carry them a second time.
    assert not {"channel", "frame", "box"} & set(json.loads(rows["a1"].details_json))
    read = {h.id: h for h in store.headlines("forum")}
    assert (read["a1"].channel, read["a1"].frame, read["a1"].box) == ("screen", "frames/1/000123.jpg",
                                                                      Box(12, 640, 480, 56))
    assert (read["b2"].channel, read["b2"].frame, read["b2"].box) == ("audio", None, None)
    assert read["c3"].channel == "speech"
    # Saved again (a re-check), the columns follow the finding.
    store.save("forum", run_id, [replace(shown, box=Box(0, 0, 10, 10)), silence, finding("c3")])
    assert {h.id: h.box for h in store.headlines("forum")}["a1"] == Box(0, 0, 10, 10)
