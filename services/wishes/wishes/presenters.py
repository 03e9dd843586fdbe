"""Rows as the contract's results and events: what a caller sees of a wish or a request (the
beneficiary and the requester only for those allowed), and what peers hear (never them)."""

from __future__ import annotations

from typing import Any

from pioneer import auth
from pioneer.event_contract import ComplaintFiled, RequestChanged, WishChanged

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
    data = {
        "id": row.id,
        "city": row.city,
        "status": row.status,
        "title": row.title,
        "description": row.description,
        "category": row.category,
        "location": {"lat": row.lat, "lon": row.lon},
        "deadline": row.deadline,
        "claimed_by": row.claimed_by,
        "claimed_at": row.claimed_at,
        "beneficiary": row.beneficiary if shown else None,
        "fulfillment_note": row.fulfillment_note,
        "fulfilled_at": row.fulfilled_at,
        "rating": row.rating,
        "feedback": row.feedback,
        "reason": row.reason,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if distance_m is None:
        return WishOut.model_validate(data)
    return NearbyWishOut.model_validate({**data, "distance_m": distance_m})


def wish_event(
    row: Any, volunteer_id: str | None = None, volunteer_city: str | None = None
) -> WishChanged:
    """``wish_*`` data: the wish without its beneficiary; the volunteer is the one holding it
    unless given (a release names the volunteer who gave it back)."""
    return WishChanged(
        wish_id=row.id,
        city=row.city,
        status=row.status,
        title=row.title,
        category=row.category,
        location={"lat": row.lat, "lon": row.lon},
        deadline=row.deadline,
        volunteer_id=volunteer_id if volunteer_id is not None else row.claimed_by,
        volunteer_city=volunteer_city if volunteer_city is not None else row.claimed_by_city,
        reason=row.reason,
        rating=row.rating,
        version=row.version,
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
    return RequestOut.model_validate(
        {
            "id": row.id,
            "city": row.city,
            "status": row.status,
            "service": row.service,
            "urgency": row.urgency,
            "description": row.description,
            "location": {"lat": row.lat, "lon": row.lon},
            "address": row.address if shown else None,
            "requester": row.requester if shown else None,
            "offered_to": open_offers[0] if open_offers else None,
            "offers": open_offers,
            "assigned_to": row.assigned_to,
            "attempts": [
                {
                    "volunteer_id": o.volunteer_id,
                    "outcome": "offered" if o.status == domain.OFFER_OPEN else o.status,
                    "at": o.decided_at or o.offered_at,
                    "distance_m": o.distance_m,
                }
                for o in offers
            ],
            "completion_note": row.completion_note,
            "completed_at": row.completed_at,
            "rating": row.rating,
            "feedback": row.feedback,
            "reason": row.reason,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def request_event(
    row: Any,
    offers: list[Any],
    volunteer_id: str | None = None,
    volunteer_city: str | None = None,
) -> RequestChanged:
    """``request_*`` data: the request without its requester or address."""
    return RequestChanged(
        request_id=row.id,
        city=row.city,
        status=row.status,
        service=row.service,
        urgency=row.urgency,
        location={"lat": row.lat, "lon": row.lon},
        offered_to=[o.volunteer_id for o in offers if o.status == domain.OFFER_OPEN],
        volunteer_id=volunteer_id,
        volunteer_city=volunteer_city,
        attempts=len(offers),
        reason=row.reason,
        rating=row.rating,
        version=row.version,
    )


def complaint_event(complaint: Any, volunteer_city: str) -> ComplaintFiled:
    """``complaint_filed``: which request's volunteer it is about, not what it says."""
    return ComplaintFiled(
        complaint_id=complaint.complaint_id,
        request_id=complaint.request_id,
        city=complaint.city,
        volunteer_id=complaint.volunteer_id,
        volunteer_city=volunteer_city,
    )
