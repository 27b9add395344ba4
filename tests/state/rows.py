"""Rows for raw table inserts in the state tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, Integer, Table

from livewatch.state.tables import AwareDateTime

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def placeholder_row(table: Table, **values: Any) -> dict[str, Any]:
    """``values`` plus a placeholder for every other NOT NULL column, so the test survives new columns."""
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key:
            continue
        if isinstance(column.type, AwareDateTime):
            row[column.name] = NOW
        elif isinstance(column.type, Integer):
            row[column.name] = 0
        elif isinstance(column.type, Float):
            row[column.name] = 0.0
        else:
            row[column.name] = "x"
    return row
