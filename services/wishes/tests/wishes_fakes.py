"""``WishesStore`` in memory, for the use-case tests (``tests/unit/test_*_usecases.py``).

It keeps the same rows as the real store, as ``SimpleNamespace`` objects, answers the same
questions and hands out copies, as a database hands out rows. The rules the real store puts
in SQL are taken from the same declarations: a change is applied only if the domain allows it
(``domain.allows``), expiry takes what ``expire`` allows, busy means ``domain.BUSY_WITH``, and
the replica's eligibility is the kernel's ``effective_status``.
"""

from __future__ import annotations

import copy
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pioneer.db import row_of
from pioneer.replica import VolunteerState, eligible
from pioneer.standing import effective_status
from wishes import domain
from wishes.store.complaints import complaints_t
from wishes.store.requests import requests_t
from wishes.store.wishes import wishes_t


def _copy(row: Any) -> Any:
    return None if row is None else copy.copy(row)


class FakeWishesStore:
    def __init__(self) -> None:
        self.wishes: dict[str, SimpleNamespace] = {}
        self.requests: dict[str, SimpleNamespace] = {}
        self.offered: dict[tuple[str, str], SimpleNamespace] = {}  # (request, volunteer)
        self.complaints: dict[str, SimpleNamespace] = {}
        self.volunteers: dict[str, SimpleNamespace] = {}  # the replica
        self.reindexed: list[str] = []

    def enrol(
        self,
        volunteer_id: str,
        status: str = "active",
        skills: tuple[str, ...] = (),
        location: tuple[float, float] | None = None,
        until: datetime | None = None,
    ) -> str:
        """Put a volunteer in the replica, as volunteers' events would."""
        lat, lon = location if location is not None else (None, None)
        self.volunteers[volunteer_id] = SimpleNamespace(
            volunteer_id=volunteer_id,
            city=volunteer_id.split("-", 1)[0],
            status=status,
            suspended_until=until,
            skills=list(skills),
            lat=lat,
            lon=lon,
        )
        return volunteer_id

    def eligible_volunteer(self, volunteer_id: str, now: datetime) -> VolunteerState:
        row = self.volunteers.get(volunteer_id)
        state = None
        if row is not None:
            state = VolunteerState(
                row.volunteer_id, row.city, row.status, row.suspended_until, row.skills
            )
        return eligible(state, volunteer_id, now)

    # wishes
    def wish(self, wish_id: str, for_update: bool = False) -> Any | None:
        return _copy(self.wishes.get(wish_id))

    def add_wish(self, values: dict[str, Any]) -> Any:
        self.wishes[values["id"]] = row_of(values, wishes_t)
        return _copy(self.wishes[values["id"]])

    def change_wish(self, wish_id, action, now, values, actor=None) -> Any | None:
        row = self.wishes.get(wish_id)
        if row is None or not domain.allows(action, row, now, actor):
            return None
        vars(row).update(values)
        row.status = domain.TRANSITIONS[action].target
        row.version += 1
        row.updated_at = now
        return _copy(row)

    def wish_page(self, city, status, category, after_id, count) -> list[Any]:
        rows = [
            w
            for _, w in sorted(self.wishes.items())
            if self._matches(w, city, status, category) and (after_id is None or w.id > after_id)
        ]
        return [_copy(w) for w in rows[:count]]

    def wishes_in_cells(self, ranges, city, status, category) -> list[Any]:
        # Every wish is a candidate: ranking measures the distance exactly.
        return [_copy(w) for w in self.wishes.values() if self._matches(w, city, status, category)]

    def wishes_among(self, wish_ids: list[str]) -> dict[str, Any]:
        return {i: _copy(self.wishes[i]) for i in wish_ids if i in self.wishes}

    @staticmethod
    def _matches(wish, city, status, category) -> bool:
        return (
            wish.city == city
            and (status is None or wish.status == status)
            and (category is None or wish.category == category)
        )

    def overdue_wishes(self, now: datetime, count: int) -> list[str]:
        due = [w for w in self.wishes.values() if domain.allows("expire", w, now)]
        return [w.id for w in sorted(due, key=lambda w: w.deadline)][:count]

    def expire_wishes(self, wish_ids: list[str], now: datetime) -> list[Any]:
        changed = [self.change_wish(i, "expire", now, {}) for i in wish_ids]
        return [row for row in changed if row is not None]

    # requests
    def request(self, request_id: str, for_update: bool = False) -> Any | None:
        return _copy(self.requests.get(request_id))

    def add_request(self, values: dict[str, Any]) -> Any:
        self.requests[values["id"]] = row_of(values, requests_t)
        return _copy(self.requests[values["id"]])

    def change_request(self, request_id, action, now, values) -> Any | None:
        row = self.requests.get(request_id)
        step = domain.REQUEST_TRANSITIONS[action]
        if row is None or row.status not in step.sources:
            return None
        vars(row).update(values, status=step.target, version=row.version + 1, updated_at=now)
        return _copy(row)

    def request_page(self, city, status, after_id, count, volunteer_id=None) -> list[Any]:
        offered = {r for (r, v) in self.offered if v == volunteer_id}
        rows = [
            r
            for _, r in sorted(self.requests.items())
            if r.city == city
            and (status is None or r.status == status)
            and (after_id is None or r.id > after_id)
            and (volunteer_id is None or r.assigned_to == volunteer_id or r.id in offered)
        ]
        return [_copy(r) for r in rows[:count]]

    # offers
    def offers(self, request_id: str) -> list[Any]:
        mine = [o for (r, _), o in self.offered.items() if r == request_id]
        ordered = sorted(mine, key=lambda o: (o.offered_at, o.distance_m, o.volunteer_id))
        return [_copy(o) for o in ordered]

    def offers_of(self, request_ids: list[str]) -> dict[str, list[Any]]:
        return {r: self.offers(r) for r in request_ids}

    def add_offers(self, offers: list[dict[str, Any]]) -> None:
        for offer in offers:
            key = (offer["request_id"], offer["volunteer_id"])
            assert key not in self.offered, "a volunteer is offered a request once"
            self.offered[key] = SimpleNamespace(decided_at=None, **offer)

    def _open(self, request_id: str, volunteer_id: str) -> SimpleNamespace | None:
        offer = self.offered.get((request_id, volunteer_id))
        return offer if offer is not None and offer.status == domain.OFFER_OPEN else None

    def take_offer(self, request_id: str, volunteer_id: str, now: datetime) -> bool:
        offer = self._open(request_id, volunteer_id)
        if offer is None or offer.expires_at <= now:
            return False
        offer.status, offer.decided_at = domain.OFFER_ACCEPTED, now
        return True

    def decline_offer(self, request_id: str, volunteer_id: str, now: datetime) -> str | None:
        offer = self._open(request_id, volunteer_id)
        if offer is None:
            return None
        offer.status, offer.decided_at = domain.OFFER_DECLINED, now
        return offer.volunteer_city

    def withdraw_offers(self, request_id: str, now: datetime) -> None:
        for (r, _), offer in self.offered.items():
            if r == request_id and offer.status == domain.OFFER_OPEN:
                offer.status, offer.decided_at = domain.OFFER_WITHDRAWN, now

    def has_open_offer(self, request_id: str) -> bool:
        return any(self._open(r, v) for r, v in self.offered if r == request_id)

    def lapsed_offers(self, now: datetime, count: int) -> list[str]:
        lapsed = [
            o
            for o in self.offered.values()
            if o.status == domain.OFFER_OPEN and o.expires_at <= now
        ]
        return [o.request_id for o in sorted(lapsed, key=lambda o: o.expires_at)][:count]

    def time_out_offers(self, request_id: str, now: datetime) -> int:
        count = 0
        for (r, _), offer in self.offered.items():
            if r == request_id and offer.status == domain.OFFER_OPEN and offer.expires_at <= now:
                offer.status, offer.decided_at = domain.OFFER_TIMED_OUT, now
                count += 1
        return count

    # volunteers: who may be offered a request
    def dispatch_candidates(self, request_id, skill, lat, lon, radius_m, now) -> list[Any]:
        return [
            SimpleNamespace(volunteer_id=v.volunteer_id, lat=v.lat, lon=v.lon, city=v.city)
            for v in self.volunteers.values()
            if skill in v.skills
            and v.lat is not None
            and effective_status(v.status, v.suspended_until, now) == "active"
            and not self._busy(v.volunteer_id)
            and (request_id, v.volunteer_id) not in self.offered
        ]

    def _busy(self, volunteer_id: str, apart_from: str | None = None) -> bool:
        return any(
            r.assigned_to == volunteer_id and r.status in domain.BUSY_WITH and r.id != apart_from
            for r in self.requests.values()
        )

    def busy_elsewhere(self, volunteer_id: str, request_id: str) -> bool:
        return self._busy(volunteer_id, apart_from=request_id)

    def lock_volunteer(self, volunteer_id: str) -> None:
        pass  # one test runs one call at a time

    def reindex_volunteers(self, volunteer_ids: list[str]) -> None:
        self.reindexed.extend(volunteer_ids)  # candidates are read from the replica itself

    # complaints
    def add_complaint(self, values: dict[str, Any]) -> Any:
        self.complaints[values["complaint_id"]] = row_of(values, complaints_t)
        return _copy(self.complaints[values["complaint_id"]])

    def complaints_due(self, now: datetime, count: int) -> list[Any]:
        due = [
            c
            for c in self.complaints.values()
            if c.status == domain.COMPLAINT_PENDING and c.next_attempt_at <= now
        ]
        return [_copy(c) for c in sorted(due, key=lambda c: c.next_attempt_at)][:count]

    def claim_complaints(
        self, complaint_ids: list[str], now: datetime, lease_until: datetime
    ) -> list[Any]:
        claimed = []
        for complaint_id in complaint_ids:
            row = self.complaints[complaint_id]
            if row.status == domain.COMPLAINT_PENDING and row.next_attempt_at <= now:
                row.next_attempt_at = lease_until
                claimed.append(_copy(row))
        return claimed

    def complaint_delivered(self, complaint_id: str, now: datetime) -> None:
        row = self.complaints[complaint_id]
        if row.status == domain.COMPLAINT_PENDING:
            row.status, row.delivered_at, row.last_error = domain.COMPLAINT_DELIVERED, now, None
            row.attempts += 1

    def complaint_failed(self, complaint_id, attempts, next_attempt_at, error) -> None:
        row = self.complaints[complaint_id]
        if row.status == domain.COMPLAINT_PENDING:
            row.attempts, row.next_attempt_at, row.last_error = attempts, next_attempt_at, error
