"""The data directory and its SQLite database: skeleton, migrations, schema, event registry, path safety."""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    UniqueConstraint,
    create_engine,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError, StatementError

from livewatch.errors import StateError, UnsafePathError
from livewatch.registration.loader import Registration, load_registrations
from livewatch.registration.models import RegistrationContext
from livewatch.state import Database, DataDir, tables
from livewatch.state.layout import DATABASE_NAME
from livewatch.state.migrations import all_migrations
from livewatch.state.tables import AwareDateTime
from tests.state.rows import placeholder_row as _row
from tests.support.migrations import extra_migrations

SCHEDULES = Path(__file__).resolve().parents[2] / "schedules"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)

#: Indexes the migrations create that ``tables.metadata`` does not declare (queries rely on them).
EXPECTED_INDEXES: dict[str, tuple[str, list[str]]] = {
    "ix_runs_event": ("runs", ["event_id"]),
    "ix_transcripts_run_start": ("transcripts", ["run_id", "start_at"]),
    "ix_findings_event": ("findings", ["event_id", "start_at"]),
}


# -- helpers ------------------------------------------------------------------------------------------------


def _open(tmp_path: Path) -> Database:
    return Database.open(DataDir(tmp_path / "data"))


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _set_user_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"PRAGMA user_version = {int(version)}")
        conn.commit()
    finally:
        conn.close()


def _table_names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def _affinity(declared: str) -> str:
    """SQLite's type affinity of a declared column type (section 3.1 of https://sqlite.org/datatype3.html)."""
    name = declared.upper()
    if "INT" in name:
        return "INTEGER"
    if any(word in name for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if any(word in name for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC" if name else "BLOB"


def _extra_migrations(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *upgrades: Callable[[Connection], None]) -> int:
    """Make the database see the real migrations plus ``upgrades``; returns the new latest version."""
    folder = Path(tempfile.mkdtemp(prefix="migrations-", dir=tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # a reused revision id must be read afresh
    return extra_migrations(monkeypatch, folder, *upgrades)


def _registrations() -> list[Registration]:
    result = load_registrations([SCHEDULES], RegistrationContext())
    assert result.ok, [issue.render() for issue in result.issues]
    assert len(result.registrations) >= 3
    return result.registrations


def _events(db: Database) -> dict[str, Any]:
    with db.engine.connect() as conn:
        return {row.id: row for row in conn.execute(select(tables.events))}


# -- opening and migrating ----------------------------------------------------------------------------------


def test_fresh_open_creates_skeleton_and_migrates_to_latest(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with Database.open(data) as db:
        assert db.path == data.database == tmp_path / "data" / DATABASE_NAME
        assert db.schema_version() == len(all_migrations())
        assert db.pending_migrations() == []
    for folder in (data.root, data.root / "events", data.reports, data.reviews):
        assert folder.is_dir()
    assert _user_version(data.database) == len(all_migrations()) >= 1
    # A fresh (empty) database has nothing worth backing up.
    assert not list(data.root.glob("*.bak-v*"))


def test_migration_versions_are_consecutive() -> None:
    migrations = all_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"


def test_migrated_schema_matches_table_definitions(tmp_path: Path) -> None:
    dialect = sqlite_dialect.dialect()
    with _open(tmp_path) as db:
        insp = inspect(db.engine)
        assert set(insp.get_table_names()) == {*tables.metadata.tables, "alembic_version"}  # Alembic's own
        for table in tables.metadata.sorted_tables:
            actual: list[dict[str, Any]] = [dict(c) for c in insp.get_columns(table.name)]
            assert [c["name"] for c in actual] == [c.name for c in table.columns], table.name
            for column, found in zip(table.columns, actual, strict=True):
                where = f"{table.name}.{column.name}"
                assert _affinity(str(found["type"])) == _affinity(column.type.compile(dialect=dialect)), where
                assert bool(found["primary_key"]) == column.primary_key, where
                if not (column.primary_key and isinstance(column.type, Integer)):
                    # An INTEGER PRIMARY KEY is the rowid and never NULL, though SQLite reports it nullable; any
                    # other primary key must say NOT NULL, or SQLite lets NULL in.
                    assert found["nullable"] == column.nullable, where
            pk = insp.get_pk_constraint(table.name)["constrained_columns"]
            assert pk == [c.name for c in table.primary_key.columns], table.name

            wanted_fks = {
                (fk.parent.name, fk.column.table.name, fk.column.name) for fk in table.foreign_keys
            }
            found_fks = {
                (fk["constrained_columns"][0], fk["referred_table"], fk["referred_columns"][0])
                for fk in insp.get_foreign_keys(table.name)
            }
            assert found_fks == wanted_fks, table.name

            wanted_unique = {
                (uc.name, tuple(c.name for c in uc.columns))
                for uc in table.constraints
                if isinstance(uc, UniqueConstraint)
            }
            found_unique = {
                (uc["name"], tuple(uc["column_names"])) for uc in insp.get_unique_constraints(table.name)
            }
            assert found_unique == wanted_unique, table.name

            for index in table.indexes:
                assert index.name in {ix["name"] for ix in insp.get_indexes(table.name)}, index.name

        for name, (table_name, columns) in EXPECTED_INDEXES.items():
            indexes = {ix["name"]: ix for ix in insp.get_indexes(table_name)}
            assert name in indexes, f"index {name} missing on {table_name}"
            assert indexes[name]["column_names"] == columns
            assert not indexes[name]["unique"]


def test_segments_unique_constraint_is_enforced(tmp_path: Path) -> None:
    with _open(tmp_path) as db, db.engine.begin() as conn:
        conn.execute(tables.events.insert().values(_row(tables.events, id="ev")))
        key = conn.execute(tables.runs.insert().values(_row(tables.runs, event_id="ev"))).inserted_primary_key
        assert key is not None
        run_id = key[0]
        segment = _row(tables.segments, run_id=run_id, kind="media", seq=1, path="a.ts")
        conn.execute(tables.segments.insert().values(segment))
        with pytest.raises(IntegrityError, match="UNIQUE"):
            conn.execute(tables.segments.insert().values(segment))


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    with _open(tmp_path) as db, db.engine.begin() as conn, pytest.raises(IntegrityError, match="FOREIGN KEY"):
        conn.execute(tables.runs.insert().values(_row(tables.runs, event_id="no-such-event")))


def test_text_primary_keys_refuse_null(tmp_path: Path) -> None:
    with _open(tmp_path) as db:
        path = db.path
    assert path is not None
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                "INSERT INTO events (id, title, kind, timezone, registered_start, registered_end, source_file,"
                " source_sha256, registration_json, updated_at) VALUES (NULL, 't', 'k', 'UTC', 'a', 'b', 'f',"
                " 's', '{}', 'u')"
            )
    finally:
        conn.close()


def test_reopening_applies_nothing(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with Database.open(data) as db:
        version = db.schema_version()
    with Database.open(data) as again:
        assert again.pending_migrations() == []
        assert again.migrate() == []
        assert again.schema_version() == version
    assert not list(data.root.glob("*.bak-v*"))


def test_newer_database_is_refused(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    Database.open(data).close()
    known = len(all_migrations())
    _set_user_version(data.database, known + 5)
    with pytest.raises(StateError, match=r"schema version \d+") as info:
        Database.open(data)
    message = str(info.value)
    assert f"is at schema version {known + 5}, but this livewatch knows only {known}" in message
    assert "upgrade livewatch" in message
    assert str(data.database) in message
    # Nothing was touched: the version is still the newer one.
    assert _user_version(data.database) == known + 5


def test_migrate_false_leaves_database_alone(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    with Database.open(data, migrate=False) as db:
        assert db.schema_version() == 0
        assert [m.version for m in db.pending_migrations()] == [m.version for m in all_migrations()]


def test_migrating_non_empty_database_leaves_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = DataDir(tmp_path / "data")
    with Database.open(data) as db:
        db.sync_events(_registrations(), now=NOW)
        before = db.schema_version()

    def add_table(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE test_extra (id INTEGER PRIMARY KEY, note TEXT)"))

    latest = _extra_migrations(monkeypatch, tmp_path, add_table)
    with Database.open(data) as db:
        assert db.schema_version() == latest == before + 1
        assert "test_extra" in inspect(db.engine).get_table_names()
        assert len(_events(db)) == len(_registrations())

    backup = data.root / f"{DATABASE_NAME}.bak-v{before}"
    assert backup.is_file()
    assert [p.name for p in data.root.glob("*.bak-v*")] == [backup.name]
    # The backup is the database as it was before the step: old version, same rows, no new table.
    assert _user_version(backup) == before
    assert "test_extra" not in _table_names(backup)
    conn = sqlite3.connect(backup)
    try:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(_registrations())
    finally:
        conn.close()


def test_failing_migration_raises_and_keeps_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = DataDir(tmp_path / "data")
    Database.open(data).close()
    before = _user_version(data.database)

    def broken(conn: Connection) -> None:
        conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    latest = _extra_migrations(monkeypatch, tmp_path, broken)
    with pytest.raises(StateError, match=r"migration \d+ \(test_step_1\) failed") as info:
        Database.open(data)
    assert f"migration {latest} (test_step_1) failed on {data.database}" in str(info.value)
    assert "no such table: no_such_table" in str(info.value)
    assert "left at the previous version" in str(info.value)
    assert _user_version(data.database) == before
    with Database(data.database, migrate=False) as db:
        assert [m.version for m in db.pending_migrations()] == [latest]


def test_failing_migration_stops_before_later_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = DataDir(tmp_path / "data")
    Database.open(data).close()
    before = _user_version(data.database)
    ran: list[str] = []

    def good(conn: Connection) -> None:
        ran.append("good")
        conn.execute(text("UPDATE events SET title = title"))

    def broken(conn: Connection) -> None:
        ran.append("broken")
        conn.execute(text("SELECT * FROM no_such_table"))

    def never(conn: Connection) -> None:
        ran.append("never")

    _extra_migrations(monkeypatch, tmp_path, good, broken, never)
    with pytest.raises(StateError, match="test_step_2"):
        Database.open(data)
    assert ran == ["good", "broken"]
    # Each step commits on its own: the good step stays applied, the broken one is not recorded.
    assert _user_version(data.database) == before + 1


def test_failing_migration_leaves_no_partial_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = DataDir(tmp_path / "data")
    Database.open(data).close()

    def half_done(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE test_half (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    latest = _extra_migrations(monkeypatch, tmp_path, half_done)
    with pytest.raises(StateError):
        Database.open(data)
    assert "test_half" not in _table_names(data.database)

    # Once the step is fixed, the same database migrates cleanly.
    def fixed(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE test_half (id INTEGER PRIMARY KEY)"))

    assert _extra_migrations(monkeypatch, tmp_path, fixed) == latest
    with Database.open(data) as db:
        assert db.schema_version() == latest
    assert "test_half" in _table_names(data.database)


# -- AwareDateTime ------------------------------------------------------------------------------------------


def _times_table() -> tuple[Any, Table]:
    engine = create_engine("sqlite://")
    table = Table("times", MetaData(), Column("id", Integer, primary_key=True), Column("at", AwareDateTime))
    table.metadata.create_all(engine)
    return engine, table


def test_aware_datetime_refuses_naive() -> None:
    naive = datetime(2026, 12, 1, 9, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match=r"naive datetime .* cannot be stored; attach a time zone"):
        AwareDateTime().process_bind_param(naive, sqlite_dialect.dialect())
    engine, table = _times_table()
    with engine.begin() as conn, pytest.raises(StatementError, match="naive datetime"):
        conn.execute(table.insert().values(id=1, at=naive))
    with engine.connect() as conn:
        assert conn.execute(select(table)).all() == []


def test_aware_datetime_round_trips_as_utc_text() -> None:
    shanghai = datetime(2026, 12, 18, 14, 0, 5, 250_000, tzinfo=ZoneInfo("Asia/Shanghai"))
    engine, table = _times_table()
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=1, at=shanghai))
        conn.execute(table.insert().values(id=2, at=None))
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT at FROM times WHERE id = 1")).scalar_one()
        back = conn.execute(select(table.c.at).where(table.c.id == 1)).scalar_one()
        missing = conn.execute(select(table.c.at).where(table.c.id == 2)).scalar_one()
    assert isinstance(raw, str)
    assert raw.startswith("2026-12-18T06:00:05.25")
    assert raw.endswith("+00:00")
    assert back == shanghai
    assert back.utcoffset() == timedelta(0)
    assert missing is None


def test_aware_datetime_text_order_is_time_order() -> None:
    base = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    values = [
        base + timedelta(seconds=1),
        base,
        base + timedelta(microseconds=500_000),
        (base - timedelta(hours=1)).astimezone(ZoneInfo("America/New_York")),
        (base + timedelta(minutes=30)).astimezone(ZoneInfo("Asia/Kolkata")),
    ]
    engine, table = _times_table()
    with engine.begin() as conn:
        for number, value in enumerate(values, start=1):
            conn.execute(table.insert().values(id=number, at=value))
    with engine.connect() as conn:
        ordered = conn.execute(select(table.c.at).order_by(table.c.at)).scalars().all()
    assert ordered == sorted(values)


# -- the event registry -------------------------------------------------------------------------------------


def test_sync_events_inserts_updates_removes_and_readds(tmp_path: Path) -> None:
    regs = _registrations()
    ids = [reg.event.id for reg in regs]
    t1, t2, t3, t4, t5 = (NOW + timedelta(hours=n) for n in range(5))
    with _open(tmp_path) as db:
        first = db.sync_events(regs, now=t1)
        assert sorted(first.added) == sorted(ids)
        assert first.changed == first.removed == []
        rows = _events(db)
        assert sorted(rows) == sorted(ids)
        for reg in regs:
            row = rows[reg.event.id]
            assert row.title == reg.event.title
            assert row.kind == reg.event.kind
            assert row.timezone == reg.event.timezone
            assert row.registered_start == reg.event.start
            assert row.registered_end == reg.event.end
            assert row.registered_start.utcoffset() == timedelta(0)
            assert row.source_file == str(reg.file)
            assert row.source_sha256 == reg.file_sha256
            assert row.registration_json == reg.event.model_dump_json()
            assert row.updated_at == t1
            assert row.removed_at is None

        # The same registrations again: nothing to do, nothing rewritten.
        same = db.sync_events(regs, now=t2)
        assert (same.added, same.changed, same.removed) == ([], [], [])
        assert all(row.updated_at == t1 for row in _events(db).values())

        # One event changes.
        target = regs[0]
        retitled = dataclasses.replace(target, event=target.event.model_copy(update={"title": "Renamed"}))
        changed = db.sync_events([retitled, *regs[1:]], now=t3)
        assert (changed.added, changed.changed, changed.removed) == ([], [target.event.id], [])
        row = _events(db)[target.event.id]
        assert row.title == "Renamed"
        assert row.updated_at == t3
        assert all(r.updated_at == t1 for key, r in _events(db).items() if key != target.event.id)

        # One event disappears: its row stays, marked removed.
        gone = regs[-1].event.id
        removed = db.sync_events(regs[:-1], now=t4)
        assert removed.removed == [gone]
        assert removed.added == []
        assert removed.changed == [target.event.id]  # back to its original title
        rows = _events(db)
        assert gone in rows
        assert rows[gone].removed_at == t4
        assert all(r.removed_at is None for key, r in rows.items() if key != gone)

        # Still gone: not marked again.
        again = db.sync_events(regs[:-1], now=t5)
        assert again.removed == []
        assert _events(db)[gone].removed_at == t4

        # It comes back: the same row, no longer removed.
        readded = db.sync_events(regs, now=t5)
        assert readded.changed == [gone]
        assert readded.added == readded.removed == []
        rows = _events(db)
        assert len(rows) == len(regs)
        assert rows[gone].removed_at is None
        assert rows[gone].updated_at == t5


def test_sync_events_with_nothing_marks_everything_removed(tmp_path: Path) -> None:
    regs = _registrations()
    with _open(tmp_path) as db:
        db.sync_events(regs, now=NOW)
        result = db.sync_events([], now=NOW + timedelta(days=1))
        assert sorted(result.removed) == sorted(reg.event.id for reg in regs)
        assert all(row.removed_at == NOW + timedelta(days=1) for row in _events(db).values())


def test_sync_events_defaults_now_to_current_utc_time(tmp_path: Path) -> None:
    before = datetime.now(UTC)
    with _open(tmp_path) as db:
        db.sync_events(_registrations())
        stamps = {row.updated_at for row in _events(db).values()}
    assert all(before <= stamp <= datetime.now(UTC) for stamp in stamps)


def test_latest_run_status_per_event(tmp_path: Path) -> None:
    regs = _registrations()
    first, second, third = (reg.event.id for reg in regs[:3])
    with _open(tmp_path) as db:
        db.sync_events(regs, now=NOW)
        assert db.latest_run_status() == {}
        with db.engine.begin() as conn:
            for event_id, status in [
                (first, "failed"),
                (second, "finished"),
                (first, "recording"),
                (second, "no-show"),
                (first, "finished"),
            ]:
                conn.execute(tables.runs.insert().values(_row(tables.runs, event_id=event_id, status=status)))
        assert db.latest_run_status() == {first: "finished", second: "no-show"}
        assert third not in db.latest_run_status()


# -- the data directory -------------------------------------------------------------------------------------

BAD_IDS = ["..", "../x", "a/b", "/etc", "/tmp/x", "ABC", "Event", "", ".", ".hidden", "a\\b", "a b", "a" * 65]
PATH_METHODS = ["event_dir", "report_dir", "review_file", "media_dir", "audio_dir", "transcripts_dir"]


@pytest.mark.parametrize("method", PATH_METHODS)
@pytest.mark.parametrize("event_id", BAD_IDS)
def test_data_dir_refuses_unsafe_ids(tmp_path: Path, method: str, event_id: str) -> None:
    data = DataDir(tmp_path / "data").ensure()
    with pytest.raises(UnsafePathError, match="is not a safe name inside the data directory") as info:
        getattr(data, method)(event_id)
    assert info.value.value == event_id
    assert isinstance(info.value, StateError)


def test_data_dir_refuses_unsafe_ids_for_ensure_event(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    with pytest.raises(UnsafePathError):
        data.ensure_event("../outside")
    assert not (tmp_path / "outside").exists()


def test_data_dir_refuses_trailing_newline(tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError):
        DataDir(tmp_path / "data").event_dir("abc\n")


def test_data_dir_paths_for_valid_ids(tmp_path: Path) -> None:
    root = tmp_path / "data"
    data = DataDir(root).ensure()
    assert data.database == root / "livewatch.db"
    assert data.jobstore == root / "jobs.db"
    assert data.event_dir("ev-2026_a") == root / "events" / "ev-2026_a"
    assert data.media_dir("ev") == root / "events" / "ev" / "media"
    assert data.audio_dir("ev") == root / "events" / "ev" / "audio"
    assert data.transcripts_dir("ev") == root / "events" / "ev" / "transcripts"
    assert data.frames_dir("ev") == root / "events" / "ev" / "frames"
    assert data.report_dir("ev") == root / "reports" / "ev"
    assert data.review_file("ev") == root / "reviews" / "ev.yaml"
    assert data.event_dir("a" * 64).name == "a" * 64
    folder = data.ensure_event("ev")
    assert {p.name for p in folder.iterdir()} == {"media", "audio", "frames", "transcripts"}
    assert data.ensure_event("ev") == folder  # idempotent


def test_data_dir_refuses_symlinked_escape(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    outside = tmp_path / "outside"
    outside.mkdir()
    (data.root / "events" / "evil").symlink_to(outside, target_is_directory=True)
    (data.reports / "evil").symlink_to(outside, target_is_directory=True)
    (data.reviews / "evil.yaml").symlink_to(outside / "stolen.yaml")
    for method in ("event_dir", "media_dir", "report_dir", "review_file"):
        with pytest.raises(UnsafePathError):
            getattr(data, method)("evil")
    with pytest.raises(UnsafePathError):
        data.ensure_event("evil")
    assert list(outside.iterdir()) == []


def test_data_dir_allows_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    link = tmp_path / "link"
    DataDir(real).ensure()
    link.symlink_to(real, target_is_directory=True)
    data = DataDir(link)
    assert data.event_dir("ev") == link / "events" / "ev"
    data.ensure_event("ev")
    assert (real / "events" / "ev" / "media").is_dir()


def test_ensure_on_unusable_location_raises_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    data = DataDir(blocker / "data")
    with pytest.raises(StateError, match=r"cannot create data directory .*a-file/data: Not a directory"):
        data.ensure()
    with pytest.raises(StateError, match="cannot create data directory"):
        Database.open(data)


def test_ensure_when_root_is_a_file(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.write_text("")
    with pytest.raises(StateError, match="cannot create data directory"):
        DataDir(root).ensure()
