"""A registration's rule packs and rule overrides name what exists, or the event is invalid everywhere it is
read: `livewatch validate`, the monitor, `livewatch analyze`. The messages themselves are pinned in
``test_registration_errors.py``."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.analyze import AnalyzeError, analyze_recording
from livewatch.cli import cli
from livewatch.monitor import Monitor
from livewatch.monitor.jobs import armed_jobs
from livewatch.registration import validate_registrations
from livewatch.rules.packs import PackLibrary
from livewatch.settings import Settings
from livewatch.state import DataDir
from tests.conftest import SCHEDULES
from tests.registration.test_registration_errors import events_file, valid_event

UNKNOWN = "\n  - rule: P14.guaranteed-returns\n    severity: critical"
KNOWN = "\n  - rule: finance-promise.guaranteed-returns\n    severity: critical"
USER_PACK = (
    "id: house\nversion: '2.1'\ntitle: House rules\nrules:\n"
    "  - {id: house.sponsor-names, type: lexicon, category: house, severity: low, terms: [星河币]}\n"
)


def test_valid_overrides_pass_and_reach_the_event(tmp_path: Path) -> None:
    overrides = (KNOWN + "\n  - rule: absolute-terms.near-promotion\n    allowlist: [第一季度]"
                 "\n  - rule: schedule.overrun\n    enabled: false"
                 "\n  - rule: traffic-diversion.phone-number\n    allowlist: [热线电话]")
    (tmp_path / "x.yaml").write_text(valid_event(rule_overrides=overrides), encoding="utf-8")
    result = validate_registrations([tmp_path], Settings(), strict=True)
    assert [issue.render() for issue in result.issues] == []
    [reg] = result.registrations
    assert [o.rule for o in reg.event.rule_overrides] == [
        "finance-promise.guaranteed-returns", "absolute-terms.near-promotion", "schedule.overrun",
        "traffic-diversion.phone-number",
    ]


def test_only_the_event_with_a_bad_override_is_invalid(tmp_path: Path) -> None:
    text = events_file(valid_event(id="good", rule_overrides=KNOWN), valid_event(id="bad", rule_overrides=UNKNOWN))
    (tmp_path / "x.yaml").write_text(text, encoding="utf-8")
    result = validate_registrations([tmp_path], Settings())
    assert not result.ok
    assert [reg.event.id for reg in result.registrations] == ["good"]
    [issue] = result.issues
    assert (issue.event_id, issue.code, issue.field) == ("bad", "unknown-rule", ("events", 1, "rule_overrides", 0,
                                                                                 "rule"))


def test_rules_of_a_user_pack_are_found_only_when_the_pack_is_selected(tmp_path: Path) -> None:
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "house.yaml").write_text(USER_PACK, encoding="utf-8")
    settings = Settings(rule_packs_dir=tmp_path / "packs")
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    override = "\n  - rule: house.sponsor-names\n    add_terms: [星河积分]"
    (schedules / "selected.yaml").write_text(
        valid_event(id="selected", rule_packs="[default, house@2.1]", rule_overrides=override), encoding="utf-8")
    (schedules / "default-only.yaml").write_text(
        valid_event(id="default-only", rule_overrides=override), encoding="utf-8")
    result = validate_registrations([schedules], settings)
    assert [reg.event.id for reg in result.registrations] == ["selected"]
    [issue] = result.issues
    default = PackLibrary().get("default").ref
    assert issue.file.name == "default-only.yaml"
    assert f"(searched: {default});" in issue.message  # the house pack is not searched: it is not selected


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_validate_exits_1_naming_file_line_field_and_the_fix(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(valid_event(rule_overrides=UNKNOWN), encoding="utf-8")
    for flags in ([], ["--strict"]):
        result = runner.invoke(cli, ["validate", *flags, str(tmp_path)])
        assert result.exit_code == 1, result.output
        assert (f"{tmp_path}/x.yaml:18: rule_overrides[0].rule: no rule 'P14.guaranteed-returns' in the selected "
                "rule packs") in result.output
        assert "did you mean 'finance-promise.guaranteed-returns'?" in result.output
        assert "INVALID: 1 file(s), 0 valid event(s), 1 error(s), 0 warning(s)" in result.output
    as_json = runner.invoke(cli, ["validate", "--format", "json", str(tmp_path)])
    assert as_json.exit_code == 1
    [issue] = json.loads(as_json.output)["issues"]
    assert (issue["line"], issue["field"], issue["code"], issue["severity"]) == (
        18, "rule_overrides[0].rule", "unknown-rule", "error")


def test_shipped_samples_validate_clean_even_when_strict(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "--strict", str(SCHEDULES)])
    assert result.exit_code == 0, result.output
    assert "valid: 3 file(s), 4 valid event(s), 0 error(s), 0 warning(s)" in result.output


def test_analyze_refuses_an_event_with_a_bad_override(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(valid_event(rule_overrides=UNKNOWN), encoding="utf-8")
    with pytest.raises(AnalyzeError, match="no valid registration for event 'demo-event'"):
        analyze_recording(Settings(data_dir=tmp_path / "data"), tmp_path / "none.wav", "demo-event", tmp_path)


def _future_event(folder: Path, event_id: str, start: datetime, **changes: str) -> None:
    text = valid_event(id=event_id, start=start.isoformat(), end=(start + timedelta(hours=1)).isoformat(),
                       timezone="UTC", **changes)
    (folder / f"{event_id}.yaml").write_text(text, encoding="utf-8")


def test_monitor_skips_only_the_event_with_a_bad_override(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="livewatch")
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    data = DataDir(tmp_path / "data")
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    _future_event(schedules, "good", start, rule_overrides=KNOWN)
    _future_event(schedules, "bad", start, rule_overrides=UNKNOWN)
    monitor = Monitor(Settings(data_dir=data.root, transcriber={"enabled": False}), [schedules])
    try:
        monitor.start()
        assert set(armed_jobs(data)) == {"good"}
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("bad.yaml:18: rule_overrides[0].rule: no rule 'P14.guaranteed-returns'" in e for e in errors)

        # Dropped in while running: that event is left out, the others stay armed.
        time.sleep(0.05)  # a new mtime even on coarse file systems
        _future_event(schedules, "late-bad", start, rule_packs="[nope]")
        _future_event(schedules, "late-good", start)
        monitor.reload_if_changed()
        assert set(armed_jobs(data)) == {"good", "late-good"}

        # Fixed in place: armed at the next reload.
        time.sleep(0.05)
        _future_event(schedules, "bad", start, rule_overrides=KNOWN)
        monitor.reload_if_changed()
        assert set(armed_jobs(data)) == {"good", "late-good", "bad"}
    finally:
        monitor.shutdown()
