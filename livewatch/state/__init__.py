"""Persistent state: the data directory's layout and its SQLite database."""

from __future__ import annotations

from livewatch.state.database import Database
from livewatch.state.layout import DataDir

__all__ = ["DataDir", "Database"]
