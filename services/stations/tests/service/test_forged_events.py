"""A peer cannot overwrite this deployment's stations, nor another city's: a station event is
applied only as its home city's own, within reach of the version held."""

from __future__ import annotations

from stations_testdata import FANGJIAHETOU, station_data

from pioneer import ids
from pioneer.dlq import list_dead_letters
from pioneer.testing.fixtures import wait_for


def station_event(station_id: str, city: str, version: int, name: str) -> dict:
    return {
        "station_id": station_id,
        "city": city,
        "name": name,
        "district": "海曙区",
        "address": "x",
        "location": FANGJIAHETOU,
        "kind": "market",
        "services": ["haircut"],
        "opening_hours": [],
        "standard": dict.fromkeys(["venue", "identity", "team", "projects", "system"], True),
        "meets_standard": True,
        "version": version,
    }


def parked(amqp_uri: str, event_id: str) -> list[dict]:
    return [m for m in list_dead_letters(amqp_uri, "stations") if m["event_id"] == event_id]


def test_a_peer_cannot_overwrite_a_station_of_another_city(
    stations, admin, dispatch_event, amqp_uri
):
    ours = admin.call("stations", "create_station", station_data())
    # A ningbo deployment's copy naming cixi's station as its own.
    forged = dispatch_event(
        "stations", "station_updated", "ningbo", station_event(ours["id"], "ningbo", 99, "假")
    )
    [message] = wait_for(lambda: parked(amqp_uri, forged["event_id"]))
    assert "is not a record of ningbo" in message["error"]
    # A copy claiming to be about cixi from elsewhere is not this deployment's to apply.
    dispatch_event(
        "stations",
        "station_updated",
        "cixi",
        station_event(ours["id"], "cixi", 99, "假"),
        origin_city="ningbo",
    )
    # A peer's own station, with a version far beyond any history, is parked too.
    theirs = ids.new_id("ningbo", "st")
    far = dispatch_event(
        "stations", "station_created", "ningbo", station_event(theirs, "ningbo", 2**31 - 1, "远")
    )
    [message] = wait_for(lambda: parked(amqp_uri, far["event_id"]))
    assert "jumps more than" in message["error"]
    assert admin.call("stations", "get_station", ours["id"]) == ours
