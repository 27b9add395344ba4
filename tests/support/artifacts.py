"""Where browser tests keep their screenshots for a person to look at: ``test-artifacts/`` at the repository's
root (ignored by git; pytest removes a passing test's own folder, so they cannot live there)."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def artifact(name: str) -> Path:
    """The path for the artefact ``name`` (its folder made)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
