"""Opaque record ids: ``<city>-<kind>-<ULID>``, unique across cities and sortable by time.

The city prefix lets any deployment tell a record's home city from its id alone, so a write to
another city's record is ``WrongCity`` before any lookup.
"""

from __future__ import annotations

import base64
import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# base64's RFC 4648 base32 digits, in value order, mapped onto Crockford's.
_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)
ID_PATTERN = r"^[a-z][a-z0-9_]{1,31}-[a-z]{1,6}-[0-9A-HJKMNP-TV-Z]{26}$"
_ID_RE = re.compile(ID_PATTERN)


def ulid(timestamp_ms: int | None = None) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base32, 26 characters."""
    ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    # 20 bytes are 32 digits of 5 bits, the first 6 always zero: the last 26 are the ULID's.
    # (C's base32 instead of a Python loop: an import writes a million of them.)
    return base64.b32encode(value.to_bytes(20, "big"))[6:].decode().translate(_FROM_RFC4648)


def new_id(city: str, kind: str) -> str:
    """A new id for a record of ``kind`` (``st``, ``post``, ``act``…) living in ``city``."""
    return f"{city}-{kind}-{ulid()}"


def is_valid(value: str) -> bool:
    """Whether ``value`` has the shape of a Pioneer id."""
    return bool(_ID_RE.match(value))


def city_of(record_id: str) -> str:
    """The home city encoded in an id."""
    return record_id.split("-", 1)[0]


def kind_of(record_id: str) -> str:
    """The record kind encoded in an id."""
    return record_id.split("-", 2)[1]
