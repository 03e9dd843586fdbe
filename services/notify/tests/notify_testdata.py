"""Test data for notify: event payloads as the other services publish them, a bulk seed of the
directory, and a real HTTP receiver."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pioneer import clock, ids

# The tests' receivers listen on 127.0.0.1: named for plain http (and trusted addresses).
TEST_HOST = "127.0.0.1"

# Fangjiahetou village, Cixi, and a point 20 km away.
FANGJIAHETOU = {"lat": 30.2113, "lon": 121.4398}
FAR_AWAY = {"lat": 30.3900, "lon": 121.4398}
BENEFICIARY = {"name": "王阿婆", "phone": "13812345678", "address": "方家河头村3号"}


def wish_data(wish_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """``WishChanged`` as wishes publishes it (no beneficiary: events never carry it)."""
    data = {
        "wish_id": wish_id or ids.new_id("cixi", "wish"),
        "city": "cixi",
        "status": "published",
        "title": "想要一副老花镜",
        "category": "elderly_care",
        "location": dict(FANGJIAHETOU),
        "deadline": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        "volunteer_id": None,
        "volunteer_city": None,
        "reason": None,
        "rating": None,
        "version": 2,
    }
    data.update(overrides)
    return data


def request_data(request_id: str, version: int, **overrides: Any) -> dict[str, Any]:
    """``RequestChanged`` as wishes publishes it (no requester, no address)."""
    data = {
        "request_id": request_id,
        "city": "cixi",
        "status": "dispatched",
        "service": "plumbing_electrical",
        "urgency": "normal",
        "location": dict(FANGJIAHETOU),
        "offered_to": [],
        "volunteer_id": None,
        "volunteer_city": None,
        "attempts": 1,
        "reason": None,
        "rating": None,
        "version": version,
    }
    data.update(overrides)
    return data


def points_data(volunteer_id: str, **overrides: Any) -> dict[str, Any]:
    """``PointsChanged`` of a redemption."""
    data = {
        "entry_id": ids.new_id("cixi", "pte"),
        "volunteer_id": volunteer_id,
        "city": ids.city_of(volunteer_id),
        "delta": -30,
        "reason": "redemption",
        "balance": 70,
        "at": datetime.now(UTC).isoformat(),
        "redemption_id": ids.new_id("cixi", "rdm"),
        "item_id": ids.new_id("cixi", "item"),
        "item_name": "环保袋",
        "quantity": 2,
    }
    data.update(overrides)
    return data


def seed_directory(
    engine: Any, volunteers: Iterable[tuple[str, str, list[str], dict[str, float]]]
) -> int:
    """Bulk-write volunteers straight into the replica and its skill index (what the volunteers
    events would leave there): ``(volunteer_id, status, skills, location)``."""
    from sqlalchemy import insert

    from pioneer import replica_skills
    from pioneer.replica import volunteer_replica

    replica_rows = []
    now = clock.utcnow()
    for volunteer_id, status, skills, location in volunteers:
        city = ids.city_of(volunteer_id)
        replica_rows.append(
            {
                "volunteer_id": volunteer_id,
                "city": city,
                "status": status,
                "suspended_until": now + timedelta(days=30) if status == "suspended" else None,
                "skills": skills,
                "lat": location["lat"],
                "lon": location["lon"],
                "version": 1,
                "updated_at": now,
            }
        )
    with engine.begin() as conn:
        conn.execute(insert(volunteer_replica), replica_rows)
        replica_skills.rebuild(conn, [row["volunteer_id"] for row in replica_rows])
    return len(replica_rows)


def near(point: dict[str, float], i: int, spread_m: float = 1500) -> dict[str, float]:
    """A point within ``spread_m`` of ``point``, spread deterministically by ``i``."""
    step = (i * 7919) % 1000 / 1000
    angle = (i * 104729) % 360
    import math

    d = spread_m * step
    return {
        "lat": point["lat"] + d * math.cos(math.radians(angle)) / 111_195,
        "lon": point["lon"]
        + d * math.sin(math.radians(angle)) / (111_195 * math.cos(math.radians(point["lat"]))),
    }
