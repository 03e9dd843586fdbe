"""Keyset pagination: the cursor is the opaque, encoded sort key of the last item returned."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from .errors import ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(key: list[Any]) -> str:
    """Encode the sort key of the last item on a page."""
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_KEY_TEXT = 72  # the longest record id (a 32-character city, a kind, a ULID) fits


def decode_cursor(cursor: str | None, shape: int | tuple[type, ...]) -> list[Any] | None:
    """Decode a cursor made by ``encode_cursor``; anything else is a ``ValidationError``.

    ``shape`` is the sort key's types, e.g. ``(str,)`` for an id or ``(float, str)`` for a
    distance and an id: a key of another shape would reach the database as a type error (or
    overflow), so it is refused here. An int only says how many scalars the key holds.
    """
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise ValidationError("cursor", "not a cursor this service issued") from None
    kinds = shape if isinstance(shape, tuple) else (None,) * shape
    if (
        not isinstance(key, list)
        or len(key) != len(kinds)
        or not all(_fits(value, kind) for value, kind in zip(key, kinds, strict=True))
    ):
        raise ValidationError("cursor", "not a cursor this service issued")
    return key


def decode_id_cursor(cursor: str | None) -> str | None:
    """The id an id-ordered page resumes after (``None`` for the first page)."""
    key = decode_cursor(cursor, (str,))
    return key[0] if key else None


def _fits(value: Any, kind: type | None) -> bool:
    if isinstance(value, bool):
        return False
    if kind is str or (kind is None and isinstance(value, str)):
        return isinstance(value, str) and 0 < len(value) <= MAX_KEY_TEXT and "\x00" not in value
    if kind is float or kind is None:
        return isinstance(value, (int, float)) and math.isfinite(value) and abs(value) < 1e15
    return False


def page(rows: list[Any], limit: int, key_of) -> tuple[list[Any], str | None]:
    """Cut ``rows`` (fetched with ``limit + 1``) to a page and the cursor for the next one."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(key_of(rows[-1]))
    return rows, None
