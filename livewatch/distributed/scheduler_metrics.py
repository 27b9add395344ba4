"""Prometheus metrics of ``livewatch scheduler --metrics-port``: the state database's (as ``livewatch run``
exports them) and the role's own: whether this process is the active scheduler, since when, how many jobs it
has armed and how many capture tasks it has sent (``docs/distributed.md``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from livewatch.metrics import metrics_registry
from livewatch.state.dispatches import DispatchLog


class ScheduledRole(Protocol):
    """What the collector reads of :class:`livewatch.distributed.scheduler.SchedulerRole`."""

    takeovers: int
    sent: int
    dispatches: DispatchLog

    @property
    def active(self) -> bool: ...

    def active_since_timestamp(self) -> float | None: ...

    def armed_jobs(self) -> int: ...


class SchedulerCollector:
    def __init__(self, role: ScheduledRole) -> None:
        self.role = role

    def collect(self) -> Iterator[Metric]:
        role = self.role
        yield GaugeMetricFamily("livewatch_scheduler_active",
                                "1 while this process is the active scheduler, 0 while it stands by.",
                                value=1 if role.active else 0)
        since = role.active_since_timestamp()
        if since is not None:
            yield GaugeMetricFamily("livewatch_scheduler_active_since_seconds",
                                    "When this process became the active scheduler (Unix time).", value=since)
        yield GaugeMetricFamily("livewatch_scheduler_armed_jobs",
                                "Capture jobs armed in the job store (0 on a standby, which does not read it).",
                                value=role.armed_jobs())
        yield CounterMetricFamily("livewatch_scheduler_takeovers",
                                  "Times this process became the active scheduler.", value=role.takeovers)
        yield CounterMetricFamily("livewatch_scheduler_captures_sent",
                                  "Capture tasks this process sent to the workers.", value=role.sent)


def scheduler_registry(role: ScheduledRole, *, alert_targets: Sequence[str] = ()) -> CollectorRegistry:
    registry = metrics_registry(role.dispatches.engine, alert_targets=alert_targets)
    registry.register(SchedulerCollector(role))
    return registry
