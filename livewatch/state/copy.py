"""Copy a data directory's state from one database to another (``livewatch db copy``): SQLite to PostgreSQL.

Every table, parents before children, in one transaction on the target: a copy that fails half-way leaves
the target as empty as it was. The target must hold no livewatch rows, so a copy never merges two histories.
"""

from __future__ import annotations

from itertools import islice

from sqlalchemy import Connection, Integer, Table, func, select

from livewatch.errors import StateError
from livewatch.state import tables
from livewatch.state.database import Database, write
from livewatch.state.engines import POSTGRESQL

BATCH_ROWS = 1000


def copy_state(source: Database, target: Database) -> dict[str, int]:
    """Copy every livewatch table from ``source`` to the empty ``target`` (both at the latest schema); returns
    the rows copied per table."""
    if source.schema_version() != target.schema_version():
        raise StateError(f"database {source.where} is at schema version {source.schema_version()} and "
                         f"{target.where} at {target.schema_version()}: migrate both first (`livewatch db migrate`)")
    copied: dict[str, int] = {}
    with source.engine.connect() as reading, write(target.engine) as writing:
        for table in tables.metadata.sorted_tables:
            if writing.execute(select(func.count()).select_from(table)).scalar_one():
                raise StateError(f"database {target.where} already holds livewatch data (table {table.name}): "
                                 "copy only into an empty database; nothing was copied")
        for table in tables.metadata.sorted_tables:
            rows = reading.execute(select(table)).mappings()
            count = 0
            while batch := [dict(row) for row in islice(rows, BATCH_ROWS)]:
                writing.execute(table.insert(), batch)
                count += len(batch)
            copied[table.name] = count
            if target.backend == POSTGRESQL:
                _advance_sequence(writing, table)
    return copied


def _advance_sequence(conn: Connection, table: Table) -> None:
    """Rows came with their ids: move the id sequence past them, or the next insert would collide."""
    serial = [c for c in table.primary_key.columns if isinstance(c.type, Integer) and c.autoincrement is True]
    if len(serial) != 1:
        return
    column = serial[0]
    after = func.coalesce(select(func.max(column)).scalar_subquery(), 0) + 1
    conn.execute(select(func.setval(func.pg_get_serial_sequence(table.name, column.name), after, False)))
