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
from pioneer.schemas import from_row, location_of

from .schemas import ActivityOut, CheckinOut, ClaimOut, NearbyStationOut, PostOut, StationOut


def station_out(row: Any, distance_m: float | None = None) -> StationOut:
    """A station; with ``distance_m``, as a nearby search finds it."""
    if distance_m is None:
        return from_row(StationOut, row, location=location_of(row))
    return from_row(NearbyStationOut, row, location=location_of(row), distance_m=distance_m)


def station_event(row: Any) -> StationChanged:
    """``station_created``/``station_updated``: the station as it now is, for peers' replicas."""
    return from_row(StationChanged, row, station_id=row.id, location=location_of(row))


def post_out(row: Any, claimed: int | None = None, volunteer_id: str | None = None) -> PostOut:
    """The post; ``claimed`` overrides the row's count when the row was read before a change,
    and a ``volunteer_id`` makes it the result of that volunteer's claim or release."""
    claimed = row.claimed if claimed is None else claimed
    counts = {"claimed": claimed, "available": row.capacity - claimed}
    if volunteer_id:
        return from_row(ClaimOut, row, **counts, volunteer_id=volunteer_id)
    return from_row(PostOut, row, **counts)


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
    return from_row(ActivityCreated, row, activity_id=row.id)


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
