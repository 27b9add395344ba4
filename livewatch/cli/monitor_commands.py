"""``livewatch run`` and ``livewatch status``: the monitor and what it is doing."""

from __future__ import annotations

import json
import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import click
from rich.console import Console
from rich.table import Table

from livewatch.cli.invocation import CliState, pass_state
from livewatch.logs import LOG_FORMATS, LogFormat, logging_configured
from livewatch.metrics import MetricsServer, metrics_registry
from livewatch.monitor import Monitor
from livewatch.monitor.status import event_statuses, scheduler_status
from livewatch.terminal import rich_safe

#: Set once `run` has shut its monitor down; :func:`livewatch.cli.main` then ends the process at once.
MONITOR_STOPPED = threading.Event()


@click.command()
@click.option("--schedules", type=click.Path(path_type=Path, exists=True), help="Registration folder.")
@click.option("--until-idle", is_flag=True,
              help="One-shot: handle events open now or opening within --horizon, exit when they are done.")
@click.option("--horizon", type=float, default=60.0, show_default=True, help="Minutes ahead for --until-idle.")
@click.option("--reload-interval", type=float, default=5.0, show_default=True,
              help="Seconds between checks of the registration files for changes.")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), help="Data directory.")
@click.option("-v", "--verbose", count=True, help="Debug log output (the default shows info and above).")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
              help="Log lines as text, or as JSON objects (one per line) for journald and log shippers.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on this port (0: any free port). Off by default.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address the metrics server binds to (0.0.0.0 or :: for every interface).")
@pass_state
def run(state: CliState, schedules: Path | None, until_idle: bool, horizon: float, reload_interval: float,
        data: Path | None, verbose: int, log_format: LogFormat, metrics_port: int | None, metrics_host: str) -> None:
    """Run the monitor: arm, wait for live, record every registered event's streams."""
    if data is not None:
        state.data = data
    # Undone when the command's context closes, after the monitor's last words in the `finally` below.
    click.get_current_context().with_resource(
        logging_configured(logging.WARNING - 10 * min(verbose + 1, 2), log_format))
    settings = state.settings
    monitor = Monitor(settings, [schedules or settings.schedules_dir], reload_interval=reload_interval,
                      horizon=timedelta(minutes=horizon) if until_idle else None)

    def stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("livewatch").warning("signal %s: stopping the monitor", signum)
        monitor.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    metrics: MetricsServer | None = None
    try:
        monitor.start()
        if metrics_port is not None:
            # Started after the monitor so that the database is open and migrated before the first scrape.
            registry = metrics_registry(monitor.db.engine, alert_targets=[a.name for a in settings.alerts])
            metrics = MetricsServer(registry, metrics_host, metrics_port).start()
            logging.getLogger("livewatch").info("serving Prometheus metrics at %s", metrics.url,
                                                extra={"metrics_url": metrics.url})
        if until_idle:
            monitor.run_until_idle()
        else:
            monitor.run_forever()
    finally:
        if metrics is not None:
            metrics.stop()  # before the database is closed, so no scrape meets a disposed engine
        monitor.shutdown()
        MONITOR_STOPPED.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_state
def status(state: CliState, fmt: str) -> None:
    """What is armed, waiting, recording, reconnecting, lagging, finished or failed."""
    state.require_data_dir()
    rows = event_statuses(state.settings, datetime.now(UTC))
    if fmt == "json":
        click.echo(json.dumps([row.as_dict() for row in rows], ensure_ascii=False, indent=2))
        return
    active = scheduler_status(state.settings)
    caption = None if active is None else f"scheduler: {rich_safe(active.describe())}"
    table = Table(title=f"{len(rows)} event(s)", caption=caption)
    for column in ("event", "state", "window (UTC)", "on air", "segments", "gaps", "backlog", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        # The detail quotes the origin's own words: never markup or terminal control for rich.
        table.add_row(*(rich_safe(cell) for cell in (row.event_id, row.state, row.window, row.on_air,
                        str(row.segments), str(row.gaps), str(row.backlog), row.detail)))
    Console(highlight=False).print(table)
