"""The scheduler's capture sender: the deployment's Celery app (:mod:`livewatch.distributed.app`)."""

from __future__ import annotations

from datetime import datetime

from livewatch.distributed.scheduler import CaptureSender
from livewatch.settings import Settings


def celery_sender(settings: Settings, *, broker: str | None = None) -> CaptureSender:
    """Sends capture tasks through the broker of ``$LIVEWATCH_BROKER_URL`` (or ``broker``); a send the broker
    did not confirm raises, and the scheduler tries it again."""
    from livewatch.distributed.app import make_celery, send_capture  # Celery loads only for this role

    app = make_celery(settings, broker=broker)

    def send(event_id: str, window_start: datetime) -> None:
        send_capture(app, event_id, window_start)

    return send
