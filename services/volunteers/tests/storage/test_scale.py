"""find_volunteers at a real city's size (150,000 volunteers): every query is an index search
(query plans checked on SQLite and PostgreSQL), and skill + radius stays fast."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from volunteers_testdata import HAINING_CENTRE, synthetic_volunteers

import volunteers
from pioneer import bulk, geo
from pioneer.db import make_engine, migrate
from volunteers import store
from volunteers.store import VolunteersStore
from volunteers.usecases import search

CITY_SIZE = 150_000


@pytest.fixture(scope="module")
def city_rows():
    rows = synthetic_volunteers(CITY_SIZE)
    return rows, [skill for row in rows for skill in store.skill_rows(_Row(row))]


@pytest.fixture
def city(db_url, city_rows):
    engine = make_engine(db_url, 2)
    migrate(engine, Path(volunteers.__file__).parent / "migrations")
    rows, skills = city_rows
    with engine.begin() as conn:
        bulk.insert_rows(conn, store.volunteers_t, rows)
        bulk.insert_rows(conn, store.skills_t, skills)
        conn.execute(text("ANALYZE"))
    yield engine
    engine.dispose()


class _Row:
    def __init__(self, data: dict) -> None:
        self.__dict__.update(data)


def plan_of(session: Session, query) -> str:
    """The query plan as text; ``Seq Scan``/``SCAN`` lines mean a full scan."""
    dialect = session.get_bind().dialect
    compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    if dialect.name == "sqlite":
        rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        return "\n".join(row[-1] for row in rows)
    rows = session.execute(text(f"EXPLAIN {compiled}")).all()
    return "\n".join(row[0] for row in rows)


def assert_indexed(plan: str) -> None:
    for line in plan.splitlines():
        stripped = line.strip().lstrip("->").strip()
        assert not stripped.startswith("SCAN"), plan  # SQLite: a full table or index scan
        assert "Seq Scan" not in stripped, plan  # PostgreSQL


def test_find_volunteers_at_city_scale(city):
    lat0, lon0 = HAINING_CENTRE
    ranges = geo.covering_ranges(lat0, lon0, 3000)
    now = datetime.now(UTC)
    with Session(city) as session:
        queries = {
            "near with skill": store.nearby_query(
                "haining", "elderly_care", "active", ranges, False
            ),
            "near with skill and availability": store.nearby_query(
                "haining", "elderly_care", "active", ranges, True
            ),
            "near": store.nearby_query("haining", None, "active", ranges, False),
            "by id with skill": store.by_id_query("haining", "repair", "suspended")[0].limit(51),
            "by id": store.by_id_query("haining", None, "active")[0].limit(51),
            "due suspensions": store.due_suspensions_query(now, 500),
        }
        for name, query in queries.items():
            plan = plan_of(session, query)
            assert_indexed(plan)
            assert "ix_" in plan or "Index" in plan, (name, plan)

        # Skill + radius, as a dispatcher asks it: p99 of the whole page (search + load).
        rng = random.Random(3)
        timings, sizes = [], []
        for _ in range(60):
            near = (lat0 + rng.uniform(-0.1, 0.1), lon0 + rng.uniform(-0.1, 0.1))
            skill = rng.choice(["elderly_care", "repair", "patrol", "medical"])
            started = time.perf_counter()
            found, _ = search.search_near(
                VolunteersStore(session), "haining", skill, "active", near, 3000.0, None, 20, None
            )
            rows = VolunteersStore(session).volunteers_among([f.id for f in found])
            timings.append(time.perf_counter() - started)
            sizes.append(len(rows))
        timings.sort()
        p99 = timings[int(len(timings) * 0.99) - 1]
        print(
            f"\nskill + 3 km radius at {CITY_SIZE} volunteers: p50 {timings[30] * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms ({session.get_bind().dialect.name})"
        )
        assert min(sizes) == 20  # a full page everywhere in the city
        # The bench asks for 30 ms over RPC; here, with other tests sharing two cores, allow slack.
        assert p99 < 0.15, timings

        # Paging far from the centre of a big radius stays proportional to the page, not the city.
        after = None
        for _ in range(5):
            found, after = search.search_near(
                VolunteersStore(session),
                "haining",
                None,
                "active",
                (lat0, lon0),
                50_000.0,
                None,
                100,
                after,
            )
            after = (after[0], after[1])
        assert found[-1].distance_m > found[0].distance_m
