"""``livewatch alerts``: try every configured target, and look into the outbox."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from livewatch.alerts.outbox import FAILED, PENDING, SENDING, SENT
from livewatch.alerts.service import send_test
from livewatch.cli.invocation import CliState, complete_event_ids, pass_state
from livewatch.session import Session
from livewatch.terminal import rich_safe

#: Exit status when a test alert did not reach every target (set here, in the CLI, like every exit code).
EXIT_UNDELIVERED = 1


@click.group()
def alerts() -> None:
    """Alert targets: send a test alert, list what was sent, pending or failed."""


@alerts.command("test")
@click.option("--target", "only", help="Only this target (by name).")
@pass_state
def alerts_test(state: CliState, only: str | None) -> None:
    """Send a test alert to every configured target (one try each) and report which succeeded."""
    settings = state.settings
    if not settings.alerts:
        raise click.UsageError("no alert targets are configured; add [[alerts]] to livewatch.toml")
    if only is not None and only not in {target.name for target in settings.alerts}:
        names = ", ".join(target.name for target in settings.alerts)
        raise click.UsageError(f"no alert target named {only!r} (configured: {names})")
    results = send_test(settings, only=only)
    kinds = {target.name: target.type for target in settings.alerts}
    table = Table(title="test alert")
    for column in ("target", "type", "result"):
        table.add_column(column, overflow="fold")
    for name, error in results.items():
        table.add_row(name, kinds[name], rich_safe("delivered" if error is None else f"FAILED: {error}"))
    Console(highlight=False).print(table)
    failed = [name for name, error in results.items() if error is not None]
    click.echo(f"{len(results) - len(failed)} of {len(results)} target(s) reached")
    if failed:
        raise click.exceptions.Exit(EXIT_UNDELIVERED)


@alerts.command("list")
@click.option("--status", type=click.Choice([PENDING, SENDING, SENT, FAILED]), help="Only this state.")
@click.option("--event", "event_id", help="Only this event.", shell_complete=complete_event_ids)
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_state
def alerts_list(state: CliState, status: str | None, event_id: str | None, limit: int, fmt: str) -> None:
    """The outbox, newest first: each alert and target with its state, attempts and last error."""
    state.require_data_dir()
    if not state.settings.alerts:
        # An empty outbox then says nothing about delivery: nothing would ever be sent. On stderr, so that
        # the JSON on stdout stays a list.
        click.echo("note: no alert targets are configured, so no alert is sent; add [[alerts]] to "
                   "livewatch.toml (docs/alerts.md)", err=True)
    with Session.open(state.settings) as session:
        rows = session.alerts.rows(status=status, event_id=event_id, limit=limit)
    if fmt == "json":
        click.echo(json.dumps([{
            "key": row.key, "target": row.target, "event": row.event_id, "kind": row.kind,
            "severity": row.severity, "category": row.category, "count": row.count, "status": row.status,
            "attempts": row.attempts, "created_at": row.created_at.isoformat(), "due_at": row.due_at.isoformat(),
            "sent_at": row.sent_at.isoformat() if row.sent_at else None, "last_error": row.last_error,
            "payload": row.payload,
        } for row in rows], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(rows)} alert deliveries")
    for column in ("created (UTC)", "target", "event", "severity", "title", "count", "status", "tries", "error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        # Titles come from registrations and errors from receivers: never markup or terminal control for rich.
        table.add_row(row.created_at.strftime("%Y-%m-%d %H:%M:%S"), rich_safe(row.target),
                      rich_safe(row.event_id or "-"), row.severity, rich_safe(str(row.payload.get("title", ""))),
                      str(row.count), row.status, str(row.attempts), rich_safe(row.last_error or ""))
    Console(highlight=False).print(table)
