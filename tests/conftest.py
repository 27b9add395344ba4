from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCHEDULES = REPO / "schedules"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own configuration must never leak into a test.
    monkeypatch.delenv("LIVEWATCH_CONFIG", raising=False)
    monkeypatch.delenv("LIVEWATCH_DATA", raising=False)
