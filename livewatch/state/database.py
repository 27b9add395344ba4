"""The state database (SQLite in the data directory, or PostgreSQL): opening, migrating, the event registry."""

from __future__ import annotations

import logging
import sqlite3
import stat
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError as AlembicError
from sqlalchemy import Connection, Engine, func, inspect, select, text, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from livewatch.errors import StateError
from livewatch.registration.loader import Registration
from livewatch.state import tables
from livewatch.state.engines import (
    IMMEDIATE_OPTION,
    SQLITE,
    backend_of,
    create,
    insert_ignore,
    mask_url,
    parse_url,
    sqlite_url,
)
from livewatch.state.layout import DataDir
from livewatch.state.migrations import SCRIPT_LOCATION, Migration, alembic_config, all_migrations

#: The Alembic script directory the database migrates with (tests point it at a copy with extra steps).
MIGRATIONS = SCRIPT_LOCATION
# Alembic says "Context impl SQLiteImpl" (and more) at INFO each time the version is read (every open, status,
# every metrics scrape); livewatch reports the migrations it applies itself.
logging.getLogger("alembic").setLevel(logging.WARNING)

__all__ = ["IMMEDIATE_OPTION", "Database", "SyncResult", "check_database_file", "describe_error", "insert_ignore",
           "mask_url", "schema_version_of", "write"]


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
    """The state database: the SQLite file of one data directory, or a PostgreSQL database. Opening it
    applies pending migrations."""

    def __init__(self, location: Path | str | URL, *, migrate: bool = True) -> None:
        url = sqlite_url(location) if isinstance(location, Path) else parse_url(location)
        self.url = url
        self.backend = backend_of(url)
        #: The SQLite file, or None on PostgreSQL.
        self.path: Path | None = Path(url.database or "") if self.backend == SQLITE else None
        #: How messages name this database: the file, or the URL without its password.
        self.where = str(self.path) if self.path is not None else mask_url(url)
        if self.path is not None:
            check_database_file(self.path)
        self.engine: Engine = create(url)
        if migrate:
            self.migrate()
            self.verify_tables()

    @classmethod
    def open(cls, data_dir: DataDir, *, migrate: bool = True, url: str | URL | None = None) -> Database:
        """The database of ``data_dir``: its SQLite file, or ``url`` (the ``database_url`` setting)."""
        data_dir.ensure()
        return cls(data_dir.database if url is None else url, migrate=migrate)

    @classmethod
    def existing(cls, location: Path | str | URL) -> Database:
        """An existing database, for a command that only reads (``status``, ``schedule``): it is never
        migrated here, so one that is empty, foreign, older or newer than this livewatch is refused with
        the reason instead of failing later on a missing table or column."""
        if isinstance(location, Path):
            check_database_file(location, must_exist=True)
        database = cls(location, migrate=False)
        try:
            version, known = database.schema_version(), len(all_migrations(MIGRATIONS))
            if version == 0:
                raise StateError(f"database {database.where} holds no livewatch tables (empty, or not a livewatch "
                                 "database); `livewatch db migrate` creates them")
            if version < known:
                raise StateError(f"database {database.where} is at schema version {version}, this livewatch needs "
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
            raise StateError(f"cannot read database {self.where}: {describe_error(err)}") from err

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- migrations ---------------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The latest migration applied: Alembic's revision, or on SQLite the ``user_version`` an older
        livewatch recorded (the higher of the two, so a newer database is never taken for an older one)."""
        try:
            with self.engine.connect() as conn:
                return self._version(conn)
        except (SQLAlchemyError, sqlite3.Error) as err:
            raise StateError(f"cannot read database {self.where}: {describe_error(err)}") from err

    def _version(self, conn: Connection) -> int:
        try:
            return schema_version_of(conn)
        except ValueError as err:
            raise StateError(f"database {self.where}: {err}") from None

    def verify_tables(self) -> None:
        """Refuse a database at the current version that lacks a table (dropped by hand, or a foreign file
        that set ``user_version``), before some later query fails on it half-way through a command."""
        try:
            with self.engine.connect() as conn:
                present = set(inspect(conn).get_table_names())
        except (SQLAlchemyError, sqlite3.Error) as err:
            raise StateError(f"cannot read database {self.where}: {describe_error(err)}") from err
        missing = sorted(set(tables.metadata.tables) - present)
        if missing:
            backup = f" ({self.path.name}.bak-v*) or move it aside" if self.path is not None else ""
            restore = f"restore a backup{backup}"
            raise StateError(f"database {self.where} lacks table(s) {', '.join(missing)}: it was damaged or edited; "
                             + restore)

    def pending_migrations(self) -> list[Migration]:
        current = self.schema_version()
        known = all_migrations(MIGRATIONS)
        if current > len(known):
            raise StateError(
                f"database {self.where} is at schema version {current}, but this livewatch knows only "
                f"{len(known)}; upgrade livewatch (never run an older version on newer data)"
            )
        return [m for m in known if m.version > current]

    def migrate(self) -> list[Migration]:
        """Apply pending migrations with Alembic, each in its own transaction, after backing up a non-empty
        SQLite database. A database an older livewatch migrated (``user_version``, no Alembic table) is first
        stamped at the version it reached."""
        pending = self.pending_migrations()
        current = self.schema_version()
        if not pending and not (current > 0 and self._unstamped()):
            return []
        if pending and current > 0 and self.path is not None:
            self._backup(f".bak-v{current}")
        try:
            with self.engine.execution_options(**{IMMEDIATE_OPTION: True}).connect() as conn:
                config = alembic_config(conn, MIGRATIONS)
                if current > 0 and _alembic_revision(conn) is None:
                    command.stamp(config, f"{current:04d}")
                if not pending:
                    return []
                try:
                    command.upgrade(config, "head")
                finally:
                    self._keep_user_version(conn)
        except (SQLAlchemyError, sqlite3.Error, AlembicError) as err:
            reached = self.schema_version()
            failed = next((m for m in pending if m.version > reached), pending[-1])
            raise StateError(
                f"migration {failed.version} ({failed.name}) failed on {self.where}: "
                f"{describe_error(err)}; "
                "the database was left at the previous version"
            ) from err
        return pending

    def _keep_user_version(self, conn: Connection) -> None:
        """On SQLite, copy Alembic's revision to ``user_version``: an older livewatch, which reads only that,
        then refuses this database as newer instead of migrating it again."""
        if self.backend != SQLITE:
            return
        if conn.in_transaction():
            conn.rollback()  # a failed step's transaction, already rolled back by Alembic's context
        revision = _alembic_revision(conn)
        if revision is not None and revision.isdigit():
            with conn.begin():
                # PRAGMA takes no bound parameters; the version is an int we produced.
                conn.execute(text(f"PRAGMA user_version = {int(revision)}"))

    def _unstamped(self) -> bool:
        """True for a database an older livewatch migrated, which Alembic has not taken over yet."""
        with self.engine.connect() as conn:
            return _alembic_revision(conn) is None

    def _backup(self, suffix: str) -> Path:
        assert self.path is not None
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



def _alembic_revision(conn: Connection) -> str | None:
    revision = MigrationContext.configure(conn).get_current_revision()
    if conn.in_transaction():
        conn.rollback()  # the look-up began a transaction; end it before Alembic begins its own
    return revision


def schema_version_of(conn: Connection) -> int:
    """The schema version of the database behind ``conn`` (see :meth:`Database.schema_version`), read inside
    the caller's transaction (the metrics read everything from one snapshot)."""
    revision = MigrationContext.configure(conn).get_current_revision()
    version = 0
    if revision is not None:
        if not revision.isdigit():
            raise ValueError(f"it is at migration {revision!r}, which is not a livewatch schema version")
        version = int(revision)
    if conn.dialect.name == SQLITE:
        version = max(version, int(conn.execute(text("PRAGMA user_version")).scalar_one()))
    return version
