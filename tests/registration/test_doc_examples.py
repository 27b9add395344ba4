"""The examples at the top of docs/registration.md are valid, and the YAML and TOML ones say the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from livewatch.registration import validate_registrations
from livewatch.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "registration.md"


def _first_block(language: str) -> str:
    match = re.search(rf"^```{language}\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    assert match is not None, f"docs/registration.md has no {language} example"
    return match.group(1)


def test_yaml_and_toml_examples_are_valid_and_the_same_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "forum.yaml").write_text(_first_block("yaml"), encoding="utf-8")
    (tmp_path / "forum.toml").write_text(_first_block("toml"), encoding="utf-8")
    events = []
    for name in ("forum.yaml", "forum.toml"):
        result = validate_registrations([Path(name)], Settings())
        assert [issue.render() for issue in result.issues] == []
        [registration] = result.registrations
        events.append(registration.event)
    assert events[0] == events[1]
