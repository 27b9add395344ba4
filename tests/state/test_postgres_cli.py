"""``livewatch db`` on PostgreSQL: the URL from the environment, the password never printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.cli import cli
from livewatch.state.migrations import all_migrations
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
