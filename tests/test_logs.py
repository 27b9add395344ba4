"""Log output: JSON lines for journald and log shippers, plain text for a terminal."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from livewatch.logs import JsonFormatter, configure_logging, logging_configured


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield logging.getLogger("livewatch.test_logs")
    # Whatever a test configured must not outlive it (its stream is gone by then).
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_utc_time_level_logger_and_message(logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging(logging.INFO, "json", stream)
    before = datetime.now(UTC)
    logger.info("segment %s closed", 7)
    logger.debug("not shown at INFO")
    [entry] = _lines(stream)
    assert set(entry) == {"ts", "level", "logger", "message"}
    assert entry["level"] == "INFO"
    assert entry["logger"] == "livewatch.test_logs"
    assert entry["message"] == "segment 7 closed"
    ts = datetime.fromisoformat(entry["ts"])
    assert ts.utcoffset() == timedelta(0)
    assert entry["ts"].endswith("+00:00")
    assert before - timedelta(seconds=1) <= ts <= datetime.now(UTC) + timedelta(seconds=1)


def test_json_keeps_chinese_text_unescaped(logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging(logging.INFO, "json", stream)
    logger.warning("%s: 主持人说“保本保息”", "acme-annual-2026", extra={"speaker": "周明轩"})
    raw = stream.getvalue()
    assert "保本保息" in raw
    assert "\\u" not in raw
    [entry] = _lines(stream)
    assert entry["message"] == "acme-annual-2026: 主持人说“保本保息”"
    assert entry["speaker"] == "周明轩"


def test_json_carries_extra_fields_without_overwriting_the_core_ones(logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging(logging.INFO, "json", stream)
    logger.info("capture armed", extra={"event_id": "acme", "run_id": 3, "due": datetime(2026, 12, 18, tzinfo=UTC),
                                        "path": Path("/data/events/acme"), "level": "forged"})
    [entry] = _lines(stream)
    assert entry["event_id"] == "acme"
    assert entry["run_id"] == 3
    assert entry["due"] == "2026-12-18 00:00:00+00:00"  # not JSON by nature: written as its text
    assert entry["path"] == "/data/events/acme"
    assert entry["level"] == "INFO"
    assert entry["extra_level"] == "forged"


def test_json_exception_is_one_line_with_the_traceback(logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging(logging.INFO, "json", stream)
    try:
        raise ValueError("断流 stream dropped\nsecond line")
    except ValueError:
        logger.exception("capture failed")
    assert len(stream.getvalue().splitlines()) == 1
    [entry] = _lines(stream)
    assert entry["level"] == "ERROR"
    assert entry["message"] == "capture failed"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].endswith("ValueError: 断流 stream dropped\nsecond line")


def test_json_stack_info(logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging(logging.INFO, "json", stream)
    logger.info("where am I", stack_info=True)
    [entry] = _lines(stream)
    assert entry["stack"].startswith("Stack (most recent call last):")


def test_text_format_is_readable(logger: logging.Logger) -> None:
    stream = io.StringIO()
    configure_logging(logging.DEBUG, "text", stream)
    logger.debug("监控 started")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} DEBUG livewatch\.test_logs: 监控 started\n",
                        stream.getvalue())


def test_configuring_again_replaces_the_handler_and_leaves_others(logger: logging.Logger) -> None:
    root = logging.getLogger()
    others = [h for h in root.handlers if type(h).__name__ != "_LivewatchHandler"]
    first, second = io.StringIO(), io.StringIO()
    configure_logging(logging.INFO, "json", first)
    configure_logging(logging.INFO, "text", second)
    logger.info("once")
    assert first.getvalue() == ""
    assert second.getvalue().endswith("INFO livewatch.test_logs: once\n")
    assert [h for h in root.handlers if type(h).__name__ != "_LivewatchHandler"] == others


def test_logging_configured_undoes_itself(logger: logging.Logger) -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    with logging_configured(logging.DEBUG, "json", stream) as handler:
        assert handler in root.handlers
        logger.debug("inside")
    logger.warning("outside")
    assert [entry["message"] for entry in _lines(stream)] == ["inside"]
    assert root.level == level
    assert root.handlers == handlers


def test_formatter_alone_formats_a_record() -> None:
    record = logging.LogRecord("livewatch.x", logging.WARNING, __file__, 1, "%d%%", (5,), None)
    record.created = datetime(2026, 12, 18, 6, 0, 0, 250_000, tzinfo=UTC).timestamp()
    entry = json.loads(JsonFormatter().format(record))
    assert entry == {"ts": "2026-12-18T06:00:00.250+00:00", "level": "WARNING", "logger": "livewatch.x",
                     "message": "5%"}
