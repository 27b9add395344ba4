"""Extra migration steps for tests: a copy of livewatch's Alembic script directory with more revisions, each
running a Python function of the test, and ``Database`` pointed at it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection

from livewatch.state import database as database_module
from livewatch.state.migrations import SCRIPT_LOCATION, all_migrations

#: The functions the extra revisions run, by revision id (revision files are plain text and look them up).
STEPS: dict[str, Callable[[Connection], None]] = {}

REVISION = '''"""{name}"""
from alembic import op

from tests.support.migrations import STEPS

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    STEPS["{revision}"](op.get_bind())
'''


def extra_migrations(monkeypatch: pytest.MonkeyPatch, folder: Path, *upgrades: Callable[[Connection], None]) -> int:
    """Make databases see the real migrations plus ``upgrades`` (named ``test_step_<n>``); returns the new
    latest version."""
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(SCRIPT_LOCATION, folder, ignore=shutil.ignore_patterns("__pycache__"))
    known = len(all_migrations())
    for n, upgrade in enumerate(upgrades, start=1):
        revision = f"{known + n:04d}"
        STEPS[revision] = upgrade
        text = REVISION.format(name=f"test step {n}", revision=revision, down=f"{known + n - 1:04d}")
        (folder / "versions" / f"v{revision}_test_step_{n}.py").write_text(text)
    monkeypatch.setattr(database_module, "MIGRATIONS", folder)
    return known + len(upgrades)
