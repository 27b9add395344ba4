"""Prometheus metrics of ``livewatch worker --metrics-port``: the state database's (as ``livewatch run`` and
``livewatch scheduler`` export them: queue depths, lanes' backlogs, events) and this worker process's own:
tasks done, failed and handed back per queue, transcription lanes held, captures running and seconds of audio
transcribed (``docs/distributed.md``). The database's numbers are the deployment's, the same on every role;
the worker's are counted in memory, from the process's start (Prometheus' ``rate()`` copes with the reset a
restart brings).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import Engine

from livewatch.distributed.names import QUEUES
from livewatch.metrics import metrics_registry

#: How a task ended: returned, raised (failed; Celery logs it), given back to its queue unacknowledged (a
#: capture whose worker is stopping, or one it could not close), or sent again later because the database
#: was unreachable (transcribe and check: ``livewatch.distributed.tasks.DATABASE_RETRY``).
TASK_DONE: Final = "done"
TASK_FAILED: Final = "failed"
TASK_HANDED_BACK: Final = "handed_back"
TASK_RETRIED: Final = "retried"
OUTCOMES: Final = (TASK_DONE, TASK_FAILED, TASK_HANDED_BACK, TASK_RETRIED)


class WorkerStats:
    """This process's counts, thread-safe (the worker runs its tasks in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[tuple[str, str], int] = defaultdict(int)
        self._lanes = 0
        self._audio_s = 0.0

    def task_ended(self, queue: str, outcome: str) -> None:
        with self._lock:
            self._tasks[(queue, outcome)] += 1

    def lane_taken(self) -> None:
        with self._lock:
            self._lanes += 1

    def lane_left(self) -> None:
        with self._lock:
            self._lanes -= 1

    def audio_transcribed(self, seconds: float) -> None:
        with self._lock:
            self._audio_s += seconds

    def tasks(self) -> dict[tuple[str, str], int]:
        """Tasks ended per (queue, outcome), every pair present (0 when none): alert rules never meet a
        missing series."""
        with self._lock:
            counts = dict(self._tasks)
        return {(queue, outcome): counts.get((queue, outcome), 0) for queue in QUEUES for outcome in OUTCOMES}

    @property
    def lanes_held(self) -> int:
        with self._lock:
            return self._lanes

    @property
    def audio_transcribed_s(self) -> float:
        with self._lock:
            return self._audio_s


class WorkerCollector:
    def __init__(self, stats: WorkerStats, captures_running: Callable[[], int], queues: Sequence[str]) -> None:
        self.stats, self.captures_running, self.queues = stats, captures_running, tuple(queues)

    def collect(self) -> Iterator[Metric]:
        stats = self.stats
        tasks = CounterMetricFamily("livewatch_worker_tasks", "Tasks this worker process ended, by queue and "
                                    "outcome (done, failed, handed_back: given back to the queue unacknowledged, "
                                    "retried: sent again later, the database being unreachable).",
                                    labels=["queue", "outcome"])
        for (queue, outcome), count in stats.tasks().items():
            tasks.add_metric([queue, outcome], count)
        yield tasks
        consumes = GaugeMetricFamily("livewatch_worker_consumes", "1 for each queue this worker takes tasks from.",
                                     labels=["queue"])
        for queue in QUEUES:
            consumes.add_metric([queue], 1 if queue in self.queues else 0)
        yield consumes
        yield GaugeMetricFamily("livewatch_worker_lanes_held",
                                "Transcription lanes (streams) this worker process is transcribing now.",
                                value=stats.lanes_held)
        yield GaugeMetricFamily("livewatch_worker_captures_running",
                                "Captures this worker process is recording now.", value=self.captures_running())
        yield CounterMetricFamily("livewatch_worker_transcribed_audio_seconds",
                                  "Seconds of audio this worker process has transcribed.",
                                  value=stats.audio_transcribed_s)


def worker_registry(engine: Engine, stats: WorkerStats, captures_running: Callable[[], int], queues: Sequence[str],
                    *, alert_targets: Sequence[str] = ()) -> CollectorRegistry:
    """The state database's metrics, the process's, and this worker's own."""
    registry = metrics_registry(engine, alert_targets=alert_targets)
    registry.register(WorkerCollector(stats, captures_running, queues))
    return registry
