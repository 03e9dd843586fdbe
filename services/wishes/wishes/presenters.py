"""Rows as the contract's results and events: what a caller sees of a wish or a request (the
beneficiary and the requester only for those allowed), and what peers hear (never them)."""

from __future__ import annotations

from typing import Any

from pioneer import auth
from pioneer.event_contract import ComplaintFiled, RequestChanged, WishChanged
from pioneer.schemas import from_row, location_of

from . import domain
from .schemas import NearbyWishOut, RequestOut, WishOut


def wish_out(row: Any, caller: auth.Caller, distance_m: float | None = None) -> WishOut:
    """The wish as ``caller`` may see it: the beneficiary only for its city's admins and the
    volunteer holding it; with ``distance_m``, as a nearby list finds it."""
    shown = domain.sees_beneficiary(
        is_city_admin=caller.is_admin and caller.covers(row.city),
        caller_volunteer=caller.sub if auth.VOLUNTEER in caller.roles else None,
        claimed_by=row.claimed_by,
        status=row.status,
    )
    shown_fields = {"location": location_of(row), "beneficiary": row.beneficiary if shown else None}
    if distance_m is None:
        return from_row(WishOut, row, **shown_fields)
    return from_row(NearbyWishOut, row, **shown_fields, distance_m=distance_m)


def wish_event(
    row: Any, volunteer_id: str | None = None, volunteer_city: str | None = None
) -> WishChanged:
    """``wish_*`` data: the wish without its beneficiary; the volunteer is the one holding it
    unless given (a release names the volunteer who gave it back)."""
    return from_row(
        WishChanged,
        row,
        wish_id=row.id,
        location=location_of(row),
        volunteer_id=volunteer_id if volunteer_id is not None else row.claimed_by,
        volunteer_city=volunteer_city if volunteer_city is not None else row.claimed_by_city,
    )


def request_out(row: Any, offers: list[Any], caller: auth.Caller) -> RequestOut:
    """The request as ``caller`` may see it: the requester and address only for the city's
    admins and dispatchers and the assigned volunteer; ``offers`` in the order made."""
    shown = domain.sees_requester(
        is_city_staff=caller.has(auth.ADMIN, auth.DISPATCHER) and caller.covers(row.city),
        caller_volunteer=caller.sub if auth.VOLUNTEER in caller.roles else None,
        assigned_to=row.assigned_to,
    )
    open_offers = [o.volunteer_id for o in offers if o.status == domain.OFFER_OPEN]
    return from_row(
        RequestOut,
        row,
        location=location_of(row),
        address=row.address if shown else None,
        requester=row.requester if shown else None,
        offered_to=open_offers[0] if open_offers else None,
        offers=open_offers,
        attempts=[
            {
                "volunteer_id": o.volunteer_id,
                "outcome": "offered" if o.status == domain.OFFER_OPEN else o.status,
                "at": o.decided_at or o.offered_at,
                "distance_m": o.distance_m,
            }
            for o in offers
        ],
    )


def request_event(
    row: Any,
    offers: list[Any],
    volunteer_id: str | None = None,
    volunteer_city: str | None = None,
) -> RequestChanged:
    """``request_*`` data: the request without its requester or address."""
    return from_row(
        RequestChanged,
        row,
        request_id=row.id,
        location=location_of(row),
        offered_to=[o.volunteer_id for o in offers if o.status == domain.OFFER_OPEN],
        volunteer_id=volunteer_id,
        volunteer_city=volunteer_city,
        attempts=len(offers),
    )


def complaint_event(complaint: Any, volunteer_city: str) -> ComplaintFiled:
    """``complaint_filed``: which request's volunteer it is about, not what it says."""
    return from_row(ComplaintFiled, complaint, volunteer_city=volunteer_city)
