"""Plugins through entry points: one :class:`Registry` per kind (capture sources, transcription backends, rule
types, alert channels, queue and store back-ends), the built-ins included: they are registered in
pyproject.toml like any third-party package's, so a plugin installed beside livewatch is used the same way.

A plugin is loaded when it is first asked for, so a machine without one backend's libraries can still use the
others, and a plugin that fails to import is reported as that, never as an unknown name.
"""

from __future__ import annotations

import logging
import sys
import threading
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar, cast

from livewatch.errors import ConfigError
from livewatch.fields import did_you_mean

log = logging.getLogger(__name__)

T = TypeVar("T")


class PluginError(ConfigError):
    """A configured plugin is not installed, cannot be imported, or is not the kind of class it should be."""


class Registry(Generic[T]):
    """The plugins of one kind, by name, from the entry-point group ``group``. ``kind`` is the word messages
    use ("alert channel"); ``base`` the class every plugin of the kind must subclass."""

    # base is type[Any], not type[T]: the bases are abstract classes, which mypy will not bind to a type variable.
    def __init__(self, group: str, base: type[Any], kind: str) -> None:
        self.group, self.base, self.kind = group, base, kind
        self._registered: dict[str, type[T]] = {}
        self._lock = threading.Lock()
        self._scanned: tuple[tuple[str, ...], dict[str, EntryPoint]] | None = None

    def _entries(self) -> dict[str, EntryPoint]:
        # Scanning the installed distributions takes milliseconds, and a pack asks once per rule: the scan is
        # kept until sys.path changes (a distribution added to a new folder at run time is then found).
        path = tuple(sys.path)
        scanned = self._scanned
        if scanned is None or scanned[0] != path:
            scanned = (path, {entry.name: entry for entry in entry_points(group=self.group)})
            self._scanned = scanned
        return scanned[1]

    def refresh(self) -> None:
        """Scan the installed distributions again (after installing one into a folder already on sys.path)."""
        self._scanned = None

    def names(self) -> list[str]:
        """Every installed name, whether or not its plugin loads."""
        return sorted({*self._entries(), *self._registered})

    def register(self, name: str, plugin: type[T]) -> None:
        """Add a plugin without an entry point (a program embedding livewatch); it wins over an installed one."""
        self._check(name, plugin)
        with self._lock:
            self._registered[name] = plugin

    def unregister(self, name: str) -> None:
        with self._lock:
            self._registered.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> type[T]:
        """The plugin class called ``name``. Raises :class:`PluginError` naming the installed choices when there
        is none, and the import error when it is installed but does not load."""
        with self._lock:
            registered = self._registered.get(name)
        if registered is not None:
            return registered
        entry = self._entries().get(name)
        if entry is None:
            raise PluginError(self.unknown(name))
        try:
            loaded = entry.load()
        except Exception as err:
            raise PluginError(f"the {self.kind} {name!r} is installed ({entry.value}) but cannot be loaded: "
                              f"{type(err).__name__}: {err}") from err
        self._check(name, loaded)
        return cast("type[T]", loaded)

    def unknown(self, name: str) -> str:
        """The message for a name nothing is installed under."""
        names = self.names()
        return (f"no {self.kind} named {name!r} is installed{did_you_mean(name, names)}; installed: "
                f"{', '.join(names) or 'none'}")

    def loaded(self) -> dict[str, type[T]]:
        """Every plugin that loads, by name; one that does not is logged and left out, so that a broken
        third-party package cannot take the monitor down."""
        found: dict[str, type[T]] = {}
        for name in self.names():
            try:
                found[name] = self.get(name)
            except PluginError as err:
                log.error("%s", err)
        return found

    def _check(self, name: str, plugin: object) -> None:
        if not (isinstance(plugin, type) and issubclass(plugin, self.base)):
            raise PluginError(f"the {self.kind} {name!r} ({self.group}) does not name a {self.base.__name__} class")
