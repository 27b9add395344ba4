"""Schema migrations, run by Alembic on SQLite and PostgreSQL alike.

Each step is an Alembic revision in ``versions/`` whose id is its four-digit schema version ("0001",
"0002", ...): the numbers livewatch recorded in SQLite's ``user_version`` before it used Alembic, so a data
directory from an older release is stamped at the version it reached and migrates on from there. A
revision must never import the current table definitions: it describes one step in history, and history
does not change when the schema moves on. Add a step by adding a revision; never edit a released one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

#: The Alembic script directory (this package): ``env.py``, the revision template and ``versions/``.
SCRIPT_LOCATION = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Migration:
    version: int
    name: str


def alembic_config(connection: Connection | None = None, script_location: Path | None = None) -> Config:
    """An Alembic configuration without an ini file; ``env.py`` migrates ``connection`` when given."""
    config = Config()
    config.set_main_option("script_location", str(script_location or SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def all_migrations(script_location: Path | None = None) -> list[Migration]:
    """Every step, oldest first; the versions must run 1, 2, 3... in one line of history."""
    script = ScriptDirectory.from_config(alembic_config(script_location=script_location))
    found = []
    for revision in reversed(list(script.walk_revisions())):
        found.append(Migration(int(revision.revision), _name_of(revision.path)))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration versions must run 1, 2, 3... without gaps; found {versions}")
    return found


def _name_of(path: str) -> str:
    """``v0002_alerts.py`` → ``alerts``."""
    return Path(path).stem.split("_", 1)[-1]
