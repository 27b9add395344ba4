"""``livewatch run`` and ``livewatch status``: the monitor and what it is doing."""

from __future__ import annotations

import json
import logging
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import click
from rich.console import Console
from rich.table import Table

from livewatch.cli_state import CliState, pass_state
from livewatch.monitor import Monitor
from livewatch.monitor.status import event_statuses


@click.command()
@click.option("--schedules", type=click.Path(path_type=Path, exists=True), help="Registration folder.")
@click.option("--until-idle", is_flag=True,
              help="One-shot: handle events open now or opening within --horizon, exit when they are done.")
@click.option("--horizon", type=float, default=60.0, show_default=True, help="Minutes ahead for --until-idle.")
@click.option("--reload-interval", type=float, default=5.0, show_default=True,
              help="Seconds between checks of the registration files for changes.")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), help="Data directory.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@pass_state
def run(state: CliState, schedules: Path | None, until_idle: bool, horizon: float, reload_interval: float,
        data: Path | None, verbose: int) -> None:
    """Run the monitor: arm, wait for live, record every registered event's streams."""
    if data is not None:
        state.data = data
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose + 1, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = state.settings
    monitor = Monitor(settings, [schedules or settings.schedules_dir], reload_interval=reload_interval,
                      horizon=timedelta(minutes=horizon) if until_idle else None)

    def stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("livewatch").warning("signal %s: stopping the monitor", signum)
        monitor.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        monitor.start()
        if until_idle:
            monitor.run_until_idle()
        else:
            monitor.run_forever()
    finally:
        monitor.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), help="Data directory.")
@pass_state
def status(state: CliState, fmt: str, data: Path | None) -> None:
    """What is armed, waiting, recording, reconnecting, lagging, finished or failed."""
    if data is not None:
        state.data = data
    rows = event_statuses(state.settings, datetime.now(UTC))
    if fmt == "json":
        click.echo(json.dumps([row.as_dict() for row in rows], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(rows)} event(s)")
    for column in ("event", "state", "window (UTC)", "on air", "segments", "gaps", "backlog", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.event_id, row.state, row.window, row.on_air, str(row.segments), str(row.gaps),
                      str(row.backlog), row.detail)
    Console(highlight=False).print(table)
