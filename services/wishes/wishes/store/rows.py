"""Rows the store hands back without reading them from the database."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table


def as_written(table: Table, values: dict[str, Any]) -> SimpleNamespace:
    """The row ``values`` make once inserted into ``table``: every column, None where unset
    (the values are kept as given, so a new record's event says what the caller sent)."""
    return SimpleNamespace(**{**{column.name: None for column in table.c}, **values})
