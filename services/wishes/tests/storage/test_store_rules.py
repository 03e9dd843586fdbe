"""The store's SQL applies exactly the rules the domain declares, on SQLite and PostgreSQL.

For every action, every state, a deadline ahead or passed, and a wish held by the acting
volunteer, by another or by nobody, the conditional update built from ``domain.TRANSITIONS``
changes the wish if and only if ``domain.allows`` says the action may happen; the expiry
timer's statements take exactly the wishes ``domain.is_overdue`` names; a request's change
goes through exactly from the states ``domain.REQUEST_TRANSITIONS`` lists.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from pioneer import clock, geo, ids
from pioneer.db import make_engine, migrate
from wishes import domain
from wishes.service import WishesService
from wishes.store import WishesStore

ACTOR, OTHER = ids.new_id("cixi", "vol"), ids.new_id("cixi", "vol")
NOW = clock.utcnow().replace(microsecond=0)
DEADLINES = {"ahead": NOW + timedelta(hours=1), "passed": NOW - timedelta(hours=1), "now": NOW}
HOLDERS = (None, ACTOR, OTHER)


@pytest.fixture
def store(db_url):
    engine = make_engine(db_url, 2)
    migrate(engine, WishesService.migrations)
    with Session(engine) as session:
        yield WishesStore(session)
        session.rollback()
    engine.dispose()


def add_wish(store, status, deadline, claimed_by):
    wish_id = ids.new_id("cixi", "wish")
    store.add_wish(
        {
            "id": wish_id,
            "city": "cixi",
            "status": status,
            "title": "t",
            "description": "d",
            "category": "repair",
            "beneficiary": {},
            "lat": 30.2,
            "lon": 121.4,
            "geocell": geo.geocell(30.2, 121.4),
            "deadline": deadline,
            "submitted_by": "test",
            "claimed_by": claimed_by,
            "version": 1,
            "created_at": NOW,
            "updated_at": NOW,
        }
    )
    return domain.WishState(wish_id, status, deadline, claimed_by)


GRID = list(itertools.product(domain.STATUSES, DEADLINES.values(), HOLDERS))


def test_each_change_goes_through_exactly_when_the_domain_allows_it(store):
    disagree, allowed = [], set()
    for action, step in sorted(domain.TRANSITIONS.items()):
        for wish in [add_wish(store, *cell) for cell in GRID]:
            row = store.change_wish(wish.id, action, NOW, {}, actor=ACTOR)
            expected = domain.allows(action, wish, NOW, ACTOR)
            if (row is not None) != expected or (row is not None and row.status != step.target):
                holder = {None: "nobody", ACTOR: "actor", OTHER: "another"}[wish.claimed_by]
                disagree.append((action, wish.status, wish.deadline - NOW, holder))
            if expected:
                allowed.add(action)
    assert disagree == []
    assert allowed == set(domain.TRANSITIONS)  # every action was tried where it may happen


def test_expiry_takes_exactly_the_overdue_wishes(store):
    wishes = [add_wish(store, *cell) for cell in GRID]
    overdue = {w.id for w in wishes if domain.is_overdue(w.status, w.deadline, NOW)}
    assert overdue and set(store.overdue_wishes(NOW, 1000)) == overdue
    expired = store.expire_wishes([w.id for w in wishes], NOW)
    assert {row.id for row in expired} == overdue
    assert {row.status for row in expired} == {domain.EXPIRED}
    assert store.overdue_wishes(NOW, 1000) == []


def test_each_request_change_goes_through_from_its_declared_states(store):
    for action, step in sorted(domain.REQUEST_TRANSITIONS.items()):
        assert _applied_from(store, action) == step.sources, action


def _applied_from(store, action):
    applied = set()
    for status in domain.REQUEST_STATUSES:
        request_id = ids.new_id("cixi", "req")
        store.add_request(
            {
                "id": request_id,
                "city": "cixi",
                "status": status,
                "service": "repair",
                "urgency": "normal",
                "description": "d",
                "address": "a",
                "requester": {},
                "lat": 30.2,
                "lon": 121.4,
                "raised_by": "test",
                "version": 1,
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        row = store.change_request(request_id, action, NOW, {})
        if row is not None:
            assert row.status == domain.REQUEST_TRANSITIONS[action].target and row.version == 2
            applied.add(status)
    return applied
