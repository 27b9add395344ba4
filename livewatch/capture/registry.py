"""Finds the source for a URL among the registered ones (entry-point group ``livewatch.sources``)."""

from __future__ import annotations

from livewatch.capture.base import Source
from livewatch.errors import CaptureError
from livewatch.plugins import Registry

ENTRY_POINT_GROUP = "livewatch.sources"
#: Capture sources by name (built-ins are registered in the entry-point group too).
SOURCES: Registry[Source] = Registry(ENTRY_POINT_GROUP, Source, "capture source")


class SourceRegistry:
    """Holds source classes; the built-ins come in through the same entry points as third-party ones."""

    def __init__(self, sources: list[type[Source]] | None = None) -> None:
        self._sources: dict[str, type[Source]] = {}
        for source in sources if sources is not None else SOURCES.loaded().values():
            self.register(source)

    def register(self, source: type[Source]) -> None:
        if not (isinstance(source, type) and issubclass(source, Source)):
            raise TypeError(f"{source!r} is not a livewatch Source class")
        self._sources[source.name] = source

    @property
    def names(self) -> list[str]:
        return sorted(self._sources)

    def for_url(self, url: str) -> Source:
        return self.chain_for(url)[0]

    def chain_for(self, url: str) -> list[Source]:
        """The source to try first for ``url``, then the fallbacks that handle it, by priority (a fallback
        comes first only when nothing else handles the URL)."""
        candidates = sorted((s for s in self._sources.values() if s.can_handle(url)),
                            key=lambda s: (not s.fallback, s.priority), reverse=True)
        if not candidates:
            raise CaptureError(f"no capture source handles {url!r}; installed: {', '.join(self.names)}")
        first, *rest = candidates
        return [first(), *(s() for s in rest if s.fallback)]
