"""Stations' rules, free of nameko, the broker and the database.

- The "five haves" (五有): a station meets the standard when it has all five.
- Check-in codes: the text behind an activity's QR code, ``PNR1.<key id>.<payload>.<signature>``.
  The payload binds the activity and the expiry; the signature is HMAC-SHA256 under the key
  named by the key id, so keys rotate by adding a new id, signing with it, and dropping the
  old one once its codes have expired. Any change to the text breaks the signature.
- Hours of an activity, and nearby ranking of located candidates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pioneer import geo
from pioneer.schedule import is_open_at

FIVE_HAVES = ("venue", "identity", "team", "projects", "system")
CODE_PREFIX = "PNR1"


def meets_standard(standard: Mapping[str, bool]) -> bool:
    """All five haves present."""
    return all(bool(standard.get(name)) for name in FIVE_HAVES)


def merge_standard(
    current: Mapping[str, bool], changes: Mapping[str, bool | None]
) -> dict[str, bool]:
    """The standard after applying the given (non-null) changes."""
    merged = {name: bool(current.get(name)) for name in FIVE_HAVES}
    merged.update({name: bool(value) for name, value in changes.items() if value is not None})
    return merged


class CheckinCodeError(ValueError):
    """A check-in code that is forged, altered, malformed or expired."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: str, signed: str) -> bytes:
    return hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest()


def sign_checkin_code(
    keys: Mapping[str, str], key_id: str, activity_id: str, expires_at: datetime
) -> str:
    """The QR text for ``activity_id``, valid until ``expires_at``, signed with key ``key_id``."""
    payload = _b64(
        json.dumps(
            {"a": activity_id, "e": int(expires_at.timestamp()), "n": _b64(os.urandom(6))},
            separators=(",", ":"),
        ).encode()
    )
    signed = f"{CODE_PREFIX}.{key_id}.{payload}"
    return f"{signed}.{_b64(_signature(keys[key_id], signed))}"


def verify_checkin_code(keys: Mapping[str, str], code: str, now: datetime) -> str:
    """The activity id a genuine, unexpired code is bound to; ``CheckinCodeError`` otherwise."""
    parts = code.split(".")
    if len(parts) != 4 or parts[0] != CODE_PREFIX:
        raise CheckinCodeError("not a check-in code")
    _, key_id, payload, signature = parts
    key = keys.get(key_id)
    if key is None:
        raise CheckinCodeError("signed with an unknown or retired key")
    # Compared as text: decoding would ignore the spare low bits of the last base64 character,
    # so a code with that character changed would still verify.
    expected = _b64(_signature(key, f"{CODE_PREFIX}.{key_id}.{payload}"))
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise CheckinCodeError("signature does not match (forged or altered)")
    try:
        claims = json.loads(_unb64(payload))
        activity_id, expires = claims["a"], claims["e"]
    except (ValueError, KeyError, TypeError):
        raise CheckinCodeError("malformed payload") from None
    if not isinstance(activity_id, str) or not isinstance(expires, int):
        raise CheckinCodeError("malformed payload")
    if now.timestamp() >= expires:
        raise CheckinCodeError("expired")
    return activity_id


def activity_hours(starts_at: datetime, ends_at: datetime) -> float:
    """Service hours credited for an activity: its length, in hours, to two decimals."""
    return round((ends_at - starts_at).total_seconds() / 3600, 2)


def rank_nearby(
    candidates: Iterable[Any],
    lat: float,
    lon: float,
    radius_m: float,
    open_at: datetime | None,
    limit: int,
) -> list[geo.Nearby]:
    """Stations within ``radius_m`` (and open at ``open_at``), nearest first, at most ``limit``."""
    keep = None if open_at is None else (lambda row: is_open_at(row.opening_hours, open_at))
    return geo.rank_nearby(candidates, lat, lon, radius_m, keep=keep, limit=limit)
