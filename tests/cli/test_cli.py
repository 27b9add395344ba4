"""The command line: exit codes, output formats, and that it only wires the package together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from livewatch.cli import cli
from livewatch.state import Database, DataDir
from livewatch.state.migrations import all_migrations
from tests.conftest import SCHEDULES

BROKEN = """\
id: broken
title: Broken
kind: forum
organizer: {name: O}
start: 2026-12-01T09:00
end: 2026-12-01T08:00
streams: [{url: "https://example.com/live"}]
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_validate_samples_exit_0(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", str(SCHEDULES)])
    assert result.exit_code == 0, result.output
    assert "valid: 3 file(s), 4 valid event(s), 0 error(s), 0 warning(s)" in result.output


def test_validate_reads_the_configured_schedules_folder_by_default(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "regs").mkdir()
    (tmp_path / "regs" / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "livewatch.toml").write_text('schedules_dir = "regs"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert "regs/broken.yaml:6: end: end 2026-12-01T08:00:00+00:00 is not after start" in result.output


def test_validate_invalid_exit_1_and_names_file_line_field(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path}/broken.yaml:6: end: end 2026-12-01T08:00:00+00:00 is not after start" in result.output
    assert "INVALID: 1 file(s), 0 valid event(s), 1 error(s), 0 warning(s)" in result.output


def test_validate_strict_turns_warnings_into_errors(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "no-category.yaml").write_text(BROKEN.replace("08:00", "10:00"), encoding="utf-8")
    relaxed = runner.invoke(cli, ["validate", str(tmp_path)])
    assert relaxed.exit_code == 0
    assert "category: warning: no category tag" in relaxed.output
    strict = runner.invoke(cli, ["validate", "--strict", str(tmp_path)])
    assert strict.exit_code == 1
    assert "category: no category tag" in strict.output


def test_validate_json(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(cli, ["validate", "--format", "json", str(tmp_path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["events"] == []
    [issue] = report["issues"]
    assert issue["line"] == 6
    assert issue["field"] == "end"
    assert issue["severity"] == "error"
    assert issue["event"] == "broken"


def test_bad_global_config_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "livewatch.toml"
    config.write_text('timezone = "Mars/Olympus"\n', encoding="utf-8")
    result = runner.invoke(cli, ["--config", str(config), "validate", str(SCHEDULES)])
    assert result.exit_code == 2
    assert "error: configuration" in result.output
    assert "livewatch.toml:1: timezone: unknown time zone 'Mars/Olympus'" in result.output


def test_schema_prints_json_schema(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "livewatch event registration"
    out = tmp_path / "schema.json"
    assert runner.invoke(cli, ["schema", "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(result.output)


def test_schedule_json_lists_events_in_local_time(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["--data", str(tmp_path / "data"), "schedule", "--schedules", str(SCHEDULES),
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert (listing["valid"], listing["issues"]) == (True, [])
    rows = {row["id"]: row for row in listing["events"]}
    assert list(rows) == [  # ordered by registered start
        "creator-economy-forum-day1",
        "creator-economy-forum-day2",
        "public-health-lecture-2026-12",
        "xinghe-annual-meeting-2026",
    ]
    xinghe = rows["xinghe-annual-meeting-2026"]
    assert xinghe["start"] == "2026-12-18T14:00+08:00"
    assert xinghe["timezone"] == "Asia/Shanghai"
    assert xinghe["streams"] == ["https://live.douyin.com/735194826401", "https://live.bilibili.com/21452505"]
    assert rows["public-health-lecture-2026-12"]["start"] == "2026-12-14T19:30+08:00"


def test_schedule_json_reports_invalid_events_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "good.yaml").write_text(BROKEN.replace("broken", "good").replace("08:00", "10:00"),
                                        encoding="utf-8")
    result = runner.invoke(cli, ["--data", str(tmp_path / "data"), "schedule", "--schedules", str(tmp_path),
                                 "--format", "json"])
    assert result.exit_code == 1
    listing = json.loads(result.stdout)
    assert listing["valid"] is False
    assert [event["id"] for event in listing["events"]] == ["good"]
    errors = [issue for issue in listing["issues"] if issue["severity"] == "error"]
    assert [(issue["event"], issue["field"], issue["line"]) for issue in errors] == [("broken", "end", 6)]


def test_validate_prints_errors_and_warnings_on_one_stream_in_line_order(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "a.yaml").write_text(BROKEN.replace("broken", "good").replace("08:00", "10:00"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    # a.yaml's warning, then b.yaml's error: never split over two streams that a terminal interleaves.
    assert [line.split(": ")[1] for line in lines[:-1]] == ["category", "end"]
    assert lines[-1] == "INVALID: 2 file(s), 1 valid event(s), 1 error(s), 1 warning(s)"


def test_schedule_table_prints_problems_on_stderr_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BROKEN.replace("broken", "good").replace("08:00", "10:00"), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(cli, ["--data", str(tmp_path / "data"), "schedule", "--schedules", str(tmp_path)])
    assert result.exit_code == 1
    assert [line.split(": ")[1] for line in result.stderr.splitlines()] == ["category", "end"]
    assert "1 registered event(s)" in result.stdout


def test_schedule_table_shows_status_from_the_database(runner: CliRunner, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from livewatch.registration import load_registrations
    from livewatch.registration.models import RegistrationContext
    from livewatch.state import tables

    data = DataDir(tmp_path / "data")
    with Database.open(data) as database:
        database.sync_events(load_registrations([SCHEDULES], RegistrationContext()).registrations)
        with database.engine.begin() as conn:
            conn.execute(tables.runs.insert().values(
                event_id="creator-economy-forum-day1", status="recording", started_at=datetime.now(UTC),
                registered_start=datetime.now(UTC), registered_end=datetime.now(UTC), updated_at=datetime.now(UTC)))
    result = runner.invoke(cli, ["--data", str(data.root), "schedule", "--schedules", str(SCHEDULES)])
    assert result.exit_code == 0, result.output
    assert "4 registered event(s)" in result.output
    line = next(line for line in result.output.splitlines() if "creator-econom" in line)
    assert "recording" in line


def test_schedule_html_escapes_and_lists_every_event(runner: CliRunner, tmp_path: Path) -> None:
    hostile = BROKEN.replace("Broken", "<script>alert(1)</script>").replace("08:00", "10:00")
    (tmp_path / "hostile.yaml").write_text(hostile, encoding="utf-8")
    out = tmp_path / "schedule.html"
    result = runner.invoke(cli, ["--data", str(tmp_path / "data"), "schedule", "--schedules", str(tmp_path),
                                 "--format", "html", "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    soup = BeautifulSoup(html, "html.parser")
    assert soup.select("script") == []
    [row] = soup.select("tr.event")
    assert row["data-event-id"] == "broken"
    assert row.select("td")[1].get_text(strip=True).startswith("<script>alert(1)</script>")
    problems = soup.select_one("section.problems")
    assert problems is not None
    assert "no category tag" in problems.get_text()


def test_db_migrate_and_status(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = runner.invoke(cli, ["--data", str(data), "db", "status"])
    assert "not created yet" in before.output
    migrate = runner.invoke(cli, ["--data", str(data), "db", "migrate"])
    assert migrate.exit_code == 0, migrate.output
    assert "applied migration 1: initial" in migrate.output
    status = runner.invoke(cli, ["--data", str(data), "db", "status"])
    assert f"schema version {len(all_migrations())}, 0 pending migration(s)" in status.output
    again = runner.invoke(cli, ["--data", str(data), "db", "migrate"])
    assert "applied" not in again.output


def test_data_dir_from_environment(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["db", "migrate"], env={"LIVEWATCH_DATA": str(tmp_path / "envdata")})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "envdata" / "livewatch.db").is_file()


def test_unknown_command_is_a_usage_error(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["nonsense"]).exit_code == 2


def test_run_with_a_broken_blacklist_exits_2_and_releases_the_data_dir(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "barred.yaml").write_text("people:\n  - nam: x\n", encoding="utf-8")
    config = tmp_path / "livewatch.toml"
    config.write_text('blacklist = "barred.yaml"\n', encoding="utf-8")
    args = ["--config", str(config), "--data", str(tmp_path / "d"), "run", "--schedules", str(SCHEDULES),
            "--until-idle"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert ("barred.yaml:2: people[0].nam: unknown field 'nam' (did you mean 'name'? 'name' is required and missing: "
            "rename this key)") in result.output
    assert runner.invoke(cli, args).exit_code == 2  # not "another monitor is running": the lock was released
