import random

import pytest

from pioneer import geo

HANGZHOU_BAY = (30.25, 121.25)


def test_distance_of_a_known_pair():
    # Cixi town centre to Ningbo centre, about 48 km.
    assert geo.distance_m(30.170, 121.266, 29.868, 121.544) == pytest.approx(43_000, rel=0.1)
    assert geo.distance_m(30.0, 120.0, 30.0, 120.0) == 0


def test_cell_ranges_cover_every_point_in_the_circle():
    rng = random.Random(7)
    for radius in (50, 300, 1000, 5000, 20_000):
        lat0, lon0 = HANGZHOU_BAY
        ranges = geo.covering_ranges(lat0, lon0, radius)
        assert len(ranges) <= 16
        for _ in range(2000):
            lat = lat0 + rng.uniform(-0.3, 0.3)
            lon = lon0 + rng.uniform(-0.3, 0.3)
            if geo.distance_m(lat0, lon0, lat, lon) <= radius:
                cell = geo.geocell(lat, lon)
                assert any(lo <= cell < hi for lo, hi in ranges), (radius, lat, lon)


def test_ranges_are_tight_enough_to_prune():
    # A 1 km query must not read the whole city: the covered area stays a small multiple of the circle.
    ranges = geo.covering_ranges(*HANGZHOU_BAY, 1000)
    covered = sum(hi - lo for lo, hi in ranges)
    cell_area_m2 = (180 / 2**26 * 111_320) * (360 / 2**26 * 111_320 * 0.864)
    assert covered * cell_area_m2 < 12 * 3.1416 * 1000**2


def test_geocell_is_stable_and_clamped():
    assert geo.geocell(30.0, 120.0) == geo.geocell(30.0, 120.0)
    assert 0 <= geo.geocell(90, 180) < 2**52
    assert geo.geocell(-90, -180) == 0


def test_within_cells_probes_the_index_per_range_without_statistics():
    """Each covering range is one seek on (skill, geocell) even before ANALYZE has run; with the
    skill outside the ranges SQLite would read every row of the skill."""
    import random

    from sqlalchemy import (
        BigInteger,
        Column,
        Index,
        MetaData,
        String,
        Table,
        create_engine,
        insert,
        select,
    )

    from pioneer.db import refresh_statistics

    metadata = MetaData()
    located = Table(
        "located",
        metadata,
        Column("id", String(8), primary_key=True),
        Column("skill", String(16)),
        Column("geocell", BigInteger),
        Index("ix_located_skill_geocell", "skill", "geocell"),
    )
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    rng = random.Random(7)
    points = [(rng.uniform(30.0, 30.3), rng.uniform(121.0, 121.5)) for _ in range(2000)]
    rows = [
        {"id": f"p{n}", "skill": ["haircut", "repair"][n % 2], "geocell": geo.geocell(lat, lon)}
        for n, (lat, lon) in enumerate(points)
    ]
    ranges = geo.covering_ranges(30.15, 121.25, 2000)
    query = select(located.c.id).where(
        geo.within_cells(
            located.c.geocell, geo.cell_parameters(len(ranges)), located.c.skill == "repair"
        )
    )
    expected = {
        r["id"]
        for r in rows
        if r["skill"] == "repair" and any(lo <= r["geocell"] < hi for lo, hi in ranges)
    }
    with engine.begin() as conn:
        conn.execute(insert(located), rows)
    with engine.connect() as conn:
        assert set(conn.execute(query, geo.bind_cells(ranges)).scalars()) == expected
        compiled = query.compile(engine)
        values = compiled.construct_params(geo.bind_cells(ranges))
        plan = " ".join(
            str(step[3])
            for step in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(compiled),
                tuple(values[name] for name in compiled.positiontup),
            )
        )
    assert "MULTI-INDEX OR" in plan and "geocell>? AND geocell<?" in plan
    refresh_statistics(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_stat1").scalar() > 0
