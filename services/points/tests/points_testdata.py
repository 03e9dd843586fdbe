"""Event data as stations and wishes publish it (imported by the points tests)."""

from __future__ import annotations

from typing import Any

from pioneer import ids
from pioneer.testing.moments import iso_from_now

FANGJIAHETOU = {"lat": 30.2113, "lon": 121.4398}


def checkin(
    volunteer_id: str,
    points: int = 5,
    hours: float = 2.5,
    activity_id: str | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """``volunteer_checked_in.data``."""
    return {
        "activity_id": activity_id or ids.new_id("cixi", "act"),
        "station_id": ids.new_id("cixi", "st"),
        "volunteer_id": volunteer_id,
        "volunteer_city": ids.city_of(volunteer_id),
        "hours": hours,
        "points": points,
        "checked_in_at": at,
    }


def wish_closed(volunteer_id: str, wish_id: str | None = None) -> dict[str, Any]:
    """``wish_closed.data``."""
    return {
        "wish_id": wish_id or ids.new_id("cixi", "wish"),
        "city": "cixi",
        "status": "closed",
        "title": "想要一台收音机",
        "category": "elderly_care",
        "location": dict(FANGJIAHETOU),
        "deadline": iso_from_now(days=30),
        "volunteer_id": volunteer_id,
        "volunteer_city": ids.city_of(volunteer_id),
        "rating": 5,
        "version": 5,
    }


def request_event(
    volunteer_id: str, request_id: str, status: str, rating: int | None = None
) -> dict[str, Any]:
    """``request_completed.data`` / ``request_rated.data``."""
    return {
        "request_id": request_id,
        "city": "cixi",
        "status": status,
        "service": "repair",
        "urgency": "normal",
        "location": dict(FANGJIAHETOU),
        "volunteer_id": volunteer_id,
        "volunteer_city": ids.city_of(volunteer_id),
        "rating": rating,
        "version": 4,
    }
