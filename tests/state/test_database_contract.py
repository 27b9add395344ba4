"""The state database on SQLite and PostgreSQL: the migrated schema is the table definitions, constraints hold,
times round-trip, the event registry and run store behave the same on both back-ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import UniqueConstraint, inspect, select
from sqlalchemy.exc import IntegrityError

from livewatch.errors import StateError
from livewatch.pipeline.run_status import FINISHED
from livewatch.registration.loader import Registration, load_registrations
from livewatch.registration.models import RegistrationContext
from livewatch.state import Database, tables
from livewatch.state.migrations import all_migrations
from livewatch.state.runs import RunStore, SegmentRecord
from tests.state.rows import placeholder_row as _row

SCHEDULES = Path(__file__).resolve().parents[2] / "schedules"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
#: Indexes the migrations create that ``tables.metadata`` does not declare (queries rely on them).
EXPECTED_INDEXES = {
    "ix_runs_event": ("runs", ["event_id"]),
    "ix_transcripts_run_start": ("transcripts", ["run_id", "start_at"]),
    "ix_findings_event": ("findings", ["event_id", "start_at"]),
    "ix_work_queue_pending": ("work_queue", ["queue", "status", "id"]),
    "ix_alert_outbox_due": ("alert_outbox", ["target", "status", "due_at"]),
    "ix_screen_items_run": ("screen_items", ["run_id", "stream", "start_at"]),
}


def _registrations() -> list[Registration]:
    result = load_registrations([SCHEDULES], RegistrationContext())
    assert result.ok, [issue.render() for issue in result.issues]
    return result.registrations


def test_migrated_schema_matches_table_definitions(state_backend: Database) -> None:
    assert state_backend.schema_version() == len(all_migrations())
    assert state_backend.pending_migrations() == []
    insp = inspect(state_backend.engine)
    assert set(insp.get_table_names()) == {*tables.metadata.tables, "alembic_version"}
    for table in tables.metadata.sorted_tables:
        found = insp.get_columns(table.name)
        assert [c["name"] for c in found] == [c.name for c in table.columns], table.name
        for column, actual in zip(table.columns, found, strict=True):
            if not column.primary_key:
                assert actual["nullable"] == column.nullable, f"{table.name}.{column.name}"
        assert insp.get_pk_constraint(table.name)["constrained_columns"] == [c.name for c in table.primary_key]
        wanted_fks = {(fk.parent.name, fk.column.table.name, fk.column.name) for fk in table.foreign_keys}
        found_fks = {(fk["constrained_columns"][0], fk["referred_table"], fk["referred_columns"][0])
                     for fk in insp.get_foreign_keys(table.name)}
        assert found_fks == wanted_fks, table.name
        wanted_unique = {(uc.name, tuple(c.name for c in uc.columns))
                         for uc in table.constraints if isinstance(uc, UniqueConstraint)}
        found_unique = {(uc["name"], tuple(uc["column_names"])) for uc in insp.get_unique_constraints(table.name)}
        assert found_unique == wanted_unique, table.name
    for name, (table_name, columns) in EXPECTED_INDEXES.items():
        indexes = {ix["name"]: ix for ix in insp.get_indexes(table_name)}
        assert indexes[name]["column_names"] == columns, name


def test_constraints_hold(state_backend: Database) -> None:
    with pytest.raises(IntegrityError), state_backend.engine.begin() as conn:
        conn.execute(tables.runs.insert().values(_row(tables.runs, event_id="no-such-event")))
    with state_backend.engine.begin() as conn:
        conn.execute(tables.events.insert().values(_row(tables.events, id="ev")))
        run_id = conn.execute(tables.runs.insert().values(_row(tables.runs, event_id="ev"))).inserted_primary_key
        assert run_id is not None
        segment = _row(tables.segments, run_id=run_id[0], kind="media", seq=1, path="a.ts")
        conn.execute(tables.segments.insert().values(segment))
    with pytest.raises(IntegrityError), state_backend.engine.begin() as conn:
        conn.execute(tables.segments.insert().values(segment))
    with pytest.raises(IntegrityError), state_backend.engine.begin() as conn:
        conn.execute(tables.events.insert().values(_row(tables.events, id=None)))


def test_times_round_trip_aware_and_in_order(state_backend: Database) -> None:
    shanghai = datetime(2026, 11, 30, 20, 0, 0, 123456, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    with state_backend.engine.begin() as conn:
        conn.execute(tables.events.insert().values(_row(tables.events, id="ev", registered_start=shanghai)))
        row = conn.execute(select(tables.events.c.registered_start)).one()
    assert row.registered_start == shanghai
    assert row.registered_start.tzinfo is not None


def test_sync_events_and_latest_run_status(state_backend: Database) -> None:
    registrations = _registrations()
    first = state_backend.sync_events(registrations, now=NOW)
    assert sorted(first.added) == sorted(r.event.id for r in registrations)
    again = state_backend.sync_events(registrations, now=NOW)
    assert (again.added, again.changed, again.removed) == ([], [], [])
    gone = state_backend.sync_events(registrations[1:], now=NOW + timedelta(hours=1))
    assert gone.removed == [registrations[0].event.id]
    store = RunStore(state_backend.engine)
    ev = registrations[1].event
    run = store.open_run(ev.id, ev.start, ev.end)
    assert run is not None
    assert not run.resumed
    resumed = store.open_run(ev.id, ev.start, ev.end)
    assert resumed is not None
    assert resumed.resumed
    assert resumed.id == run.id
    store.finish_run(run.id, FINISHED, "ended")
    assert store.open_run(ev.id, ev.start, ev.end) is None  # a finished window is not recorded again
    assert state_backend.latest_run_status() == {ev.id: FINISHED}


def test_segments_connections_and_gaps(state_backend: Database) -> None:
    registrations = _registrations()
    state_backend.sync_events(registrations, now=NOW)
    ev = registrations[0].event
    store = RunStore(state_backend.engine)
    run = store.open_run(ev.id, ev.start, ev.end)
    assert run is not None
    connection = store.open_connection(run.id, 0, 1, "https://cdn.example/live.m3u8", 0, NOW)
    store.set_connection_pid(connection, 4242)
    store.set_connection_wall_base(connection, NOW + timedelta(seconds=3))  # the media arrived 3 s later
    assert [(row.pid, row.wall_base) for row in store.open_connections(run.id, 0)] == [
        (4242, NOW + timedelta(seconds=3))]
    assert store.last_session(run.id, 0) == 1
    assert store.next_seq(run.id, 0) == 0
    ids = []
    for seq in range(3):
        start = NOW + timedelta(seconds=10 * seq)
        ids.append(store.add_segment(SegmentRecord(run.id, 0, connection, "audio", seq, Path(f"a{seq}.wav"), start,
                                                   start + timedelta(seconds=10), 1000, "ok")))
    assert all(isinstance(i, int) for i in ids)
    assert len(set(ids)) == 3
    duplicate = SegmentRecord(run.id, 0, connection, "audio", 1, Path("a1.wav"), NOW, NOW, 1000, "ok")
    assert store.add_segment(duplicate) is None  # recorded before a restart: ignored
    assert store.next_seq(run.id, 0) == 3
    assert store.last_segment_end(run.id, 0) == NOW + timedelta(seconds=30)
    store.close_connection(connection, 0, "ended", "x" * 5000)
    assert store.open_connections(run.id, 0) == []
    store.add_gap(run.id, 0, NOW + timedelta(seconds=30), NOW + timedelta(seconds=40), "reconnect")
    store.note_on_air(run.id, NOW + timedelta(seconds=5), NOW + timedelta(seconds=30))
    store.note_on_air(run.id, NOW, NOW + timedelta(seconds=20))
    with state_backend.engine.connect() as conn:
        on_air = conn.execute(select(tables.runs.c.on_air_at, tables.runs.c.off_air_at)).one()
        assert (on_air.on_air_at, on_air.off_air_at) == (NOW, NOW + timedelta(seconds=30))
        assert conn.execute(select(tables.gaps.c.cause)).scalars().all() == ["reconnect"]


def test_existing_refuses_an_empty_database(state_backend: Database, tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    if state_backend.backend == "sqlite":
        empty: Path | str = tmp_path / "empty.db"
        Path(empty).touch()
    else:
        empty = request.getfixturevalue("postgres_cluster").create_database("empty")
    with pytest.raises(StateError, match="holds no livewatch tables"):
        Database.existing(empty)
    with Database(empty) as migrated:
        assert migrated.schema_version() == len(all_migrations())
    Database.existing(empty).close()
