"""``livewatch worker``: a distributed-mode worker running the tasks of the queues it is given
(docs/distributed.md)."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import click

from livewatch.cli.invocation import CliState, pass_state
from livewatch.distributed.names import QUEUES
from livewatch.errors import LivewatchError
from livewatch.logs import LOG_FORMATS, LogFormat, logging_configured


def _queue_list(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if not names or unknown:
        raise click.BadParameter(f"{', '.join(unknown) or 'none given'}: the queues are {', '.join(QUEUES)}")
    return list(dict.fromkeys(names))


@click.command()
@click.option("--queues", "-Q", default=",".join(QUEUES), show_default=True, callback=_queue_list,
              help="Comma-separated queues to take tasks from: capture, transcribe, check, screen.")
@click.option("--concurrency", "-c", type=click.IntRange(1, 1000), default=None,
              help="Tasks run at once (threads). Default: [concurrency] captures for the capture queue, plus "
                   "[concurrency] transcriptions for transcribe, plus 1 for check, plus [screen] workers for "
                   "screen.")
@click.option("--hostname", "-n", default=None,
              help="The worker's name on the broker (default livewatch-<pid>@<host>, unique per worker process).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on this port (0: any free port). Off by default.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address the metrics server binds to (0.0.0.0 or :: for every interface).")
@click.option("-v", "--verbose", count=True, help="Debug log output (the default shows info and above).")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
              help="Log lines as text, or as JSON objects (one per line) for journald and log shippers.")
@pass_state
def worker(state: CliState, queues: list[str], concurrency: int | None, hostname: str | None,
           metrics_port: int | None, metrics_host: str, verbose: int, log_format: LogFormat) -> None:
    """Run a distributed-mode worker: record, transcribe and check what the scheduler sends (needs
    $LIVEWATCH_BROKER_URL and the state in PostgreSQL)."""
    from celery import signals

    from livewatch.distributed.app import make_celery
    from livewatch.distributed.tasks import register
    from livewatch.distributed.worker_metrics import worker_registry
    from livewatch.metrics import MetricsServer

    click.get_current_context().with_resource(
        logging_configured(logging.WARNING - 10 * min(verbose + 1, 2), log_format))
    settings = state.settings
    app = make_celery(settings)
    runtime = register(app, settings)
    runtime.open()  # the database reached and migrated before a task is taken: a bad URL fails here, at once
    if concurrency is None:
        slots = {"capture": settings.concurrency.captures, "transcribe": settings.concurrency.transcriptions,
                 "check": 1, "screen": settings.screen.workers}
        concurrency = sum(slots[name] for name in queues)

    def stopping(**_kwargs: Any) -> None:
        logging.getLogger("livewatch").warning("worker stopping: captures hand their events back")
        runtime.shutdown()

    # Sent in the worker's main thread when a SIGTERM or SIGINT begins its warm shutdown; the captures stop
    # their ffmpeg at once instead of recording on to the end of their windows.
    signals.worker_shutting_down.connect(stopping, weak=False)
    # The threads pool: a capture is hours of waiting on ffmpeg and the network, and Whisper's numerical work
    # runs outside Python's lock (as in `livewatch run`), so threads overlap both; they share one database
    # pool and one loaded model per process; and the shutdown above reaches every running capture in this
    # process (a prefork child would be killed or waited for, not asked to hand its event back). A machine
    # that wants more Whisper throughput runs more worker processes on the transcribe queue.
    argv = ["worker", "--pool", "threads", "--concurrency", str(concurrency), "--queues", ",".join(queues),
            "--hostname", hostname or f"livewatch-{os.getpid()}@{socket.gethostname()}", "--loglevel",
            "DEBUG" if verbose else "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"]
    metrics: MetricsServer | None = None
    try:
        if metrics_port is not None:
            registry = worker_registry(runtime.session.engine, runtime.stats, runtime.captures_running, queues,
                                       alert_targets=[a.name for a in settings.alerts])
            metrics = MetricsServer(registry, metrics_host, metrics_port).start()
            logging.getLogger("livewatch").info("serving Prometheus metrics at %s", metrics.url,
                                                extra={"metrics_url": metrics.url})
        app.worker_main(argv)
    except SystemExit as done:
        if done.code not in (0, None):
            raise LivewatchError(f"the Celery worker exited with {done.code}") from None
    finally:
        if metrics is not None:
            metrics.stop()
        signals.worker_shutting_down.disconnect(stopping)
