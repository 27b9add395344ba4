"""The state back-ends the contract tests run against: every test taking ``state_backend`` runs once on
SQLite and once on PostgreSQL (a fresh, migrated database each time)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from livewatch.state import Database, DataDir

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(params=BACKENDS)
def state_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated state database on each back-end; ``state_backend.backend`` says which."""
    if request.param == "sqlite":
        database = Database.open(DataDir(tmp_path / "data"))
    else:
        database = Database(request.getfixturevalue("postgres_url"))
    try:
        yield database
    finally:
        database.close()
