"""One capture-only monitor for the live events of several test modules.

tests/capture/test_live_capture.py and tests/origins/test_backoff_and_end.py each record a handful of events
from live origins on 127.0.0.1, with windows of 10 to 50 s. Recorded one module after the other, the suite
waited for both longest windows; here their origins start first, then every event is written with one ``t0``
and one real monitor records them side by side (which also shows that one capture's trouble never reaches
another). Each module reads its own part's results through its module fixture.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pytest

from livewatch.state import DataDir
from tests.capture.conftest import capture_only, now, run_monitor_until_idle

#: Seconds the monitor may take to be idle: the longest window (50 s) with room for a loaded machine.
IDLE_TIMEOUT_S = 120


class Part(Protocol):
    """One module's share: start its origins, write its events from ``t0``, then collect its results."""

    def prepare(self, stack: ExitStack, root: Path) -> None: ...

    def go(self, schedules: Path, t0: datetime) -> None: ...

    def finish(self, data: DataDir) -> object: ...


def _parts() -> dict[str, Part]:
    # Imported here, not at the top: the test modules import the support modules, not the other way round.
    from tests.capture.test_live_capture import LiveCapturePart
    from tests.origins.test_backoff_and_end import BackoffAndEndPart

    return {"live-capture": LiveCapturePart(), "backoff-and-end": BackoffAndEndPart()}


@pytest.fixture(scope="session")
def shared_capture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Each part's results by name, once every part's events have been recorded by one capture-only monitor."""
    root = tmp_path_factory.mktemp("shared-capture")
    schedules = root / "schedules"
    schedules.mkdir()
    data = DataDir(root / "data")
    parts = _parts()
    with ExitStack() as stack:
        for name, part in parts.items():
            (root / name).mkdir()
            part.prepare(stack, root / name)
        t0 = now()
        for part in parts.values():
            part.go(schedules, t0)
        try:
            run_monitor_until_idle(capture_only(data.root), schedules, timeout=IDLE_TIMEOUT_S)
        finally:
            results = {name: part.finish(data) for name, part in parts.items()}
    return results
