"""Alembic's entry point: migrate the connection livewatch hands over (``Database.migrate``), or, for a
developer running ``alembic`` by hand, the database named by ``$LIVEWATCH_DATABASE_URL``."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from livewatch.state.engines import create, parse_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # Each step commits on its own, DDL included (SQLite runs DDL in transactions too, once pysqlite
        # leaves BEGIN to livewatch), so a failed step leaves the previous version intact.
        transaction_per_migration=True,
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = os.environ.get("LIVEWATCH_DATABASE_URL")
    if not url:
        raise SystemExit("set LIVEWATCH_DATABASE_URL to the database to migrate")
    engine = create(parse_url(url))
    with engine.connect() as own:
        _run(own)
    engine.dispose()
