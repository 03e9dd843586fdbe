"""Stations: create, read, update, list, nearby search and federated replicas."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from stations_testdata import FANGJIAHETOU, station_data

from pioneer import geo, ids
from pioneer.testing.fixtures import wait_for
from pioneer.testing.moments import SATURDAY, WEDNESDAY, next_local


def test_create_get_update_station(stations, admin, spy):
    watch = spy("stations")
    created = admin.call("stations", "create_station", station_data())
    assert created["id"].startswith("cixi-st-") and created["meets_standard"] is True
    assert created["created_at"].endswith("+08:00")
    assert created["location"] == FANGJIAHETOU
    assert admin.call("stations", "get_station", created["id"]) == created

    updated = admin.call(
        "stations",
        "update_station",
        created["id"],
        {"standard": {"system": False}, "services": ["haircut"], "name": "方家河头号"},
    )
    assert updated["meets_standard"] is False and updated["standard"]["venue"] is True
    assert updated["services"] == ["haircut"] and updated["name"] == "方家河头号"
    event = watch.wait_for("station_updated")[0]
    assert (
        event["city"] == "cixi"
        and event["data"]["version"] == 2
        and event["data"]["meets_standard"] is False
    )
    assert watch.of_type("station_created")[0]["data"]["station_id"] == created["id"]


def test_station_roles_and_cities(stations, rpc, token):
    for authorization, expected in [
        (token("volunteer", "cixi"), "Forbidden"),
        (token("station_manager", "cixi"), "Forbidden"),
        (token("admin", "haining"), "Forbidden"),
    ]:
        with pytest.raises(RemoteError) as excinfo:
            rpc(authorization).call("stations", "create_station", station_data())
        assert excinfo.value.exc_type == expected
    with pytest.raises(RemoteError) as excinfo:
        rpc(token("admin", "*")).call("stations", "create_station", station_data(city="ningbo"))
    assert excinfo.value.exc_type == "WrongCity" and "ningbo" in str(excinfo.value.value)

    created = rpc(token("admin", "cixi")).call("stations", "create_station", station_data())
    manager = rpc(token("station_manager", "cixi"))
    assert (
        manager.call("stations", "update_station", created["id"], {"kind": "village"})["kind"]
        == "village"
    )
    with pytest.raises(RemoteError) as excinfo:
        rpc(token("station_manager", "haining")).call(
            "stations", "update_station", created["id"], {"kind": "town"}
        )
    assert excinfo.value.exc_type == "Forbidden"
    assert (
        rpc(token("ops", "jiaxing")).call("stations", "get_station", created["id"])["id"]
        == created["id"]
    )


def test_unknown_service_code_names_the_field(stations, admin):
    with pytest.raises(RemoteError) as excinfo:
        admin.call("stations", "create_station", station_data(services=["haircut", "juggling"]))
    assert excinfo.value.exc_type == "ValidationError"
    assert str(excinfo.value.value).startswith("station.services.1")


def test_missing_station_is_not_found(stations, admin):
    with pytest.raises(RemoteError) as excinfo:
        admin.call("stations", "get_station", ids.new_id("cixi", "st"))
    assert excinfo.value.exc_type == "NotFound"


def test_list_stations_filters_and_pages(stations, admin, rpc, token):
    made = [
        admin.call(
            "stations",
            "create_station",
            station_data(
                name=f"驿站{i}",
                district="古塘街道" if i % 2 else "龙山镇",
                services=["haircut"] if i % 3 == 0 else ["repair"],
            ),
        )
        for i in range(7)
    ]
    rpc(token("admin", "haining")).call(
        "stations", "create_station", station_data(city="haining", name="海宁驿站")
    )
    all_cixi, cursor = [], None
    while True:
        page = admin.call("stations", "list_stations", city="cixi", limit=3, cursor=cursor)
        all_cixi += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [s["id"] for s in all_cixi] == sorted(s["id"] for s in made)
    gutang = admin.call("stations", "list_stations", city="cixi", district="古塘街道")["items"]
    assert {s["name"] for s in gutang} == {"驿站1", "驿站3", "驿站5"}
    haircut = admin.call("stations", "list_stations", city="cixi", service="haircut")["items"]
    assert {s["name"] for s in haircut} == {"驿站0", "驿站3", "驿站6"}
    assert len(admin.call("stations", "list_stations")["items"]) == 8


def test_list_stations_open_at(stations, admin):
    weekend = [{"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "08:00", "end": "17:00"}]
    open_ids = {
        admin.call("stations", "create_station", station_data(opening_hours=weekend))["id"]
        for _ in range(3)
    }
    for _ in range(4):
        admin.call("stations", "create_station", station_data(opening_hours=[]))
    found, cursor = [], None
    while True:
        page = admin.call(
            "stations",
            "list_stations",
            city="cixi",
            open_at=next_local(SATURDAY, "10:00"),
            limit=2,
            cursor=cursor,
        )
        found += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {s["id"] for s in found} == open_ids


def test_search_nearby_sorted_within_radius(stations, admin):
    lat, lon = FANGJIAHETOU["lat"], FANGJIAHETOU["lon"]
    offsets = [0.001, 0.003, 0.006, 0.02]  # ~110 m, ~330 m, ~670 m, ~2.2 km north
    made = [
        admin.call(
            "stations",
            "create_station",
            station_data(
                name=f"n{i}",
                location={"lat": lat + d, "lon": lon},
                services=["haircut"] if i != 1 else ["repair"],
            ),
        )
        for i, d in enumerate(offsets)
    ]
    result = admin.call("stations", "search_nearby", {"lat": lat, "lon": lon}, radius_m=1000)
    assert [s["id"] for s in result["items"]] == [m["id"] for m in made[:3]]
    distances = [s["distance_m"] for s in result["items"]]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(geo.distance_m(lat, lon, lat + 0.001, lon), abs=1)
    haircut = admin.call(
        "stations", "search_nearby", {"lat": lat, "lon": lon}, radius_m=1000, service="haircut"
    )
    assert [s["name"] for s in haircut["items"]] == ["n0", "n2"]
    assert (
        len(
            admin.call("stations", "search_nearby", {"lat": lat, "lon": lon}, 5000, limit=2)[
                "items"
            ]
        )
        == 2
    )
    closed = admin.call(
        "stations",
        "search_nearby",
        {"lat": lat, "lon": lon},
        1000,
        open_at=next_local(WEDNESDAY, "10:00"),
    )  # Wednesday morning: all closed
    assert closed["items"] == []


def test_federated_cities_stations_are_searchable_but_read_only(
    stations, admin, dispatch_event, rpc, token
):
    foreign_id = ids.new_id("ningbo", "st")
    near = {"lat": FANGJIAHETOU["lat"] + 0.002, "lon": FANGJIAHETOU["lon"]}
    data = {
        "station_id": foreign_id,
        "city": "ningbo",
        "name": "宁波驿站",
        "district": "海曙区",
        "address": "x",
        "location": near,
        "kind": "market",
        "services": ["haircut"],
        "opening_hours": [],
        "standard": dict.fromkeys(["venue", "identity", "team", "projects", "system"], True),
        "meets_standard": True,
        "version": 1,
    }
    dispatch_event("stations", "station_created", "ningbo", data)
    found = wait_for(
        lambda: [
            s
            for s in admin.call("stations", "search_nearby", FANGJIAHETOU, 1000)["items"]
            if s["id"] == foreign_id
        ]
    )
    assert found[0]["city"] == "ningbo" and found[0]["distance_m"] > 200
    # An older event arriving late changes nothing; a newer one does.
    dispatch_event("stations", "station_updated", "ningbo", {**data, "name": "newer", "version": 3})
    dispatch_event("stations", "station_updated", "ningbo", {**data, "name": "older", "version": 2})
    wait_for(lambda: admin.call("stations", "get_station", foreign_id)["name"] == "newer")
    with pytest.raises(RemoteError) as excinfo:
        rpc(token("admin", "*")).call("stations", "update_station", foreign_id, {"name": "x"})
    assert excinfo.value.exc_type == "WrongCity" and "ningbo" in str(excinfo.value.value)
    with pytest.raises(RemoteError) as excinfo:
        admin.call("stations", "list_posts", foreign_id)
    assert excinfo.value.exc_type == "WrongCity"
