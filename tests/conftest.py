from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import postgres_cluster, postgres_template, postgres_url
from tests.support.rabbitmq import rabbitmq_broker, rabbitmq_url
from tests.support.shared_capture import shared_capture

# The PostgreSQL fixtures serve every test folder (state contracts, monitor and fault tests on PostgreSQL);
# the RabbitMQ ones the distributed mode's tests (scheduler, workers); the shared capture-only monitor the
# live-capture and back-off/end modules.
__all__ = ["postgres_cluster", "postgres_template", "postgres_url", "rabbitmq_broker", "rabbitmq_url",
           "shared_capture"]

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
    monkeypatch.delenv("LIVEWATCH_DATABASE_URL", raising=False)



@pytest.fixture(autouse=True)
def _file_privacy_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A `livewatch` command run in-process sets the umask and file modes (private_files): the process-wide
    # setting must not leak into the next test.
    from livewatch.state import files

    monkeypatch.setattr(files, "_private", files._private)
    mask = os.umask(0o022)
    os.umask(mask)
    yield
    os.umask(mask)
