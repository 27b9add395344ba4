"""The command line as an officer types it: global options anywhere, JSON from every listing, a mistyped
data folder named, and shell completion of event ids."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.cli import cli
from livewatch.registration import load_registrations
from livewatch.registration.models import RegistrationContext
from livewatch.state import Database, DataDir
from tests.conftest import SCHEDULES

SAMPLE_IDS = ["creator-economy-forum-day1", "creator-economy-forum-day2", "public-health-lecture-2026-12",
              "xinghe-annual-meeting-2026"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    """A data directory whose database knows the sample events (as a monitor that read them leaves it)."""
    data = DataDir(tmp_path / "data")
    with Database.open(data) as database:
        database.sync_events(load_registrations([SCHEDULES], RegistrationContext()).registrations)
    return data.root


def test_global_options_after_the_subcommand(runner: CliRunner, recorded: Path, tmp_path: Path) -> None:
    before = runner.invoke(cli, ["--data", str(recorded), "status", "--format", "json"])
    after = runner.invoke(cli, ["status", "--format", "json", "--data", str(recorded)])
    assert (before.exit_code, after.exit_code) == (0, 0), after.output
    assert after.stdout == before.stdout
    assert [row["event_id"] for row in json.loads(after.stdout)] == SAMPLE_IDS
    # In a nested group, in the --name=value form, and --config too.
    config = tmp_path / "livewatch.toml"
    config.write_text(f'schedules_dir = "{SCHEDULES}"\n', encoding="utf-8")
    nested = runner.invoke(cli, ["db", "status", f"--data={recorded}"])
    assert nested.exit_code == 0, nested.output
    assert str(recorded) in nested.stdout
    validated = runner.invoke(cli, ["validate", "--config", str(config)])
    assert validated.exit_code == 0, validated.output
    assert "4 valid event(s)" in validated.stdout


def test_status_json_gives_iso_times(runner: CliRunner, recorded: Path) -> None:
    result = runner.invoke(cli, ["status", "--data", str(recorded), "--format", "json"])
    assert result.exit_code == 0, result.output
    row = next(row for row in json.loads(result.stdout) if row["event_id"] == "xinghe-annual-meeting-2026")
    start, end = datetime.fromisoformat(row["registered_start"]), datetime.fromisoformat(row["registered_end"])
    assert start.utcoffset() is not None
    assert start.isoformat().startswith("2026-12-18T06:00")  # 14:00 in Asia/Shanghai
    assert (end - start).total_seconds() == 2.5 * 3600
    assert (row["on_air_start"], row["on_air_end"]) == (None, None)  # not recorded yet


@pytest.mark.parametrize("command", [["status"], ["alerts", "list"], ["status", "--format", "json"]])
def test_a_data_folder_that_does_not_exist_is_an_error(runner: CliRunner, tmp_path: Path,
                                                       command: list[str]) -> None:
    missing = tmp_path / "dta"
    result = runner.invoke(cli, [*command, "--data", str(missing)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"error: data directory {missing} does not exist; check --data" in result.stderr
    assert not missing.exists()  # and it was not created on the way


def test_alerts_list_says_when_no_targets_are_configured(runner: CliRunner, recorded: Path) -> None:
    result = runner.invoke(cli, ["alerts", "list", "--data", str(recorded), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "no alert targets are configured, so no alert is sent" in result.stderr


def test_every_listing_command_has_format_json(runner: CliRunner) -> None:
    packs = json.loads(runner.invoke(cli, ["rules", "list", "--format", "json"]).stdout)
    default = next(pack for pack in packs if pack["pack"] == "cn-live-events")  # what `default` selects
    assert default["rules"]
    assert set(default["rules"][0]) == {"id", "type", "category", "severity", "examples_fire", "examples_pass"}
    models = runner.invoke(cli, ["models", "list", "--format", "json"])
    assert models.exit_code == 0, models.output
    assert set(json.loads(models.stdout)) == {"store", "models"}
    text = ["rules", "check", "--text", "这个理财产品保本保息，稳赚不赔"]
    checked = runner.invoke(cli, [*text, "--format", "json"])
    alias = runner.invoke(cli, [*text, "--json"])  # the old spelling stays
    assert (checked.exit_code, alias.exit_code) == (0, 0), checked.output
    assert checked.stdout == alias.stdout
    assert json.loads(checked.stdout)["findings"]


def test_shell_completion_completes_event_ids(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "livewatch.toml"
    config.write_text(f'schedules_dir = "{SCHEDULES}"\n', encoding="utf-8")
    for words, cword in ((f"livewatch --config {config} report creator", 4),
                         (f"livewatch report --config {config} creator", 4),
                         (f"livewatch --config {config} analyze x.mp4 --event pub", 6)):
        result = runner.invoke(cli, [], prog_name="livewatch", env={
            "_LIVEWATCH_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
        assert result.exit_code == 0, result.output
        completed = [line.split(",", 1)[1] for line in result.stdout.splitlines()]
        prefix = words.rsplit(" ", 1)[1]
        assert completed == [event_id for event_id in SAMPLE_IDS if event_id.startswith(prefix)], words
