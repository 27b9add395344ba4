"""``livewatch db`` on PostgreSQL: the URL from the environment, the password never printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.cli import cli
from livewatch.pipeline.run_status import RECORDING
from livewatch.registration import load_registrations
from livewatch.registration.models import RegistrationContext
from livewatch.state import Database
from livewatch.state.event_records import EventRecordStore
from livewatch.state.migrations import all_migrations
from livewatch.state.runs import RunStore
from tests.conftest import SCHEDULES
from tests.support.postgres import PostgresCluster

SECRET = "s3cret-pw"


def test_db_migrate_and_status_on_postgresql(tmp_path: Path, postgres_cluster: PostgresCluster,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url = postgres_cluster.create_database("cli")
    # The test cluster trusts local connections, so any password gets in; it must never be shown.
    with_password = url.replace("livewatch@", f"livewatch:{SECRET}@")
    monkeypatch.setenv("LIVEWATCH_DATABASE_URL", with_password)
    runner = CliRunner()
    data = ["--data", str(tmp_path / "data")]
    before = runner.invoke(cli, [*data, "db", "status"])
    assert before.exit_code == 0, before.output
    assert f"schema version 0, {len(all_migrations())} pending migration(s)" in before.output
    migrate = runner.invoke(cli, [*data, "db", "migrate"])
    assert migrate.exit_code == 0, migrate.output
    assert "applied migration 1: initial" in migrate.output
    status = runner.invoke(cli, [*data, "db", "status"])
    assert f"schema version {len(all_migrations())}, 0 pending migration(s)" in status.output
    assert "livewatch:***@" in status.output
    for result in (before, migrate, status):
        assert SECRET not in result.output


def test_status_schedule_and_db_status_read_postgresql_with_no_sqlite_file(
        tmp_path: Path, postgres_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    url = postgres_cluster.create_database("status")
    monkeypatch.setenv("LIVEWATCH_DATABASE_URL", url)
    runner = CliRunner()
    data = ["--data", str(tmp_path / "data")]
    # An empty database is "nothing recorded yet", as a data directory without its SQLite file is.
    nothing = runner.invoke(cli, [*data, "status", "--format", "json"])
    assert nothing.exit_code == 0, nothing.output
    assert json.loads(nothing.output) == []

    with Database(url) as database:  # migrates, as a starting monitor would
        database.sync_events(load_registrations([SCHEDULES], RegistrationContext()).registrations)
        event = next(e for e in EventRecordStore(database.engine).registered() if e.id == "creator-economy-forum-day1")
        runs = RunStore(database.engine)
        run = runs.open_run(event.id, event.registered_start, event.registered_end)
        assert run is not None
        runs.set_status(run.id, RECORDING)

    status = runner.invoke(cli, [*data, "status", "--format", "json"])
    assert status.exit_code == 0, status.output
    states = {row["event_id"]: row["state"] for row in json.loads(status.output)}
    assert states[event.id] == RECORDING
    assert len(states) == 4
    schedule = runner.invoke(cli, [*data, "schedule", "--schedules", str(SCHEDULES)])
    assert schedule.exit_code == 0, schedule.output
    assert RECORDING in next(line for line in schedule.output.splitlines() if "creator-econom" in line)
    db_status = runner.invoke(cli, [*data, "db", "status"])
    assert f"schema version {len(all_migrations())}, 0 pending migration(s)" in db_status.output
    assert not (tmp_path / "data" / "livewatch.db").exists()


def test_a_password_in_the_configuration_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "livewatch.toml"
    config.write_text(f'database_url = "postgresql+psycopg://lw:{SECRET}@db.example/lw"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "db", "status"])
    assert result.exit_code == 2
    assert "database_url must not hold a password" in result.output
    assert SECRET not in result.output


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-server"
    missing.mkdir()
    monkeypatch.setenv("LIVEWATCH_DATABASE_URL", f"postgresql+psycopg://lw:{SECRET}@/lw?host={missing}")
    result = CliRunner().invoke(cli, ["--data", str(tmp_path / "data"), "db", "migrate"])
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert SECRET not in result.output
