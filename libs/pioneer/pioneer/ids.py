"""Opaque record ids: ``<city>-<kind>-<ULID>``, unique across cities and sortable by time;
and event ids, UUIDs that are sortable by time too (``event_uuid``).

The city prefix lets any deployment tell a record's home city from its id alone, so a write to
another city's record is ``WrongCity`` before any lookup.
"""

from __future__ import annotations

import os
import re
import time
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every pair of digits (10 bits), in value order: a ULID is 13 lookups instead of 26 steps
# (an import or a fan-out makes a million of them).
_PAIRS = [high + low for high in _CROCKFORD for low in _CROCKFORD]
ID_PATTERN = r"^[a-z][a-z0-9_]{1,31}-[a-z]{1,6}-[0-9A-HJKMNP-TV-Z]{26}$"
_ID_RE = re.compile(ID_PATTERN)


def ulid(timestamp_ms: int | None = None) -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, Crockford base32, 26 characters."""
    ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -10, -10)])


def event_uuid(timestamp_ms: int | None = None) -> str:
    """A UUID version 7 (RFC 9562): 48 bits of milliseconds, the version, 74 random bits.

    Time-ordered, so the unique indexes every event id lands in (the producer's outbox, each
    consumer's processed events) grow at their end: a random UUID's would write all over the
    index, which an import of a million volunteers spills out of the database's cache."""
    ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # the RFC's variant
    return str(uuid.UUID(int=value))


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
