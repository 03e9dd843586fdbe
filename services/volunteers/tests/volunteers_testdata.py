"""Test data for the volunteers tests (imported by test modules; fixtures live in conftest)."""

from __future__ import annotations

import itertools
import random
from typing import Any

# Xiashi street, Haining-ish coordinates are not needed: the tests use Cixi's Longshan town.
LONGSHAN = {"lat": 30.2113, "lon": 121.4398}
WEEKENDS = [{"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "08:00", "end": "17:00"}]
_serial = itertools.count(random.randrange(10_000_000, 80_000_000))


def new_phone() -> str:
    """A fresh, valid mainland mobile number."""
    return f"139{next(_serial):08d}"


def volunteer_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "王建国",
        "phone": new_phone(),
        "city": "cixi",
        "district": "龙山镇",
        "community": "方家河头村",
        "is_party_member": True,
        "party_branch": "方家河头村党支部",
        "skills": ["haircut", "repair"],
        "location": dict(LONGSHAN),
        "availability": list(WEEKENDS),
    }
    data.update(overrides)
    return data


def masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"
