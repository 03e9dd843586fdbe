"""Dispatch in a dense town, on SQLite and PostgreSQL: the circle is searched from the inside
out, so a request reads the candidates of a few hundred metres instead of every volunteer with
the skill in its 2.5 km service circle (at a province's 1.5 million volunteers, some 10,000 rows
and 300-800 ms a request: ``python -m bench.plans``), and still offers exactly the nearest."""

from __future__ import annotations

import math
import random

import pytest
from sqlalchemy import insert

from pioneer import auth, clock, geo, ids, replica_skills
from pioneer.catalog import Catalog
from pioneer.db import UnitOfWork, make_engine, migrate, read_engine
from pioneer.replica import volunteer_replica
from wishes.schemas import RequestIn
from wishes.service import WishesService
from wishes.store import WishesStore
from wishes.usecases import requests

CENTRE = (30.1690, 121.2660)  # Zhangqi town, Cixi
CROWD = 2000  # repairers within 1.5 km: some 80 in the first 300 m circle
ADMIN = auth.Caller("test-admin", "cixi", frozenset({auth.ADMIN}))
DISPATCH = requests.Dispatch(lambda city: (10, 15), 120)  # a 2.5 km circle


def _around(rng: random.Random, metres: float) -> tuple[float, float]:
    distance, angle = metres * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    lat = CENTRE[0] + distance * math.cos(angle) / 111_195
    lon = CENTRE[1] + distance * math.sin(angle) / (111_195 * math.cos(math.radians(CENTRE[0])))
    return lat, lon


@pytest.fixture
def town(db_url):
    engine = make_engine(db_url, 2)
    migrate(engine, WishesService.migrations)
    rng = random.Random(11)
    now = clock.utcnow()
    rows = []
    for n in range(CROWD):
        lat, lon = _around(rng, 1500)
        rows.append(
            {
                "volunteer_id": ids.new_id("cixi", "vol"),
                "city": "cixi",
                "status": "suspended" if n % 10 == 0 else "active",
                "suspended_until": None,
                "skills": ["repair", "errands"] if n % 2 else ["repair"],
                "lat": lat,
                "lon": lon,
                "version": 1,
                "updated_at": now,
            }
        )
    # Alone 2.4 km east: the only plumber, for a search that must reach the circle's edge.
    lone = ids.new_id("cixi", "vol")
    lon = CENTRE[1] + 2400 / (111_195 * math.cos(math.radians(CENTRE[0])))
    rows.append({**rows[1], "volunteer_id": lone, "skills": ["plumbing_electrical"], "lon": lon})
    rows[-1]["lat"] = CENTRE[0]
    with engine.begin() as conn:
        conn.execute(insert(volunteer_replica), rows)
        replica_skills.rebuild(conn, [row["volunteer_id"] for row in rows])
    yield engine, rows, lone
    engine.dispose()


def _nearest(rows, skill: str, count: int) -> list[str]:
    eligible = [r for r in rows if r["status"] == "active" and skill in r["skills"]]
    eligible.sort(key=lambda r: (geo.distance_m(*CENTRE, r["lat"], r["lon"]), r["volunteer_id"]))
    return [r["volunteer_id"] for r in eligible[:count]]


@pytest.fixture
def asked(monkeypatch) -> list[tuple[float, int]]:
    """``(radius_m, rows)`` of every dispatch search, in order."""
    searches: list[tuple[float, int]] = []
    candidates = WishesStore.dispatch_candidates

    def spied(self, request_id, skill, lat, lon, radius_m, now):
        found = candidates(self, request_id, skill, lat, lon, radius_m, now)
        searches.append((radius_m, len(found)))
        return found

    monkeypatch.setattr(WishesStore, "dispatch_candidates", spied)
    return searches


def _raise(engine, **extra):
    request = RequestIn.model_validate(
        {
            "city": "cixi",
            "service": "repair",
            "description": "需要上门",
            "location": {"lat": CENTRE[0], "lon": CENTRE[1]},
            "address": "某街道1号",
            "requester": {"name": "李大伯", "phone": "13900001111"},
            **extra,
        }
    )
    uow = UnitOfWork(engine, ["cixi"], store=WishesStore, reads=read_engine(engine))
    return requests.raise_request(uow, Catalog(), DISPATCH, ADMIN, request)


def test_the_nearest_from_the_first_circle(town, asked):
    engine, rows, _ = town
    made = _raise(engine)
    assert made.offered_to == _nearest(rows, "repair", 1)[0]
    # One search of 300 m: a page of the town, not its 1,800 eligible repairers.
    assert [radius for radius, _ in asked] == [300] and asked[0][1] < CROWD // 10
    asked.clear()
    emergency = _raise(engine, urgency="emergency")
    assert emergency.offers == _nearest(rows, "repair", 3)
    assert [radius for radius, _ in asked] == [300]


def test_a_lone_volunteer_at_the_edge_is_still_found(town, asked):
    engine, _, lone = town
    made = _raise(engine, service="plumbing_electrical")
    assert made.offered_to == lone
    assert [radius for radius, _ in asked] == [300, 1200, 2500]
