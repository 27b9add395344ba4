"""The SQLite database in the data directory: opening, migrating, and the event registry."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from livewatch.errors import StateError
from livewatch.registration.loader import Registration
from livewatch.state import tables
from livewatch.state.layout import DataDir
from livewatch.state.migrations import Migration, all_migrations


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite, which would not BEGIN before DDL (so a failed migration
    # could leave half a schema behind); _begin_immediate below starts every transaction instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the report renderer read while capture writes; FULL sync keeps committed rows through a
    # power cut, which matters more here than write speed (a few rows per segment).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _begin(connection: Any) -> None:
    # A write transaction takes the write lock up front (IMMEDIATE): two writers then queue on busy_timeout
    # instead of one failing with "database is locked" when it upgrades a read lock. Reads begin deferred,
    # so they never block anyone.
    immediate = connection.get_execution_options().get(IMMEDIATE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


IMMEDIATE_OPTION = "livewatch_immediate"


def write(engine: Engine) -> AbstractContextManager[Connection]:
    """A write transaction (``with write(engine) as conn: ...``), committed on leaving the block."""
    return engine.execution_options(**{IMMEDIATE_OPTION: True}).begin()


def describe_error(err: BaseException) -> str:
    """One line for a database error: SQLite's own message, without SQLAlchemy's statement and help link."""
    cause = getattr(err, "orig", None) or err
    lines = str(cause).strip().splitlines()
    message = lines[0] if lines else type(cause).__name__
    if "readonly database" in message or "unable to open database file" in message:
        # SQLite writes beside the database (WAL and shared-memory files) even to read it.
        message += " (SQLite needs to write to the database and its folder, even to read)"
    return message


def check_database_file(path: Path, *, must_exist: bool = False) -> None:
    """A database path must be a regular file, or not exist yet: SQLite would hang reading a FIFO, and a
    folder or device gives a bare driver error."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if must_exist:  # a dangling symbolic link: SQLite would create its target
            raise StateError(f"database {path} does not exist (a symbolic link to a missing file?)") from None
        return
    except OSError as err:
        raise StateError(f"cannot open database {path}: {err.strerror or err}") from err
    if stat.S_ISDIR(mode):
        raise StateError(f"database {path} is a directory, not a SQLite file")
    if not stat.S_ISREG(mode):
        raise StateError(f"database {path} is not a regular file")


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class Database:
    """The state database of one data directory. Opening it applies pending migrations."""

    def __init__(self, path: Path, *, migrate: bool = True) -> None:
        check_database_file(path)
        self.path = path
        self.engine: Engine = create_engine(f"sqlite:///{path}")
        event.listen(self.engine, "connect", _configure_sqlite)
        event.listen(self.engine, "begin", _begin)
        if migrate:
            self.migrate()
            self.verify_tables()

    @classmethod
    def open(cls, data_dir: DataDir, *, migrate: bool = True) -> Database:
        data_dir.ensure()
        return cls(data_dir.database, migrate=migrate)

    @classmethod
    def existing(cls, path: Path) -> Database:
        """An existing database, for a command that only reads (``status``, ``schedule``): it is never
        migrated here, so one that is empty, foreign, older or newer than this livewatch is refused with
        the reason instead of failing later on a missing table or column."""
        check_database_file(path, must_exist=True)
        database = cls(path, migrate=False)
        try:
            version, known = database.schema_version(), len(all_migrations())
            if version == 0:
                raise StateError(f"database {path} holds no livewatch tables (empty, or not a livewatch "
                                 "database); `livewatch db migrate` creates them")
            if version < known:
                raise StateError(f"database {path} is at schema version {version}, this livewatch needs "
                                 f"{known}: run `livewatch db migrate` (a starting monitor migrates too)")
            database.pending_migrations()  # refuses a newer schema
            database.verify_tables()
        except BaseException:
            database.close()
            raise
        return database

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Turn a driver error inside the block (a corrupt page, a missing table) into a StateError."""
        try:
            yield
        except (SQLAlchemyError, sqlite3.Error) as err:
            raise StateError(f"cannot read database {self.path}: {describe_error(err)}") from err

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- migrations ---------------------------------------------------------------------------------------

    def schema_version(self) -> int:
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(text("PRAGMA user_version")).scalar_one())
        except (SQLAlchemyError, sqlite3.Error) as err:
            raise StateError(f"cannot read database {self.path}: {describe_error(err)}") from err

    def verify_tables(self) -> None:
        """Refuse a database at the current version that lacks a table (dropped by hand, or a foreign file
        that set ``user_version``), before some later query fails on it half-way through a command."""
        try:
            with self.engine.connect() as conn:
                present = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
        except (SQLAlchemyError, sqlite3.Error) as err:
            raise StateError(f"cannot read database {self.path}: {describe_error(err)}") from err
        missing = sorted(set(tables.metadata.tables) - present)
        if missing:
            raise StateError(f"database {self.path} lacks table(s) {', '.join(missing)}: it was damaged or edited; "
                             f"restore a backup ({self.path.name}.bak-v*) or move it aside")

    def pending_migrations(self) -> list[Migration]:
        current = self.schema_version()
        known = all_migrations()
        if current > len(known):
            raise StateError(
                f"database {self.path} is at schema version {current}, but this livewatch knows only "
                f"{len(known)}; upgrade livewatch (never run an older version on newer data)"
            )
        return [m for m in known if m.version > current]

    def migrate(self) -> list[Migration]:
        """Apply pending migrations, each in its own transaction, after backing up a non-empty database."""
        pending = self.pending_migrations()
        if not pending:
            return []
        if self.schema_version() > 0:
            self._backup(f".bak-v{self.schema_version()}")
        for migration in pending:
            try:
                with write(self.engine) as conn:
                    migration.upgrade(conn)
                    # PRAGMA cannot take bound parameters; the version is an int we produced.
                    conn.execute(text(f"PRAGMA user_version = {int(migration.version)}"))
            except (SQLAlchemyError, sqlite3.Error) as err:
                raise StateError(
                    f"migration {migration.version} ({migration.name}) failed on {self.path}: "
                    f"{describe_error(err)}; "
                    "the database was left at the previous version"
                ) from err
        return pending

    def _backup(self, suffix: str) -> Path:
        target = self.path.with_name(self.path.name + suffix)
        try:
            source = sqlite3.connect(self.path)
            try:
                dest = sqlite3.connect(target)
                try:
                    source.backup(dest)
                finally:
                    dest.close()
            finally:
                source.close()
        except sqlite3.Error as err:
            raise StateError(f"cannot back up database {self.path} to {target} before migrating: {err}; "
                             "nothing was migrated") from err
        return target

    # -- the event registry -------------------------------------------------------------------------------

    def sync_events(self, registrations: Iterable[Registration], now: datetime | None = None, *,
                    remove_missing: bool = True) -> SyncResult:
        """Make the events table match the registrations: insert new, update changed, mark removed.

        Removed events keep their row (runs and findings refer to it) with ``removed_at`` set. With
        ``remove_missing`` off only the given events are written (``analyze`` adds one event and must not
        hide the monitor's others).
        """
        now = now or datetime.now(UTC)
        result = SyncResult()
        with write(self.engine) as conn:
            existing = {row.id: row for row in conn.execute(select(tables.events))}
            wanted = {reg.event.id: reg for reg in registrations}
            for event_id, reg in wanted.items():
                values = _event_row(reg, now)
                old = existing.get(event_id)
                if old is None:
                    conn.execute(tables.events.insert().values(id=event_id, **values))
                    result.added.append(event_id)
                elif (old.registration_json, old.source_file, old.source_sha256, old.removed_at) != (
                    values["registration_json"], values["source_file"], values["source_sha256"], None
                ):
                    conn.execute(update(tables.events).where(tables.events.c.id == event_id).values(**values))
                    result.changed.append(event_id)
            for event_id, old in existing.items() if remove_missing else ():
                if event_id not in wanted and old.removed_at is None:
                    conn.execute(
                        update(tables.events).where(tables.events.c.id == event_id).values(removed_at=now)
                    )
                    result.removed.append(event_id)
        return result

    def latest_run_status(self) -> dict[str, str]:
        """The status of each event's most recent run."""
        latest = (
            select(tables.runs.c.event_id, func.max(tables.runs.c.id).label("run_id"))
            .group_by(tables.runs.c.event_id)
            .subquery()
        )
        query = select(tables.runs.c.event_id, tables.runs.c.status).join(
            latest, tables.runs.c.id == latest.c.run_id
        )
        with self.engine.connect() as conn:
            return {row.event_id: row.status for row in conn.execute(query)}


def _event_row(reg: Registration, now: datetime) -> dict[str, Any]:
    ev = reg.event
    return {
        "title": ev.title,
        "kind": ev.kind,
        "timezone": ev.timezone,
        "registered_start": ev.start,
        "registered_end": ev.end,
        "source_file": str(reg.file),
        "source_sha256": reg.file_sha256,
        "registration_json": ev.model_dump_json(),
        "updated_at": now,
        "removed_at": None,
    }

