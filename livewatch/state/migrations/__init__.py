"""Schema migrations, applied in order and recorded in SQLite's ``user_version``.

A migration is a module ``vNNNN_<name>.py`` with an ``upgrade(connection)`` function that issues plain SQL.
It must never import the current table definitions: a migration describes one step in history, and
history does not change when the schema moves on. Add a step by adding a module; never edit a released one.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

_NAME = re.compile(r"^v(\d{4})_([a-z0-9_]+)$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Callable[[Connection], None]


def all_migrations() -> list[Migration]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        match = _NAME.match(info.name)
        if not match:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.append(Migration(int(match.group(1)), match.group(2), module.upgrade))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration versions must run 1, 2, 3... without gaps; found {versions}")
    return found
