"""Capture sources: how a registered stream URL becomes something ffmpeg can record.

A source is one class with declarative URL matchers and one abstract method, :meth:`Source.resolve`.
Built-in sources are registered through the ``livewatch.sources`` entry-point group, like any plugin, so a
platform-specific resolver is one class in one module.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal

MediaKind = Literal["hls", "dash", "progressive", "rtmp"]


@dataclass(frozen=True)
class ResolvedStream:
    """What ffmpeg needs to record one stream right now (URLs expire: resolve again when one fails or is gone)."""

    page_url: str
    media_url: str
    kind: MediaKind
    headers: Mapping[str, str] = field(default_factory=dict)
    title: str | None = None
    #: True/False when the source itself says whether the stream is live; None when it cannot tell.
    live: bool | None = None


class Source(abc.ABC):
    """Turns a registered URL into a :class:`ResolvedStream`.

    Subclasses declare ``matchers`` (compiled patterns tried against the URL) and a ``priority``: when
    several sources match, the highest priority wins, so a catch-all (yt-dlp for any web page) sits below
    specific ones.
    """

    #: Registry name, e.g. ``"direct"``.
    name: ClassVar[str]
    matchers: ClassVar[tuple[re.Pattern[str], ...]] = ()
    priority: ClassVar[int] = 0
    #: A fallback is never chosen first: it is tried, by priority, when the chosen source finds no stream
    #: in the page (:class:`~livewatch.errors.StreamNotFound`).
    fallback: ClassVar[bool] = False

    @classmethod
    def can_handle(cls, url: str) -> bool:
        return any(pattern.search(url) for pattern in cls.matchers)

    @abc.abstractmethod
    def resolve(self, url: str) -> ResolvedStream:
        """Resolve ``url``. Raises :class:`~livewatch.errors.StreamOffline` when the stream is not live
        and :class:`~livewatch.errors.CaptureError` when it cannot be resolved at all."""
