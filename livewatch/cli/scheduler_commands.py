"""``livewatch scheduler``: the distributed mode's scheduler role (one active, the others standing by)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

import click

from livewatch.cli.invocation import CliState, pass_state
from livewatch.distributed.dispatch import celery_sender
from livewatch.distributed.scheduler import SchedulerRole, require_scheduler_database
from livewatch.distributed.scheduler_metrics import scheduler_registry
from livewatch.logs import LOG_FORMATS, LogFormat, logging_configured
from livewatch.metrics import MetricsServer


@click.command()
@click.option("--schedules", type=click.Path(path_type=Path, exists=True), help="Registration folder.")
@click.option("--reload-interval", type=float, default=5.0, show_default=True,
              help="Seconds between checks of the registration files (and of the scheduler lock) while active.")
@click.option("-v", "--verbose", count=True, help="Debug log output (the default shows info and above).")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
              help="Log lines as text, or as JSON objects (one per line) for journald and log shippers.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on this port (0: any free port). Off by default.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address the metrics server binds to (0.0.0.0 or :: for every interface).")
@pass_state
def scheduler(state: CliState, schedules: Path | None, reload_interval: float, verbose: int, log_format: LogFormat,
              metrics_port: int | None, metrics_host: str) -> None:
    """Distributed mode: arm the registered events and send their captures to the workers (one scheduler is
    active; start another on a second machine as its standby). Needs PostgreSQL and $LIVEWATCH_BROKER_URL."""
    click.get_current_context().with_resource(
        logging_configured(logging.WARNING - 10 * min(verbose + 1, 2), log_format))
    settings = state.settings
    require_scheduler_database(settings)  # before the broker: the first thing to set up
    role = SchedulerRole(settings, [schedules or settings.schedules_dir], celery_sender(settings),
                         reload_interval=reload_interval)

    def stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("livewatch").warning("signal %s: stopping the scheduler", signum)
        role.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    metrics: MetricsServer | None = None
    try:
        role.start()
        if metrics_port is not None:
            registry = scheduler_registry(role, alert_targets=[a.name for a in settings.alerts])
            metrics = MetricsServer(registry, metrics_host, metrics_port).start()
            logging.getLogger("livewatch").info("serving Prometheus metrics at %s", metrics.url,
                                                extra={"metrics_url": metrics.url})
        role.run_forever()
    finally:
        if metrics is not None:
            metrics.stop()
        role.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
