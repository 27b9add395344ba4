"""A data directory made by livewatch before Alembic (schema version 2 in SQLite's ``user_version``) upgrades
in place, and moves to PostgreSQL with ``livewatch db copy``.

``fixtures/livewatch-schema2.db`` was made by livewatch at commit 9298ff8, the last release of the
``user_version`` migrations: ``Database.open`` on a new data directory, the example schedules synced, one
finished run with a connection, three audio segments, a gap, a transcript, a finding, an alert and three
work-queue items (one done). It is copied, never opened in place.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, func, inspect, select, text

from livewatch.cli import cli
from livewatch.errors import StateError
from livewatch.queue import work_queue_for
from livewatch.state import Database, DataDir, tables
from livewatch.state.copy import copy_state
from livewatch.state.migrations import all_migrations
from livewatch.state.runs import RunStore
from tests.support.migrations import extra_migrations

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "livewatch-schema2.db"
LATER = datetime(2026, 12, 1, tzinfo=UTC)
ROWS = {"events": 4, "runs": 1, "connections": 1, "segments": 3, "gaps": 1, "transcripts": 1,
        "transcription_progress": 1, "findings": 1, "work_queue": 3, "alert_sources": 1, "alert_outbox": 1,
        "screen_items": 0, "picture_spells": 0}
#: Tables that came after the fixture are empty in it.
ROWS |= {name: 0 for name in tables.metadata.tables if name not in ROWS}


def _old_data_dir(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "data")
    data.root.mkdir()
    shutil.copy(FIXTURE, data.database)
    return data


def _counts(conn: Connection) -> dict[str, int]:
    return {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in tables.metadata.tables.items()}


def _schema(engine: Any) -> dict[str, Any]:
    insp = inspect(engine)
    # An INTEGER PRIMARY KEY is the rowid, never NULL, whether or not it was declared NOT NULL (the old DDL
    # did not say it, Alembic's does): nullability is compared for the other columns.
    return {name: ([(c["name"], str(c["type"]), c["nullable"] or bool(c.get("primary_key")))
                    for c in insp.get_columns(name)],
                   insp.get_pk_constraint(name)["constrained_columns"],
                   sorted((fk["constrained_columns"][0], fk["referred_table"]) for fk in insp.get_foreign_keys(name)),
                   sorted((uc["name"], tuple(uc["column_names"])) for uc in insp.get_unique_constraints(name)),
                   sorted((ix["name"], tuple(ix["column_names"])) for ix in insp.get_indexes(name)))
            for name in tables.metadata.tables}


def test_an_old_data_directory_is_taken_over_in_place(tmp_path: Path) -> None:
    data = _old_data_dir(tmp_path)
    with Database.open(data) as db:
        # Stamped at 0002 (its user_version), then taken through the migrations that came after.
        latest = len(all_migrations())
        assert db.schema_version() == latest
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == f"{latest:04d}"
            assert _counts(conn) == ROWS
            finding = conn.execute(select(tables.findings)).one()
            assert (finding.channel, finding.frame, finding.box_json) == ("speech", None, None)
        # The state reads as today's code expects it.
        store = RunStore(db.engine)
        assert store.next_seq(1, 0) == 3
        assert list(db.latest_run_status().values()) == ["finished"]
        assert work_queue_for(db.engine).backlog("transcribe") == 2
        with Database.open(DataDir(tmp_path / "fresh")) as fresh:
            assert _schema(db.engine) == _schema(fresh.engine)  # the same schema Alembic builds anew
    assert [p.name for p in data.root.glob("*.bak-v*")] == ["livewatch.db.bak-v2"]  # migrated: backed up first


def test_an_old_data_directory_takes_a_new_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _old_data_dir(tmp_path)

    def add_column(conn: Connection) -> None:
        conn.execute(text("ALTER TABLE runs ADD COLUMN test_note TEXT"))

    latest = extra_migrations(monkeypatch, tmp_path / "migrations", add_column)
    result = CliRunner().invoke(cli, ["--data", str(data.root), "db", "migrate"])
    assert result.exit_code == 0, result.output
    assert f"applied migration {latest}: test_step_1" in result.output
    status = CliRunner().invoke(cli, ["--data", str(data.root), "db", "status"])
    assert f"schema version {latest}, 0 pending migration(s)" in status.output
    backup = data.root / "livewatch.db.bak-v2"
    old = sqlite3.connect(backup)
    try:  # the backup is the old database, untouched
        assert old.execute("PRAGMA user_version").fetchone()[0] == 2
        assert old.execute("SELECT count(*) FROM segments").fetchone()[0] == 3
    finally:
        old.close()
    with Database.open(data) as db, db.engine.connect() as conn:
        assert "test_note" in {c["name"] for c in inspect(conn).get_columns("runs")}
        assert conn.execute(text("PRAGMA user_version")).scalar_one() == latest  # an older livewatch refuses it
        assert _counts(conn) == ROWS


def test_db_copy_moves_an_old_data_directory_to_postgresql(tmp_path: Path, postgres_url: str) -> None:
    data = _old_data_dir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["--data", str(data.root), "db", "migrate"]).exit_code == 0
    result = runner.invoke(cli, ["--data", str(data.root), "db", "copy", "--to", postgres_url])
    assert result.exit_code == 0, result.output
    assert "segments: 3 row(s)" in result.output
    with Database(postgres_url) as target:
        with target.engine.connect() as conn:
            assert _counts(conn) == ROWS
        with Database.open(data) as source, source.engine.connect() as a, target.engine.connect() as b:
            for table in tables.metadata.sorted_tables:
                query = select(table).order_by(*table.primary_key.columns)
                assert list(a.execute(query)) == list(b.execute(query)), table.name
        # The id sequences moved past the copied rows: the next segment gets a new id.
        store = RunStore(target.engine)
        assert store.next_seq(1, 0) == 3
        with target.engine.begin() as conn:
            new_id = conn.execute(tables.gaps.insert().values(run_id=1, stream=0, start_at=LATER,
                                                              cause="test")).inserted_primary_key
        assert new_id is not None
        assert new_id[0] == 2
    again = runner.invoke(cli, ["--data", str(data.root), "db", "copy", "--to", postgres_url])
    assert again.exit_code == 1
    assert "already holds livewatch data" in again.output
    assert "nothing was copied" in again.output


def test_copy_refuses_a_target_at_another_schema_version(tmp_path: Path, postgres_cluster: Any) -> None:
    data = _old_data_dir(tmp_path)
    empty = postgres_cluster.create_database("unmigrated")
    with Database.open(data) as source, Database(empty, migrate=False) as target, \
            pytest.raises(StateError, match="migrate both first"):
        copy_state(source, target)
