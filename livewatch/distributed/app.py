"""The Celery application of a deployment: its broker, delivery semantics and routes, and the helpers that send
the four tasks (``names.py``). The scheduler and the workers build it the same way; only workers register the
task bodies (:mod:`livewatch.distributed.tasks`).

Delivery is at least once: a task is acknowledged when it returns (``task_acks_late``), and one whose worker is
lost (killed, its connection cut) goes back to its queue (``task_reject_on_worker_lost``) for the next worker. A
worker reserves one message per free slot (``worker_prefetch_multiplier = 1``), so an hours-long capture never
sits in one worker's buffer while another is idle. Nothing is returned through Celery (no result backend): the
state database holds every result.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Final

from celery import Celery
from kombu.entity import Queue

from livewatch.distributed.names import (
    CAPTURE_QUEUE,
    CAPTURE_TASK,
    CHECK_QUEUE,
    CHECK_TASK,
    QUEUES,
    SCREEN_QUEUE,
    SCREEN_TASK,
    TRANSCRIBE_QUEUE,
    TRANSCRIBE_TASK,
)
from livewatch.errors import ConfigError, StateError
from livewatch.settings import BROKER_URL_ENV, DATABASE_URL_ENV, Settings
from livewatch.state.engines import POSTGRESQL, backend_of, mask_url, parse_url

APP_NAME: Final = "livewatch"
#: Seconds to open a broker connection; a publish retries a few times within a few seconds, then fails loudly
#: (an armed capture that cannot be sent is the scheduler's to retry, not a hang).
CONNECT_TIMEOUT_S: Final = 10.0
PUBLISH_RETRY: Final = {"max_retries": 3, "interval_start": 0.0, "interval_step": 1.0, "interval_max": 3.0}
#: AMQP heartbeats: a worker whose machine vanished (no TCP reset) is noticed by the broker within about
#: two of these, and its unacknowledged capture goes to another worker.
HEARTBEAT_S: Final = 30
ROUTES: Final = {CAPTURE_TASK: {"queue": CAPTURE_QUEUE}, TRANSCRIBE_TASK: {"queue": TRANSCRIBE_QUEUE},
                 CHECK_TASK: {"queue": CHECK_QUEUE}, SCREEN_TASK: {"queue": SCREEN_QUEUE}}


def broker_url() -> str:
    """The broker's URL, from ``$LIVEWATCH_BROKER_URL`` only (it holds the broker's password)."""
    url = os.environ.get(BROKER_URL_ENV, "").strip()
    if not url:
        raise ConfigError(f"distributed mode needs the broker's URL in ${BROKER_URL_ENV} "
                          "(amqp://user:password@host:5672/vhost); it is not set")
    if not url.startswith(("amqp://", "amqps://", "pyamqp://")):
        raise ConfigError(f"${BROKER_URL_ENV} must be an AMQP URL (amqp://… or amqps://…), not "
                          f"{mask_url(url) if '://' in url else 'what it holds now'}")
    return url


def require_postgresql(settings: Settings) -> str:
    """The state database's URL; a :class:`ConfigError` unless it is PostgreSQL: every worker and scheduler,
    on any machine, must read and write the same state (a SQLite file is one machine's)."""
    url = settings.database_url
    if url is None:
        raise ConfigError(f"distributed mode keeps its state in PostgreSQL: set database_url in the configuration "
                          f"or ${DATABASE_URL_ENV} (the SQLite file in the data directory is one machine's)")
    try:
        parsed = parse_url(url)
    except StateError as err:
        raise ConfigError(str(err)) from None
    if backend_of(parsed) != POSTGRESQL:
        raise ConfigError(f"distributed mode keeps its state in PostgreSQL, not {backend_of(parsed)} "
                          f"({mask_url(parsed)}): set database_url or ${DATABASE_URL_ENV} to postgresql+psycopg://…")
    return url


def make_celery(settings: Settings, *, broker: str | None = None) -> Celery:
    """The deployment's Celery app (tasks not registered: see :func:`livewatch.distributed.tasks.register`).
    ``broker`` overrides ``$LIVEWATCH_BROKER_URL`` (tests)."""
    require_postgresql(settings)
    app = Celery(APP_NAME, broker=broker or broker_url(), set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_routes=ROUTES,
        task_queues=[Queue(name, routing_key=name, durable=True)  # type: ignore[no-untyped-call]
                     for name in QUEUES],
        task_default_queue=CHECK_QUEUE,
        task_default_exchange=APP_NAME,  # one direct exchange, routing key = queue name
        task_default_exchange_type="direct",
        task_default_routing_key=CHECK_QUEUE,
        task_create_missing_queues=False,
        task_publish_retry=True,
        task_publish_retry_policy=PUBLISH_RETRY,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=CONNECT_TIMEOUT_S,
        broker_connection_max_retries=None,  # a worker waits out a broker restart instead of exiting
        broker_heartbeat=HEARTBEAT_S,
        broker_transport_options={"confirm_publish": True},  # a sent capture is on the broker, or an error
        # The CLI sets livewatch's own logging up (stderr, text or JSON); Celery must not replace it.
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_enable_remote_control=False,
        timezone="UTC",
        enable_utc=True,
    )
    return app


def _send(app: Celery, task: str, args: list[Any], *, retry: bool = True) -> None:
    queue = ROUTES[task]["queue"]
    app.send_task(task, args=args, queue=queue, routing_key=queue, retry=retry)


def send_capture(app: Celery, event_id: str, window_start: datetime) -> None:
    """Ask a worker to record ``event_id``'s window that starts at ``window_start`` (aware)."""
    if window_start.tzinfo is None:
        raise ValueError("window_start must be an aware datetime")
    _send(app, CAPTURE_TASK, [event_id, window_start.isoformat()])


def send_transcribe(app: Celery, run_id: int, stream: int, *, retry: bool = True) -> None:
    """Wake the transcribe queue for one stream of a run (the database's work queue says what is pending).
    ``retry`` False: one attempt (a capture's wake-up must not hold its segment writer up while the broker
    is away; the next wake-up of the stream covers a lost one)."""
    _send(app, TRANSCRIBE_TASK, [run_id, stream], retry=retry)


def send_screen(app: Celery, run_id: int, stream: int, *, retry: bool = True) -> None:
    """Wake the screen queue for one stream of a run (the database's work queue says which frames are
    pending); ``retry`` as for :func:`send_transcribe`."""
    _send(app, SCREEN_TASK, [run_id, stream], retry=retry)


def send_check(app: Celery, event_id: str, final: bool) -> None:
    """Check ``event_id`` (``final``: its capture and transcription are over), write its report, send alerts."""
    _send(app, CHECK_TASK, [event_id, final])
