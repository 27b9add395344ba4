"""Shared pieces for the alert tests: a database, settings with targets, alerts to raise."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from livewatch.alerts.base import Alert
from livewatch.settings import Settings
from livewatch.state import Database, DataDir
from tests.support.webhook import WebhookReceiver

SECRET = "s3cret-電視"
ENV = {"LIVEWATCH_WEBHOOK_SECRET": SECRET}
T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver(SECRET.encode("utf-8"))
    yield hook
    hook.stop()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    with Database.open(DataDir(tmp_path / "data")) as db:
        yield db


def webhook_settings(tmp_path: Path, url: str, **target: Any) -> Settings:
    hook = {"name": "hook", "type": "webhook", "url": url, "min_severity": "medium", "retry_base_s": 0.2,
            "retry_max_s": 1, "timeout_s": 3, **target}
    return Settings(data_dir=tmp_path / "data", alerts=[hook])


def alert(key: str = "finding|a1", *, rule: str = "P01.guaranteed-return", severity: str = "high",
          category: str = "finance-promise", at: datetime = T0, event_id: str = "forum-2026",
          **extra: Any) -> Alert:
    return Alert(key=key, kind="finding", severity=severity, category=category,  # type: ignore[arg-type]
                 title="Guaranteed return", summary="“稳赚不赔” at 01:05 on air", at=at, event_id=event_id,
                 event_title="年度论坛 <script>", rule=rule, matched="稳赚不赔", evidence="这个产品稳赚不赔，大家放心",
                 offset_s=65.0, finding_id=key.split("|")[-1], **extra)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
