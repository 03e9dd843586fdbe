"""Rows as the contract's results and events: what a caller or a peer sees of a station, a post,
an activity and a check-in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pioneer.event_contract import (
    ActivityCreated,
    PostClaimChanged,
    StationChanged,
    VolunteerCheckedIn,
)

from .schemas import ActivityOut, CheckinOut, ClaimOut, NearbyStationOut, PostOut, StationOut


def station_out(row: Any, distance_m: float | None = None) -> StationOut:
    """A station; with ``distance_m``, as a nearby search finds it."""
    data = {
        "id": row.id,
        "name": row.name,
        "city": row.city,
        "district": row.district,
        "address": row.address,
        "location": {"lat": row.lat, "lon": row.lon},
        "kind": row.kind,
        "services": row.services,
        "opening_hours": row.opening_hours,
        "standard": row.standard,
        "meets_standard": row.meets_standard,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if distance_m is None:
        return StationOut.model_validate(data)
    return NearbyStationOut.model_validate({**data, "distance_m": distance_m})


def station_event(row: Any) -> StationChanged:
    """``station_created``/``station_updated``: the station as it now is, for peers' replicas."""
    return StationChanged(
        station_id=row.id,
        city=row.city,
        name=row.name,
        district=row.district,
        address=row.address,
        location={"lat": row.lat, "lon": row.lon},
        kind=row.kind,
        services=row.services,
        opening_hours=row.opening_hours,
        standard=row.standard,
        meets_standard=row.meets_standard,
        version=row.version,
    )


def post_out(row: Any, claimed: int | None = None, volunteer_id: str | None = None) -> PostOut:
    """The post; ``claimed`` overrides the row's count when the row was read before a change,
    and a ``volunteer_id`` makes it the result of that volunteer's claim or release."""
    claimed = row.claimed if claimed is None else claimed
    data = {
        "id": row.id,
        "station_id": row.station_id,
        "city": row.city,
        "title": row.title,
        "category": row.category,
        "capacity": row.capacity,
        "claimed": claimed,
        "available": row.capacity - claimed,
        "created_at": row.created_at,
    }
    if volunteer_id:
        return ClaimOut.model_validate({**data, "volunteer_id": volunteer_id})
    return PostOut.model_validate(data)


def claim_event(post: Any, volunteer_id: str, city: str, claimed: int) -> PostClaimChanged:
    """``post_claimed``/``post_released``."""
    return PostClaimChanged(
        post_id=post.id,
        station_id=post.station_id,
        volunteer_id=volunteer_id,
        volunteer_city=city,
        claimed=claimed,
        capacity=post.capacity,
    )


def activity_out(row: Any) -> ActivityOut:
    return ActivityOut.model_validate(row, from_attributes=True)


def activity_event(row: Any) -> ActivityCreated:
    return ActivityCreated(
        activity_id=row.id,
        station_id=row.station_id,
        title=row.title,
        category=row.category,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        points=row.points,
        capacity=row.capacity,
    )


def checkin_event(
    activity: Any, volunteer_id: str, city: str, hours: float, at: datetime
) -> VolunteerCheckedIn:
    return VolunteerCheckedIn(
        activity_id=activity.id,
        station_id=activity.station_id,
        volunteer_id=volunteer_id,
        volunteer_city=city,
        hours=hours,
        points=activity.points,
        checked_in_at=at,
    )


def checkin_out(activity: Any, volunteer_id: str, hours: float, at: datetime) -> CheckinOut:
    return CheckinOut(
        activity_id=activity.id,
        station_id=activity.station_id,
        volunteer_id=volunteer_id,
        points=activity.points,
        hours=hours,
        checked_in_at=at,
    )
