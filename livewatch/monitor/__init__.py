"""The long-running monitor: arms a capture before each registered event and keeps them going."""

from __future__ import annotations

from livewatch.monitor.monitor import Monitor

__all__ = ["Monitor"]
