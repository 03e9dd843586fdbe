"""Opening-hours rules no evaluation could bound: refused at the edge naming the field, parked
when a peer's event carries one, and never open (and quick) when one is already stored. After
each, stations still answers ``ping`` within a second."""

from __future__ import annotations

import json

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import insert, select, text
from stations_testdata import FANGJIAHETOU, station_data

from pioneer import clock, geo, ids
from pioneer.db import make_engine, migrate
from pioneer.dlq import list_dead_letters
from pioneer.testing.fixtures import wait_for
from pioneer.testing.garbage import (
    HOSTILE_WINDOWS,
    NEVER_OCCURRING_RRULES,
    STORED_GARBAGE,
    UNREADABLE_RRULES,
    answers_ping_within,
)
from pioneer.testing.moments import SATURDAY, next_local
from stations.models import Station
from stations.service import StationsService

UNREADABLE_WINDOWS = [w for w in HOSTILE_WINDOWS if w["rrule"] in UNREADABLE_RRULES]


def refusal(call, *args, **kwargs) -> str:
    with pytest.raises(RemoteError) as refused:
        call(*args, **kwargs)
    assert refused.value.exc_type == "ValidationError"
    return str(refused.value.value)


def test_hostile_rules_are_refused_at_the_edge(stations, admin, count_rows):
    made = admin.call("stations", "create_station", station_data())
    for window in HOSTILE_WINDOWS:
        hours = [{"rrule": "FREQ=WEEKLY;BYDAY=SA", "start": "08:00", "end": "12:00"}, window]
        message = refusal(
            admin.call, "stations", "create_station", station_data(opening_hours=hours)
        )
        assert message.startswith("station.opening_hours.1.rrule:"), message
        message = refusal(
            admin.call, "stations", "update_station", made["id"], {"opening_hours": hours}
        )
        assert message.startswith("changes.opening_hours.1.rrule:"), message
        answers_ping_within(admin, "stations")
    assert count_rows("stations") == 1  # nothing half-written
    assert (
        admin.call("stations", "get_station", made["id"])["opening_hours"]
        == (station_data()["opening_hours"])
    )


def test_rules_stored_earlier_are_never_open_and_cost_nothing(stations, admin, database):
    open_saturday = next_local(SATURDAY, "10:00")
    good = admin.call("stations", "create_station", station_data())
    spoiled = [admin.call("stations", "create_station", station_data()) for _ in range(3)]
    with database.begin() as conn:
        for row in spoiled:
            conn.execute(
                text("UPDATE stations SET opening_hours = :hours WHERE id = :id").bindparams(
                    hours=json.dumps(STORED_GARBAGE), id=row["id"]
                )
            )
    listed = admin.call("stations", "list_stations", city="cixi", open_at=open_saturday)
    assert [s["id"] for s in listed["items"]] == [good["id"]]
    nearby = admin.call("stations", "search_nearby", FANGJIAHETOU, 1000, open_at=open_saturday)
    assert [s["id"] for s in nearby["items"]] == [good["id"]]
    answers_ping_within(admin, "stations")
    # The stored row still reads back, as it is stored.
    assert admin.call("stations", "get_station", spoiled[0]["id"])["opening_hours"] == (
        STORED_GARBAGE
    )


def parked(amqp_uri: str, event_id: str) -> list[dict]:
    return [m for m in list_dead_letters(amqp_uri, "stations") if m["event_id"] == event_id]


def test_a_peers_station_with_a_hostile_rule_is_parked(
    stations, admin, dispatch_event, amqp_uri, count_rows
):
    foreign = ids.new_id("ningbo", "st")
    data = {
        "station_id": foreign,
        "city": "ningbo",
        "name": "宁波驿站",
        "district": "海曙区",
        "address": "x",
        "location": FANGJIAHETOU,
        "kind": "market",
        "services": ["haircut"],
        "opening_hours": [],
        "standard": dict.fromkeys(["venue", "identity", "team", "projects", "system"], True),
        "meets_standard": True,
        "version": 1,
    }
    for window in UNREADABLE_WINDOWS:
        data["opening_hours"] = [window]
        sent = dispatch_event("stations", "station_created", "ningbo", data)
        [message] = wait_for(lambda sent=sent: parked(amqp_uri, sent["event_id"]))
        assert message["attempts"] == 1  # parked at once: no retry can fix it
        assert "data.opening_hours.0" in message["error"], message
        answers_ping_within(admin, "stations")
    # Rules that never occur (again) can be read and cost nothing: the station is kept, and
    # is never open.
    data["opening_hours"] = [w for w in STORED_GARBAGE if w not in UNREADABLE_WINDOWS]
    dispatch_event("stations", "station_created", "ningbo", data)
    wait_for(lambda: count_rows("stations") == 1)
    nearby = admin.call(
        "stations", "search_nearby", FANGJIAHETOU, 1000, open_at=next_local(SATURDAY, "10:00")
    )
    assert nearby["items"] == []


def test_the_upgrade_drops_entries_no_evaluation_can_read(db_url):
    """Rows stored before rules were checked: the entries that cannot be read at all go (they
    were never open); rules that can be read stay, and answer as they did."""
    good = station_data()["opening_hours"]
    over = STORED_GARBAGE[-1]
    never = [w for w in HOSTILE_WINDOWS if w["rrule"] in NEVER_OCCURRING_RRULES]
    kept = [good[0], *never, good[1], over]
    engine = make_engine(db_url, 2)
    try:
        migrate(engine, StationsService.migrations, "0001")
        row = {
            "id": ids.new_id("cixi", "st"),
            "city": "cixi",
            "district": "龙山镇",
            "name": "旧驿站",
            "address": "x",
            "kind": "village",
            "lat": FANGJIAHETOU["lat"],
            "lon": FANGJIAHETOU["lon"],
            "geocell": geo.geocell(FANGJIAHETOU["lat"], FANGJIAHETOU["lon"]),
            "services": [],
            "opening_hours": [good[0], *HOSTILE_WINDOWS, good[1], over, "x"],
            "standard": {},
            "meets_standard": False,
            "home": True,
            "version": 1,
            "created_at": clock.utcnow(),
            "updated_at": clock.utcnow(),
        }
        with engine.begin() as conn:
            conn.execute(insert(Station.__table__), [row, {**row, "id": ids.new_id("cixi", "st")}])
        migrate(engine, StationsService.migrations)
        with engine.connect() as conn:
            stored = conn.execute(select(Station.__table__.c.opening_hours)).scalars().all()
        assert stored == [kept, kept]
    finally:
        engine.dispose()
