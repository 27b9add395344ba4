"""One SQLAlchemy engine per back-end: the SQLite file in the data directory, or a PostgreSQL server.

SQLite keeps the settings it always had (WAL, FULL sync, foreign keys, BEGIN IMMEDIATE for writers);
PostgreSQL gets a small connection pool, a connect timeout and a statement timeout, so a stuck server turns
into an error instead of a monitor hanging in a query. Passwords never come from the configuration file: a
PostgreSQL URL carries none (libpq reads ``$PGPASSWORD`` or ``~/.pgpass``), or the whole URL comes from
``$LIVEWATCH_DATABASE_URL``; :func:`mask_url` hides a password wherever a URL is printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Integer, Table, create_engine, event
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from livewatch.errors import StateError

SQLITE, POSTGRESQL = "sqlite", "postgresql"
#: Marks a write transaction: SQLite takes its write lock up front (BEGIN IMMEDIATE).
IMMEDIATE_OPTION = "livewatch_immediate"
#: Seconds a PostgreSQL connection attempt may take, and milliseconds one statement may run.
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_MS = 60_000


def parse_url(url: str | URL) -> URL:
    """A database URL, checked: ``sqlite:///<file>`` or ``postgresql+psycopg://…`` (plain ``postgresql://``
    means the same driver)."""
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise StateError(f"database_url {mask_url(str(url))!r} is not a database URL: {err}") from None
    if parsed.get_backend_name() == POSTGRESQL:
        if parsed.get_driver_name() not in ("psycopg", "postgresql"):
            raise StateError(f"database_url {mask_url(parsed)}: livewatch speaks to PostgreSQL through psycopg 3; "
                             "write postgresql+psycopg://…")
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == SQLITE:
        if not parsed.database or parsed.database == ":memory:":
            raise StateError(f"database_url {mask_url(parsed)} names no file: write sqlite:///<path>")
        return parsed
    raise StateError(f"database_url {mask_url(parsed)}: only sqlite:/// and postgresql+psycopg:// are supported")


def sqlite_url(path: Path) -> URL:
    return URL.create("sqlite", database=str(path))


def mask_url(url: str | URL) -> str:
    """The URL with its password (if any) replaced by ``***``, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unreadable database URL>"


def backend_of(url: URL) -> str:
    return url.get_backend_name()


def create(url: URL) -> Engine:
    """The engine for ``url``, configured for its back-end."""
    if backend_of(url) == SQLITE:
        engine = create_engine(url)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    return create_engine(
        url,
        # A monitor runs a few dozen threads at most; the pool keeps connections warm and checks them before
        # use, so a server restart costs one failed ping, not a failed write.
        pool_size=5, max_overflow=15, pool_timeout=30, pool_pre_ping=True, pool_recycle=1800,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "livewatch",
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={STATEMENT_TIMEOUT_MS}",
            # A worker cut off from the server (a network partition, a vanished host) must not hang on a
            # half-open TCP connection: keepalive probes after 30 s idle, and at most 60 s of unacknowledged
            # data, then the connection fails and the caller's retry takes over. libpq ignores both on a Unix
            # socket.
            "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
            "tcp_user_timeout": 60_000,
        },
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from pysqlite, which would not BEGIN before DDL (so a failed migration
    # could leave half a schema behind); _begin_sqlite below starts every transaction instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the report renderer read while capture writes; FULL sync keeps committed rows through a
    # power cut, which matters more here than write speed (a few rows per segment).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    # A write transaction takes the write lock up front (IMMEDIATE): two writers then queue on busy_timeout
    # instead of one failing with "database is locked" when it upgrades a read lock. Reads begin deferred,
    # so they never block anyone.
    immediate = connection.get_execution_options().get(IMMEDIATE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def insert_ignore(conn: Connection, table: Table, values: Mapping[str, Any],
                  conflict_columns: Iterable[str]) -> tuple[Any, ...] | None:
    """``INSERT … ON CONFLICT (conflict_columns) DO NOTHING`` in the connection's dialect: the new row's
    primary key, or None when a row with the same key was already there. (RETURNING says so on both back-ends;
    PostgreSQL's rowcount would not before the rows are read.)"""
    insert = postgresql_dialect.insert if conn.dialect.name == POSTGRESQL else sqlite_dialect.insert
    statement = (insert(table).values(**values).on_conflict_do_nothing(index_elements=list(conflict_columns))
                 .returning(*table.primary_key.columns))
    row = conn.execute(statement).first()
    return None if row is None else tuple(row)


class json_integer(FunctionElement[int]):
    """An integer member of a JSON text column, in SQL: ``json_extract`` on SQLite, ``->>`` on PostgreSQL.
    The member name is written into the statement (PostgreSQL matches GROUP BY expressions only without
    parameters), so it must be a plain identifier."""

    type = Integer()
    inherit_cache = False  # the member is not a parameter: statements holding one are not cached
    name = "json_integer"

    def __init__(self, column: ColumnElement[str], member: str) -> None:
        if not member.isidentifier():
            raise ValueError(f"JSON member {member!r} must be a plain identifier")
        self.member = member
        super().__init__(column)


@compiles(json_integer, SQLITE)
def _json_integer_sqlite(element: json_integer, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.{element.member}')"


@compiles(json_integer, POSTGRESQL)
def _json_integer_postgresql(element: json_integer, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(CAST({compiler.process(element.clauses, **kw)} AS jsonb) ->> '{element.member}' AS INTEGER)"
