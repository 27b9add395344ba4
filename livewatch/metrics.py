"""Prometheus metrics for ``livewatch run --metrics-port``, read from the state database at scrape time.

Nothing is counted in memory: each scrape runs a handful of aggregate queries in one read transaction (a
consistent snapshot under WAL, never blocking the recorder). So the numbers survive restarts, include what
other processes wrote (``livewatch analyze``, an earlier monitor) and need no module-level state. Every
metric is documented in ``docs/operations.md``.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any, get_args
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector, make_wsgi_app
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from livewatch import __version__
from livewatch.errors import StateError
from livewatch.fields import SeverityName
from livewatch.monitor.status import LAG_SEGMENTS
from livewatch.pipeline.run_status import ACTIVE, FINAL, RECORDING
from livewatch.queue import CLAIMED, PENDING, TRANSCRIBE
from livewatch.reports.reviews import Decision
from livewatch.state.gauges import StateGauges, read_gauges

log = logging.getLogger(__name__)

#: Event states, always exported (0 when none) so that alert rules never meet a missing series.
#: ``scheduled``: registered, no run yet; ``not recorded``: its window passed without a run.
EVENT_STATES = ("scheduled", *ACTIVE, "lagging", *FINAL, "not recorded")
#: The outbox's row states (livewatch/alerts/outbox.py): pending → sending → sent, or failed (given up).
ALERT_STATUSES = ("pending", "sending", "sent", "failed")
QUEUE_STATUSES = (PENDING, CLAIMED, "done", "failed")
FINDING_STATUSES = ("open", *get_args(Decision))
SEVERITIES: tuple[str, ...] = get_args(SeverityName)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class StateCollector:
    """A custom collector: every ``collect()`` (one per scrape) reads the state database afresh."""

    def __init__(self, engine: Engine, *, alert_targets: Sequence[str] = (),
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self.engine = engine
        #: Configured alert target names, exported with zeros before their first alert.
        self.alert_targets = tuple(alert_targets)
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            gauges = read_gauges(self.engine, transcribe_queue=TRANSCRIBE, waiting=(PENDING, CLAIMED))
            families = list(self._families(gauges, self.clock()))
            up = 1
        except SQLAlchemyError:
            # A scrape must not fail with a 500 (Prometheus would lose livewatch_up too): report it instead.
            log.exception("metrics: cannot read the state database")
            families, up = [], 0
        yield from families
        yield GaugeMetricFamily("livewatch_up", "1 when this scrape could read the state database, else 0.",
                                value=up)
        yield InfoMetricFamily("livewatch_build", "The running livewatch and Python versions.", value={
            "version": __version__, "python": ".".join(map(str, sys.version_info[:3]))})
        yield GaugeMetricFamily("livewatch_scrape_duration_seconds",
                                "Seconds this scrape spent reading the state database.",
                                value=time.perf_counter() - started)

    def _families(self, gauges: StateGauges, now: datetime) -> Iterable[Metric]:
        version = GaugeMetricFamily("livewatch_database_schema_version", "Schema version of the state database.")
        version.add_metric([], gauges.schema_version)
        yield version
        yield self._events(gauges, now)
        yield from self._segments(gauges)
        yield from self._queues(gauges, now)
        yield self._transcription_lag(gauges)
        yield self._findings(gauges)
        yield from self._alerts(gauges)

    # -- events and capture ---------------------------------------------------------------------------------

    @staticmethod
    def _events(gauges: StateGauges, now: datetime) -> Metric:
        per_run: dict[int, int] = defaultdict(int)
        for (run_id, _stream), count in gauges.backlog.items():
            per_run[run_id] += count
        counts = dict.fromkeys(EVENT_STATES, 0)
        for window in gauges.events:
            if window.run_id is None:
                state = "scheduled" if now < window.registered_end else "not recorded"
            elif window.status == RECORDING and per_run[window.run_id] > LAG_SEGMENTS:
                state = "lagging"  # the same rule as `livewatch status`
            else:
                state = str(window.status)
            counts[state] = counts.get(state, 0) + 1
        family = GaugeMetricFamily("livewatch_events", "Registered events by state (latest run of each event).",
                                   labels=["state"])
        for state, count in counts.items():
            family.add_metric([state], count)
        return family

    @staticmethod
    def _segments(gauges: StateGauges) -> Iterable[Metric]:
        segments = CounterMetricFamily("livewatch_segments", "Closed segments recorded, by kind (media: MPEG-TS, "
                                       "audio: WAV for Whisper) and status (ok, partial, corrupt).",
                                       labels=["kind", "status"])
        captured = CounterMetricFamily("livewatch_captured_bytes", "Bytes of closed segments recorded, by kind.",
                                       labels=["kind"])
        size: dict[str, int] = defaultdict(int)
        for kind, status, count, total in gauges.segments:
            segments.add_metric([kind, status], count)
            size[kind] += total
        for kind, total in size.items():
            captured.add_metric([kind], total)
        yield segments
        yield captured

    # -- transcription --------------------------------------------------------------------------------------

    @staticmethod
    def _queues(gauges: StateGauges, now: datetime) -> Iterable[Metric]:
        items = GaugeMetricFamily("livewatch_queue_items", "Work-queue items by queue and status.",
                                  labels=["queue", "status"])
        counts: dict[tuple[str, str], int] = {(TRANSCRIBE, status): 0 for status in QUEUE_STATUSES}
        for queue, status, count in gauges.queue_items:
            counts[(queue, status)] = count
        for (queue, status), count in sorted(counts.items()):
            items.add_metric([queue, status], count)
        yield items
        oldest = GaugeMetricFamily("livewatch_queue_oldest_seconds",
                                   "Age of the oldest item not yet done (pending or claimed); 0 when none.",
                                   labels=["queue"])
        ages = {queue: 0.0 for queue, _ in counts}
        for queue, enqueued in gauges.queue_oldest.items():
            ages[queue] = max(0.0, (now - enqueued).total_seconds())
        for queue, age in sorted(ages.items()):
            oldest.add_metric([queue], age)
        yield oldest

    @staticmethod
    def _transcription_lag(gauges: StateGauges) -> Metric:
        """Per event being transcribed: the newest audio recorded minus the time its transcript is committed
        up to (the worst of its streams). A stream counts while it has queued audio or an unflushed tail."""
        open_streams = set(gauges.backlog) | gauges.unflushed
        family = GaugeMetricFamily("livewatch_transcription_lag_seconds",
                                   "Seconds of recorded audio not yet transcribed, per event being transcribed.",
                                   labels=["event"])
        lag: dict[str, float] = {}
        for audio in gauges.audio:
            if (audio.run_id, audio.stream) not in open_streams:
                continue
            # Nothing committed yet: everything since the stream's first audio is behind.
            since = gauges.committed.get((audio.run_id, audio.stream), audio.first_start)
            lag[audio.event_id] = max(lag.get(audio.event_id, 0.0), (audio.last_end - since).total_seconds(), 0.0)
        for event_id, seconds in sorted(lag.items()):
            family.add_metric([event_id], seconds)
        return family

    # -- findings and alerts --------------------------------------------------------------------------------

    @staticmethod
    def _findings(gauges: StateGauges) -> Metric:
        counts = {(severity, status): 0 for severity in SEVERITIES for status in FINDING_STATUSES}
        for severity, status, count in gauges.findings:
            counts[(severity, status)] = count
        family = GaugeMetricFamily("livewatch_findings", "Findings by severity and reviewers' status.",
                                   labels=["severity", "status"])
        for (severity, status), count in counts.items():
            family.add_metric([severity, status], count)
        return family

    def _alerts(self, gauges: StateGauges) -> Iterable[Metric]:
        counts = {(target, status): 0 for target in self.alert_targets for status in ALERT_STATUSES}
        attempts: dict[str, int] = dict.fromkeys(self.alert_targets, 0)
        for target, status, count, tries in gauges.alerts:
            for known in ALERT_STATUSES:
                counts.setdefault((target, known), 0)
            counts[(target, status)] = count
            attempts[target] = attempts.get(target, 0) + tries
        alerts = GaugeMetricFamily("livewatch_alerts", "Alert deliveries by target and status (pending, sending, "
                                   "sent, failed: refused or given up after retries).", labels=["target", "status"])
        for (target, status), count in sorted(counts.items()):
            alerts.add_metric([target, status], count)
        yield alerts
        tried = CounterMetricFamily("livewatch_alert_attempts", "Delivery attempts made, by target.",
                                    labels=["target"])
        for target, count in sorted(attempts.items()):
            tried.add_metric([target], count)
        yield tried


def metrics_registry(engine: Engine, *, alert_targets: Sequence[str] = (),
                     clock: Callable[[], datetime] = _utc_now) -> CollectorRegistry:
    """A registry of its own (never prometheus_client's global one) with livewatch's and the process's metrics."""
    registry = CollectorRegistry()
    registry.register(StateCollector(engine, alert_targets=alert_targets, clock=clock))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # wsgiref writes every request to stderr; a scrape every 15 s belongs in debug output at most.
        message = format % args
        log.debug("metrics: %s", message)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A slow scrape must not hold up the next one; daemon threads never keep the process alive at exit.
    daemon_threads = True


class _ThreadingServerV6(_ThreadingServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """Serves ``/metrics`` over HTTP from a daemon thread until :meth:`stop`. ``port=0`` picks a free port;
    :attr:`port` then tells which."""

    def __init__(self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        self.registry, self.host, self.requested_port = registry, host, port
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def start(self) -> MetricsServer:
        try:
            infos = socket.getaddrinfo(self.host, self.requested_port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
            server_class = _ThreadingServerV6 if infos[0][0] == socket.AF_INET6 else _ThreadingServer
            self._server = make_server(self.host, self.requested_port, make_wsgi_app(self.registry),
                                       server_class=server_class, handler_class=_QuietHandler)
        except OSError as err:
            raise StateError(f"cannot serve metrics on {self.host}:{self.requested_port}: "
                             f"{err.strerror or err}") from err
        self._port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="metrics-server", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        """The port bound (the chosen one when started with port 0); still known after :meth:`stop`."""
        if self._port is None:
            raise RuntimeError("the metrics server was never started")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice or before :meth:`start`."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
