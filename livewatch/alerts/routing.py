"""Which targets an alert goes to: each target's own filters, replaced where the event says otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from livewatch.alerts.base import SEVERITY_RANK, Alert
from livewatch.registration.models import EventAlerts
from livewatch.settings import AlertingSettings, AlertTarget


@dataclass(frozen=True)
class Route:
    target: str
    cooldown_s: float


def routes_for(alert: Alert, targets: Sequence[AlertTarget], alerting: AlertingSettings,
               event: EventAlerts | None = None) -> list[Route]:
    """The targets ``alert`` goes to. A test alert goes to every target; an event's ``alerts:`` block picks
    targets and replaces min_severity, categories and cooldown for its own alerts."""
    if alert.kind == "test":
        return [Route(target.name, 0.0) for target in targets]
    event = event or EventAlerts()
    if not event.enabled:
        return []
    cooldown = alerting.cooldown_s if event.cooldown_s is None else event.cooldown_s
    chosen = []
    for target in targets:
        if event.targets is not None and target.name not in event.targets:
            continue
        least = event.min_severity or target.min_severity
        if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[least]:
            continue
        categories = target.categories if event.categories is None else event.categories
        if categories and alert.category not in categories:
            continue
        chosen.append(Route(target.name, cooldown))
    return chosen
