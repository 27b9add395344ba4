"""The documentation tells the truth: every setting is in the README, the example configuration loads,
and the README's quickstart is the two commands CI runs."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from livewatch.alerts.channels.email import EmailTarget
from livewatch.alerts.channels.webhook import WebhookTarget
from livewatch.fields import CaptureSettings, Tolerances
from livewatch.settings import (
    AlertTarget,
    ConcurrencySettings,
    ReviewerAccount,
    ReviewSettings,
    ScreenSettings,
    Settings,
    TranscriberSettings,
    load_settings,
)
from tests.conftest import REPO
from transcribers.base import WhisperOptions

README = (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "model",
    [Settings, ConcurrencySettings, TranscriberSettings, Tolerances, CaptureSettings, ScreenSettings, AlertTarget,
     WebhookTarget, EmailTarget, WhisperOptions, ReviewSettings, ReviewerAccount],
    ids=lambda m: m.__name__,
)
def test_readme_documents_every_setting(model: type[BaseModel]) -> None:
    section = README.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`\[{0,2}([a-z_]+)\]{0,2}`", section))
    missing = set(model.model_fields) - documented
    assert not missing, f"README's configuration reference lacks {sorted(missing)}"


def test_example_configuration_loads_and_sets_every_section() -> None:
    settings = load_settings(REPO / "docs" / "livewatch.example.toml")
    assert settings.timezone == "Asia/Shanghai"
    assert settings.data_dir == REPO / "docs" / "data"
    assert [alert.type for alert in settings.alerts] == ["webhook", "email", "log"]
    assert settings.alerting.cooldown_s == 300
    assert settings.transcriber.backend == "faster-whisper"
    assert settings.concurrency.captures == 10


def test_quickstart_is_exactly_two_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quickstart, flags=re.DOTALL)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
