"""``livewatch db``: the state database's schema version, its migrations, and a copy to PostgreSQL."""

from __future__ import annotations

import click

from livewatch.cli.invocation import CliState, pass_state
from livewatch.errors import StateError
from livewatch.monitor.status import database_present
from livewatch.settings import DATABASE_URL_ENV
from livewatch.state import Database, DataDir
from livewatch.state.copy import copy_state
from livewatch.state.engines import POSTGRESQL, mask_url, parse_url


@click.group()
def db() -> None:
    """The state database: SQLite in the data directory, or PostgreSQL (``database_url``)."""


@db.command("status")
@pass_state
def db_status(state: CliState) -> None:
    """Show the database location, schema version and pending migrations."""
    data_dir, url = DataDir(state.settings.data_dir), state.settings.database_url
    if url is None and not database_present(state.settings):
        click.echo(f"{data_dir.database}: not created yet (run `livewatch db migrate`)")
        return
    with Database(data_dir.database if url is None else url, migrate=False) as database:
        pending = database.pending_migrations()
        click.echo(f"{database.where}: schema version {database.schema_version()}, "
                   f"{len(pending)} pending migration(s)")


@db.command("migrate")
@pass_state
def db_migrate(state: CliState) -> None:
    """Create the data directory and database, or bring them to the current schema."""
    data_dir = DataDir(state.settings.data_dir)
    with Database.open(data_dir, migrate=False, url=state.settings.database_url) as database:
        applied = database.migrate()
        for migration in applied:
            click.echo(f"applied migration {migration.version}: {migration.name}")
        click.echo(f"{database.where}: schema version {database.schema_version()}")


@db.command("copy")
@click.option("--to", "target_url", required=True, envvar=DATABASE_URL_ENV, show_envvar=True,
              help="The PostgreSQL database to fill: postgresql+psycopg://user@host/dbname (password from "
                   "$PGPASSWORD, or the whole URL in the environment variable). It must hold no livewatch rows.")
@pass_state
def db_copy(state: CliState, target_url: str) -> None:
    """Copy the data directory's SQLite state to PostgreSQL, in one transaction; then set ``database_url``."""
    target = parse_url(target_url)
    if target.get_backend_name() != POSTGRESQL:
        raise StateError(f"--to {mask_url(target)}: copy to a postgresql+psycopg:// database")
    data_dir = DataDir(state.settings.data_dir)
    with Database.existing(data_dir.database) as source, Database(target) as destination:
        copied = copy_state(source, destination)
    for table, rows in copied.items():
        click.echo(f"{table}: {rows} row(s)")
    click.echo(f"copied {data_dir.database} to {mask_url(target)}; set database_url to use it "
               "(media, reports and the job store stay in the data directory)")
