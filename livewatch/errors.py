"""The one exception family of livewatch.

Every error livewatch raises on purpose is a :class:`LivewatchError`. Each child builds its own message, so
raise sites stay one line. Exit codes are chosen by the CLI only (``livewatch.cli``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from livewatch.issues import Issue


class LivewatchError(Exception):
    """Any error caused by livewatch on purpose; the CLI prints it without a traceback."""


class ConfigError(LivewatchError):
    """The global configuration (``livewatch.toml``) or a file it names is unusable."""

    def __init__(self, message: str, issues: Sequence[Issue] = ()) -> None:
        self.issues = list(issues)
        detail = "".join(f"\n  {issue.render()}" for issue in self.issues)
        super().__init__(f"{message}{detail}")


class ModelError(LivewatchError):
    """A Whisper model cannot be found, imported, verified or converted (from ``transcribers.errors``)."""


class RegistrationError(LivewatchError):
    """One or more event-registration files are invalid; ``issues`` holds every problem found."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        count = sum(1 for issue in self.issues if issue.is_error)
        lines = "".join(f"\n  {issue.render()}" for issue in self.issues)
        super().__init__(f"{count} problem(s) in the event registrations:{lines}")


class StateError(LivewatchError):
    """The data directory or its database cannot be used as asked."""


class UnsafePathError(StateError):
    """An identifier would lead outside the data directory."""

    def __init__(self, what: str, value: str, reason: str | None = None) -> None:
        self.value = value
        super().__init__(
            f"{what} {value!r} is not a safe name inside the data directory "
            f"({reason or 'use lowercase letters, digits, - and _, starting with a letter or digit'})"
        )


class CaptureError(LivewatchError):
    """A stream could not be resolved, probed or recorded."""


class StreamOffline(CaptureError):
    """The stream exists but is not live now (not started yet, paused, or over)."""


class StreamNotFound(CaptureError):
    """The page answered, but no source found a stream in it (yt-dlp does not know the page, no player
    configuration names one): livewatch's failure to capture, not the organizer's no-show."""


class UnsafeUrl(CaptureError):
    """A URL the origin handed over (a resolved media URL, a playlist variant, a redirect) points where
    livewatch must not read: a local file or other local resource, or a scheme that is not allowed. Refused
    before anything is opened, so the message says nothing about what exists on this machine."""


class ScreenError(LivewatchError):
    """A frame cannot be read as a picture (not a bounded-size JPEG or PNG), or the screen stage was handed
    something it cannot use (frames of two streams, a reading out of range)."""
