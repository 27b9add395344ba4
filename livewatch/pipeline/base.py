"""The base of every message that crosses a stage boundary.

A message is a frozen dataclass built once by the stage that produces it; the stages after it read its
typed fields and never a dict. :mod:`livewatch.pipeline.codec` turns any message into a queue payload and
back, so the wire format is written down in one place only.
"""

from __future__ import annotations

from typing import ClassVar

from livewatch.errors import LivewatchError


class MessageError(LivewatchError):
    """A queue payload that is not a message this livewatch can read (wrong kind, version or field)."""


class Message:
    """Subclasses are ``@dataclass(frozen=True, slots=True)`` and name their ``kind`` (unique, kebab-case)."""

    __slots__ = ()
    kind: ClassVar[str]
