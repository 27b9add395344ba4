"""Plugins through entry points: capture sources, rule types and alert channels are all found this way,
the built-ins included (they are registered in pyproject.toml like any third-party package's)."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)


def installed(group: str, base: type[object]) -> dict[str, Any]:
    """Every class registered under ``group`` that is a subclass of ``base``, by entry-point name. A plugin
    that fails to load, or names something else, is logged and left out: it must not take the monitor down."""
    # type[object], not a type variable: the bases are abstract classes, which mypy will not bind to one.
    found: dict[str, Any] = {}
    for entry in entry_points(group=group):
        try:
            loaded = entry.load()
        except Exception:
            log.exception("cannot load %s plugin %s", group, entry.name)
            continue
        if isinstance(loaded, type) and issubclass(loaded, base):
            found[entry.name] = loaded
        else:
            log.error("entry point %s in %s does not name a %s class", entry.name, group, base.__name__)
    return found
