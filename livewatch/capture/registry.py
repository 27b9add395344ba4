"""Finds the source for a URL among the registered ones (entry-point group ``livewatch.sources``)."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from livewatch.capture.base import Source
from livewatch.errors import CaptureError

ENTRY_POINT_GROUP = "livewatch.sources"
log = logging.getLogger(__name__)


class SourceRegistry:
    """Holds source classes; the built-ins come in through the same entry points as third-party ones."""

    def __init__(self, sources: list[type[Source]] | None = None) -> None:
        self._sources: dict[str, type[Source]] = {}
        for source in sources if sources is not None else _installed_sources():
            self.register(source)

    def register(self, source: type[Source]) -> None:
        if not (isinstance(source, type) and issubclass(source, Source)):
            raise TypeError(f"{source!r} is not a livewatch Source class")
        self._sources[source.name] = source

    @property
    def names(self) -> list[str]:
        return sorted(self._sources)

    def for_url(self, url: str) -> Source:
        candidates = [s for s in self._sources.values() if s.can_handle(url)]
        if not candidates:
            raise CaptureError(f"no capture source handles {url!r}; installed: {', '.join(self.names)}")
        return max(candidates, key=lambda s: s.priority)()


def _installed_sources() -> list[type[Source]]:
    found: list[type[Source]] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception:  # a broken plugin must not take the monitor down
            log.exception("cannot load capture source %s", entry.name)
            continue
        if isinstance(loaded, type) and issubclass(loaded, Source):
            found.append(loaded)
        else:
            log.error("entry point %s does not name a Source class", entry.name)
    return found
