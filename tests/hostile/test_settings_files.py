"""The global configuration is read as strictly as a registration: a value Python itself refuses to convert
(an integer of thousands of digits) is an error naming the file, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from livewatch.cli import cli

HUGE = "9" * 5000


@pytest.mark.parametrize(("name", "text"), [
    ("livewatch.toml", f'timezone = "UTC"\n[capture]\nrw_timeout_s = {HUGE}\n'),
    ("livewatch.yaml", f"timezone: UTC\ncapture:\n  rw_timeout_s: {HUGE}\n"),
])
def test_huge_integer_in_the_configuration_is_an_error(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(path), "status"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{path}" in result.output
    assert "too long to read" in result.output
