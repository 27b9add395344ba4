"""Log output of ``livewatch run``: readable text for a terminal, or JSON lines for journald and log shippers.

``--log-format json`` writes one object per line: ``ts`` (ISO 8601, UTC, with its offset), ``level``,
``logger``, ``message``, ``exception`` and ``stack`` when there are any, and every field a caller passed
with ``extra={...}``. Non-ASCII text (event titles, Chinese transcripts) is written as is, not escaped.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_CORE = ("ts", "level", "logger", "message")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside messages are escaped by JSON itself)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            # Cached like logging.Formatter does, so several handlers format a traceback only once.
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            # An extra field never overwrites a core one: a log reader must be able to trust `level`.
            entry[f"extra_{key}" if key in _CORE or key in ("exception", "stack") else key] = value
        # default=str: an extra value JSON cannot encode (a Path, a datetime) is written as its text.
        return json.dumps(entry, ensure_ascii=False, default=str)


class _LivewatchHandler(logging.StreamHandler[TextIO]):
    """Marks the handler livewatch installed, so that configuring again replaces it and leaves others alone
    (pytest's capture handlers, an embedding application's own)."""


def configure_logging(level: int, fmt: LogFormat = "text", stream: TextIO | None = None) -> logging.Handler:
    """Send log records at ``level`` and above to ``stream`` (default stderr) as text or JSON lines."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _LivewatchHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _LivewatchHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    return handler


@contextmanager
def logging_configured(level: int, fmt: LogFormat = "text", stream: TextIO | None = None) -> Iterator[logging.Handler]:
    """:func:`configure_logging` for the length of a block; afterwards the handler is gone and the root level
    restored, so a command run in-process (tests, an embedding application) leaves no handler behind on a
    stream that may be closed by then."""
    root = logging.getLogger()
    previous = root.level
    handler = configure_logging(level, fmt, stream)
    try:
        yield handler
    finally:
        handler.flush()
        root.removeHandler(handler)
        root.setLevel(previous)
