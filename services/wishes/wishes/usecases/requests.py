"""Hotline service requests and their dispatch: raised, offered to the nearest eligible
volunteers inside the city's service circle, accepted, declined, timed out, completed, rated,
cancelled; read one at a time or by city.

Every decision about a request's offers is taken with the request locked for its transaction,
so they run one after another; each change of state is the store's conditional update built
from ``domain.REQUEST_TRANSITIONS``, checked first by ``domain.request_transition``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pioneer import auth, clock, ids
from pioneer.catalog import Catalog
from pioneer.errors import Conflict, Forbidden, NotFound
from pioneer.paging import decode_id_cursor, page
from pioneer.schemas import Page

from .. import domain, presenters
from ..schemas import CompletionIn, RatingIn, RequestIn, RequestOut


def _nobody(request_id: str, city: str) -> None:
    """Hear of no unassigned request."""


@dataclass(frozen=True)
class Dispatch:
    """What dispatching takes from the deployment: a city's service circle as (minutes, km/h),
    how long an offer waits for an answer, and whom to tell of a request left without a
    volunteer (``unassigned(request_id, city)``: the service's metric and warning)."""

    circle: Callable[[str], tuple[float, float]]
    offer_timeout_s: float
    unassigned: Callable[[str, str], None] = _nobody


def raise_request(
    uow: Any, catalog: Catalog, dispatch: Dispatch, caller: auth.Caller, request: RequestIn
) -> RequestOut:
    """A new request (``request_raised``), offered at once to the nearest eligible volunteers
    with the skill (``request_dispatched``), or ``unassigned`` when there is none."""
    catalog.require_known(request.city, "request.service", request.service)
    now = clock.utcnow()
    values = dict(
        id=ids.new_id(request.city, "req"),
        city=request.city,
        status=domain.R_NEW,
        service=request.service,
        urgency=request.urgency,
        description=request.description,
        address=request.address,
        requester=request.requester.model_dump(),
        lat=request.location.lat,
        lon=request.location.lon,
        raised_by=caller.sub[:128],
        version=1,
        created_at=now,
        updated_at=now,
    )
    with uow:
        row = uow.store.add_request(values)
        uow.emit("request_raised", row.city, presenters.request_event(row, []))
        current = _offer(uow, dispatch, row, now)
        offers = uow.store.offers(row.id)
    return presenters.request_out(current, offers, caller)


def accept_request(uow: Any, caller: auth.Caller, request_id: str, volunteer_id: str) -> RequestOut:
    """Only a volunteer holding an open, unexpired offer may accept, and only while not busy
    with another request; in an emergency the first wins and the other offers are withdrawn."""
    now = clock.utcnow()
    with uow:
        volunteer = uow.store.eligible_volunteer(volunteer_id, now)
        uow.store.lock_volunteer(volunteer_id)  # lock order: volunteer, then request
        request = locked_request(uow.store, request_id)
        if not uow.store.take_offer(request_id, volunteer_id, now):
            raise Conflict(f"volunteer {volunteer_id} holds no open offer for {request_id}")
        if uow.store.busy_elsewhere(volunteer_id, request_id):
            raise Conflict(f"volunteer {volunteer_id} is busy with another request")
        assignment = {"assigned_to": volunteer_id, "assigned_city": volunteer.city}
        row = _change(uow, request, "accept", now, assignment)
        uow.store.withdraw_offers(request_id, now)
        offers = _announce(uow, "accept", row, volunteer_id, volunteer.city)
    return presenters.request_out(row, offers, caller)


def decline_request(
    uow: Any, dispatch: Dispatch, caller: auth.Caller, request_id: str, volunteer_id: str
) -> RequestOut:
    """Decline an open offer (``request_declined``); with no other offer open the request moves
    on to the next candidates, or becomes unassigned."""
    now = clock.utcnow()
    with uow:
        request = locked_request(uow.store, request_id)
        offer_city = uow.store.decline_offer(request_id, volunteer_id, now)
        if offer_city is None:
            raise Conflict(f"volunteer {volunteer_id} holds no open offer for {request_id}")
        event = presenters.request_event(
            request, uow.store.offers(request_id), volunteer_id, offer_city
        )
        uow.emit("request_declined", request.city, event)
        if request.status == domain.R_DISPATCHED and not uow.store.has_open_offer(request_id):
            request = _offer(uow, dispatch, request, now)
        offers = uow.store.offers(request_id)
    return presenters.request_out(request, offers, caller)


def expire_offers(uow: Any, dispatch: Dispatch, batch: int) -> int:
    """Time out up to ``batch`` open offers past their expiry and move their requests on (one
    transaction a request); how many offers timed out."""
    now = clock.utcnow()
    with uow.reading() as store:
        due = store.lapsed_offers(now, batch)
    timed_out = 0
    for request_id in dict.fromkeys(due):
        with uow:
            request = locked_request(uow.store, request_id)
            count = uow.store.time_out_offers(request_id, now)
            timed_out += count
            moves_on = count and request.status == domain.R_DISPATCHED
            if moves_on and not uow.store.has_open_offer(request_id):
                _offer(uow, dispatch, request, now)
    return timed_out


def complete_request(
    uow: Any, caller: auth.Caller, request_id: str, volunteer_id: str, completion: CompletionIn
) -> RequestOut:
    """The assigned volunteer reports the work done; the event names that volunteer, so points
    credits its home city."""
    now = clock.utcnow()
    with uow:
        request = locked_request(uow.store, request_id)
        if request.status == domain.R_ACCEPTED and request.assigned_to != volunteer_id:
            raise Conflict(f"request {request_id} is assigned to another volunteer")
        done = {"completion_note": completion.note, "completed_at": now}
        row = _change(uow, request, "complete", now, done)
        offers = _announce(uow, "complete", row, row.assigned_to, row.assigned_city)
    return presenters.request_out(row, offers, caller)


def rate_request(uow: Any, caller: auth.Caller, request_id: str, rating: RatingIn) -> RequestOut:
    """A completed request is rated and closed; the event names the volunteer who did it."""
    now = clock.utcnow()
    with uow:
        request = locked_request(uow.store, request_id)
        rated = {"rating": rating.rating, "feedback": rating.feedback}
        row = _change(uow, request, "rate", now, rated)
        offers = _announce(uow, "rate", row, row.assigned_to, row.assigned_city)
    return presenters.request_out(row, offers, caller)


def cancel_request(uow: Any, caller: auth.Caller, request_id: str, reason: str) -> RequestOut:
    """A request not completed is cancelled; its open offers are withdrawn."""
    now = clock.utcnow()
    with uow:
        request = locked_request(uow.store, request_id)
        row = _change(uow, request, "cancel", now, {"reason": reason})
        uow.store.withdraw_offers(request_id, now)
        offers = _announce(uow, "cancel", row)
    return presenters.request_out(row, offers, caller)


def locked_request(store: Any, request_id: str) -> Any:
    """The request, locked for the transaction; ``NotFound`` if there is none."""
    request = store.request(request_id, for_update=True)
    if request is None:
        raise NotFound(f"no request {request_id}")
    return request


def _change(uow: Any, request: Any, action: str, now: datetime, values: dict[str, Any]) -> Any:
    """``action`` on the locked ``request``: the request as it now is, or ``Conflict`` naming
    the state that refuses it."""
    try:
        domain.request_transition(request.status, action)
    except domain.TransitionNotAllowed as exc:
        raise Conflict(f"request {request.id}: {exc}") from None
    row = uow.store.change_request(request.id, action, now, values)
    if row is None:  # the lock holds the request still, so only a store without one gets here
        raise Conflict(f"request {request.id} changed meanwhile")
    return row


def _announce(
    uow: Any,
    action: str,
    row: Any,
    volunteer_id: str | None = None,
    volunteer_city: str | None = None,
) -> list[Any]:
    """Emit ``action``'s event about ``row``; the request's offers, as the event counts them."""
    offers = uow.store.offers(row.id)
    event = presenters.request_event(row, offers, volunteer_id, volunteer_city)
    uow.emit(domain.REQUEST_EVENTS[action], row.city, event)
    return offers


def _offer(uow: Any, dispatch: Dispatch, request: Any, now: datetime) -> Any:
    """Offer ``request`` (new, or dispatched with no open offer) to the nearest eligible
    candidates not tried yet, or leave it unassigned; the request as it now is."""
    radius = domain.service_circle_m(*dispatch.circle(request.city))
    count = domain.offers_at_once(request.urgency)
    # From the inside out (``domain.next_dispatch_radius``): the same choice as one search of
    # the whole circle, without reading every volunteer of a dense town with the skill.
    searched: float | None = domain.first_dispatch_radius(radius)
    chosen: list[tuple[float, Any]] = []
    while searched is not None:
        candidates = uow.store.dispatch_candidates(
            request.id, request.service, request.lat, request.lon, searched, now
        )
        chosen = domain.choose_candidates(
            candidates, request.lat, request.lon, searched, set(), count
        )
        searched = domain.next_dispatch_radius(searched, len(chosen), count, radius)
    if chosen:
        expires = now + timedelta(seconds=dispatch.offer_timeout_s)
        uow.store.add_offers(
            [
                {
                    "request_id": request.id,
                    "volunteer_id": candidate.volunteer_id,
                    "volunteer_city": candidate.city,
                    "status": domain.OFFER_OPEN,
                    "distance_m": distance,
                    "offered_at": now,
                    "expires_at": expires,
                }
                for distance, candidate in chosen
            ]
        )
    action = "offer" if chosen else "exhaust"
    row = _change(uow, request, action, now, {})
    _announce(uow, action, row)
    if not chosen:
        dispatch.unassigned(row.id, row.city)
    return row


# --- reading ------------------------------------------------------------------------------------


def get_request(uow: Any, caller: auth.Caller, request_id: str) -> RequestOut:
    """One request with its attempts, as the caller may see it."""
    with uow.reading() as store:
        row = store.request(request_id)
        if row is None:
            raise NotFound(f"no request {request_id}")
        offers = store.offers(request_id)
    offered = [offer.volunteer_id for offer in offers]
    if caller.volunteer_only and not domain.volunteer_reads_request(
        caller.sub, row.assigned_to, offered
    ):
        raise Forbidden(f"a volunteer token reads {domain.VOLUNTEER_REQUESTS}")
    return presenters.request_out(row, offers, caller)


def list_requests(
    uow: Any,
    caller: auth.Caller,
    city: str,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page[RequestOut]:
    """Requests of a city by status, in id order, paged by keyset; for a volunteer's own
    token, only those it was offered or is assigned."""
    after = decode_id_cursor(cursor)
    volunteer = caller.sub if caller.volunteer_only else None
    with uow.reading() as store:
        rows, next_cursor = page(
            store.request_page(city, status, after, limit + 1, volunteer), limit, lambda r: [r.id]
        )
        offers = store.offers_of([r.id for r in rows])
    return Page[RequestOut](
        items=[presenters.request_out(r, offers[r.id], caller) for r in rows],
        next_cursor=next_cursor,
    )


# --- the dispatch index -------------------------------------------------------------------------


def follow_replica(uow: Any, volunteer_ids: list[str]) -> None:
    """Make the dispatch index say what the volunteer replica now holds about
    ``volunteer_ids`` (``uow`` is the replica handler's, already open)."""
    uow.store.reindex_volunteers(volunteer_ids)
