"""The statements about hotline service requests: the requests, their offers (one row per
volunteer tried) and the dispatch candidates, read from the kernel's per-skill geo index over
the volunteer replica (``pioneer.replica_skills``)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, insert, or_, select, update

from pioneer import replica_skills
from pioneer.db import row_of
from pioneer.replica import eligible_at, volunteer_replica

from .. import domain
from ..models import RequestOffer, ServiceRequest
from .guards import in_states, transition_params, transition_update

requests_t = ServiceRequest.__table__
offers_t = RequestOffer.__table__
replica_t = volunteer_replica

_REQUEST_BY_ID = select(requests_t).where(requests_t.c.id == bindparam("request_id"))
_REQUEST_LOCKED = _REQUEST_BY_ID.with_for_update()
# A request's offers in the order they were made (nearest first within a round).
_OFFER_ORDER = (offers_t.c.offered_at, offers_t.c.distance_m, offers_t.c.volunteer_id)
_OFFERS_OF = (
    select(offers_t).where(offers_t.c.request_id == bindparam("request_id")).order_by(*_OFFER_ORDER)
)
_OPEN = offers_t.c.status == domain.OFFER_OPEN


def _offer_of(request_id: str, volunteer_id: str) -> Any:
    return (offers_t.c.request_id == request_id) & (offers_t.c.volunteer_id == volunteer_id)


@functools.cache
def _candidates_query(cells: int) -> Any:
    """``(volunteer_id, lat, lon, city)`` of the volunteers with ``skill`` in ``cells`` geocell
    ranges who are eligible at ``now``, not busy (``domain.BUSY_WITH``) and not tried for
    ``request_id`` yet; built once per number of ranges."""
    near = replica_skills.near(cells, in_city=False)
    volunteer = near.c.volunteer_id
    busy = exists().where(
        requests_t.c.assigned_to == volunteer,
        in_states(requests_t.c.status, domain.BUSY_WITH),
    )
    tried = exists().where(
        offers_t.c.request_id == bindparam("request_id"), offers_t.c.volunteer_id == volunteer
    )
    return (
        select(volunteer, near.c.lat, near.c.lon, near.c.city)
        .join(replica_t, replica_t.c.volunteer_id == volunteer)
        .where(
            eligible_at(bindparam("now", type_=replica_t.c.suspended_until.type)),
            ~busy,
            ~tried,
        )
    )


class RequestRecords:
    """Service requests, their offers, who is busy, and the dispatch index."""

    db: Any

    # --- requests -------------------------------------------------------------------------------

    def request(self, request_id: str, for_update: bool = False) -> Any | None:
        """A request, locked for the transaction with ``for_update`` (PostgreSQL; SQLite's
        write transactions run one at a time): decisions about its offers are taken one after
        another."""
        query = _REQUEST_LOCKED if for_update else _REQUEST_BY_ID
        return self.db.execute(query, {"request_id": request_id}).first()

    def add_request(self, values: dict[str, Any]) -> Any:
        """Insert a request; the row as written."""
        self.db.execute(insert(requests_t).values(**values))
        return row_of(values, requests_t)

    def change_request(
        self, request_id: str, action: str, now: datetime, values: dict[str, Any]
    ) -> Any | None:
        """Apply ``action`` (and ``values``) with one conditional update built from
        ``domain.REQUEST_TRANSITIONS``; the request as it now is, or None if its state refuses."""
        step = domain.REQUEST_TRANSITIONS[action]
        statement = transition_update(requests_t, step, tuple(sorted(values)))
        return self.db.execute(statement, transition_params(request_id, now, values)).first()

    def request_page(
        self,
        city: str,
        status: str | None,
        after_id: str | None,
        count: int,
        volunteer_id: str | None = None,
    ) -> list[Any]:
        """Up to ``count`` requests of ``city`` after ``after_id`` in id order, by status; with
        ``volunteer_id``, only those offered to it (ever) or assigned to it."""
        query = select(requests_t).where(requests_t.c.city == city)
        if volunteer_id is not None:
            offered = select(offers_t.c.request_id).where(offers_t.c.volunteer_id == volunteer_id)
            query = query.where(
                or_(requests_t.c.assigned_to == volunteer_id, requests_t.c.id.in_(offered))
            )
        if status is not None:
            query = query.where(requests_t.c.status == status)
        if after_id is not None:
            query = query.where(requests_t.c.id > after_id)
        return self.db.execute(query.order_by(requests_t.c.id).limit(count)).all()

    # --- offers ---------------------------------------------------------------------------------

    def offers(self, request_id: str) -> list[Any]:
        """The request's offers, in the order they were made."""
        return self.db.execute(_OFFERS_OF, {"request_id": request_id}).all()

    def offers_of(self, request_ids: list[str]) -> dict[str, list[Any]]:
        """The offers of each of ``request_ids`` (every id present, maybe with none)."""
        found: dict[str, list[Any]] = {request_id: [] for request_id in request_ids}
        if request_ids:
            query = (
                select(offers_t)
                .where(offers_t.c.request_id.in_(request_ids))
                .order_by(*_OFFER_ORDER)
            )
            for offer in self.db.execute(query):
                found[offer.request_id].append(offer)
        return found

    def add_offers(self, offers: list[dict[str, Any]]) -> None:
        """Record one round of offers (open, each with its expiry)."""
        self.db.execute(insert(offers_t), offers)

    def take_offer(self, request_id: str, volunteer_id: str, now: datetime) -> bool:
        """Accept the volunteer's offer if it is open and has not expired."""
        return bool(
            self.db.execute(
                update(offers_t)
                .where(_offer_of(request_id, volunteer_id), _OPEN, offers_t.c.expires_at > now)
                .values(status=domain.OFFER_ACCEPTED, decided_at=now)
            ).rowcount
        )

    def decline_offer(self, request_id: str, volunteer_id: str, now: datetime) -> str | None:
        """Decline the volunteer's open offer; the volunteer's city, or None if none was open."""
        return self.db.execute(
            update(offers_t)
            .where(_offer_of(request_id, volunteer_id), _OPEN)
            .values(status=domain.OFFER_DECLINED, decided_at=now)
            .returning(offers_t.c.volunteer_city)
        ).scalar_one_or_none()

    def withdraw_offers(self, request_id: str, now: datetime) -> None:
        """Withdraw the request's open offers (another accepted first, or the request ended)."""
        self.db.execute(
            update(offers_t)
            .where(offers_t.c.request_id == request_id, _OPEN)
            .values(status=domain.OFFER_WITHDRAWN, decided_at=now)
        )

    def has_open_offer(self, request_id: str) -> bool:
        """Whether any offer of the request still waits for an answer."""
        query = select(offers_t.c.volunteer_id).where(offers_t.c.request_id == request_id, _OPEN)
        return self.db.execute(query.limit(1)).first() is not None

    def lapsed_offers(self, now: datetime, count: int) -> list[str]:
        """The requests of up to ``count`` open offers past their expiry, oldest first (a
        request once per offer)."""
        query = (
            select(offers_t.c.request_id)
            .where(_OPEN, offers_t.c.expires_at <= now)
            .order_by(offers_t.c.expires_at)
            .limit(count)
        )
        return list(self.db.execute(query).scalars())

    def time_out_offers(self, request_id: str, now: datetime) -> int:
        """Time out the request's open offers past their expiry; how many."""
        return self.db.execute(
            update(offers_t)
            .where(offers_t.c.request_id == request_id, _OPEN, offers_t.c.expires_at <= now)
            .values(status=domain.OFFER_TIMED_OUT, decided_at=now)
        ).rowcount

    # --- volunteers: who may be offered a request -----------------------------------------------

    def dispatch_candidates(
        self,
        request_id: str,
        skill: str,
        lat: float,
        lon: float,
        radius_m: float,
        now: datetime,
    ) -> list[Any]:
        """``(volunteer_id, lat, lon, city)`` of the volunteers with ``skill`` in the geocells
        covering the circle who are eligible at ``now``, not busy (``domain.BUSY_WITH``) and not
        tried for this request yet; a volunteer may come once per cell range."""
        cells, values = replica_skills.circle(skill, lat, lon, radius_m)
        return self.db.execute(
            _candidates_query(cells), {**values, "request_id": request_id, "now": now}
        ).all()

    def busy_elsewhere(self, volunteer_id: str, request_id: str) -> bool:
        """Whether the volunteer is busy (``domain.BUSY_WITH``) with another request."""
        query = select(requests_t.c.id).where(
            requests_t.c.assigned_to == volunteer_id,
            in_states(requests_t.c.status, domain.BUSY_WITH),
            requests_t.c.id != request_id,
        )
        return self.db.execute(query.limit(1)).first() is not None

    def lock_volunteer(self, volunteer_id: str) -> None:
        """Lock the volunteer's replica row for the transaction (PostgreSQL): two offers
        accepted at once must not both pass the busy check. Lock order: volunteer, request."""
        self.db.execute(
            select(replica_t.c.volunteer_id)
            .where(replica_t.c.volunteer_id == volunteer_id)
            .with_for_update()
        )

    def reindex_volunteers(self, volunteer_ids: list[str]) -> None:
        """Make the skill index say what the replica now holds about ``volunteer_ids``."""
        replica_skills.rebuild(self.db, volunteer_ids)
