"""Keyset pagination: the cursor is the opaque, encoded sort key of the last item returned."""

from __future__ import annotations

import base64
import json
from typing import Any

from .errors import ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(key: list[Any]) -> str:
    """Encode the sort key of the last item on a page."""
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """Decode a cursor made by ``encode_cursor``; anything else is a ``ValidationError``."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise ValidationError("cursor", "not a cursor this service issued") from None
    if (
        not isinstance(key, list)
        or len(key) != arity
        or not all(isinstance(k, (str, int, float)) and not isinstance(k, bool) for k in key)
    ):
        raise ValidationError("cursor", "not a cursor this service issued")
    return key


def page(rows: list[Any], limit: int, key_of) -> tuple[list[Any], str | None]:
    """Cut ``rows`` (fetched with ``limit + 1``) to a page and the cursor for the next one."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key_of(rows[-1]))
    return rows, None
