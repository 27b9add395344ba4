"""The log: every alert as one log record (with the payload attached for JSON logs)."""

from __future__ import annotations

import logging
from typing import ClassVar

from livewatch.alerts.base import Channel, Delivery
from livewatch.settings import AlertTarget

log = logging.getLogger("livewatch.alerts")
LEVELS = {"critical": logging.CRITICAL, "high": logging.ERROR, "medium": logging.WARNING}


class LogChannel(Channel[AlertTarget]):
    type: ClassVar[str] = "log"

    def send(self, delivery: Delivery) -> None:
        payload = delivery.payload
        event = payload.get("event") or {}
        count = payload.get("count", 1)
        log.log(LEVELS.get(str(payload["severity"]), logging.INFO), "ALERT %s %s%s: %s%s [%s]",
                payload["severity"], f"{event.get('id')} " if event else "", payload["title"], payload["summary"],
                f" (×{count})" if count and count > 1 else "", delivery.key,
                extra={"alert": dict(payload), "target": delivery.target})
