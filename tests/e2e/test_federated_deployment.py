"""``pioneer up --federated``: one deployment per city, events federated between their vhosts."""

from __future__ import annotations

import json

import pytest
from nameko.exceptions import RemoteError

from pioneer import ids
from pioneer.testing.fixtures import volunteer_event
from pioneer.testing.moments import iso_from_now

from .conftest import poll

# 盐官古城 (Yanguan old town, Haining): a station near the tidal bore viewing point.
YANGUAN = {"lat": 30.4010, "lon": 120.5310}


def station(city: str, name: str, location: dict) -> dict:
    return {
        "name": name,
        "city": city,
        "district": "盐官镇",
        "address": "盐官古城景区",
        "location": location,
        "kind": "scenic_spot",
        "services": ["tourist_info"],
        "opening_hours": [{"rrule": "FREQ=DAILY", "start": "00:00", "end": "23:59"}],
        "standard": {
            "venue": True,
            "identity": True,
            "team": True,
            "projects": True,
            "system": True,
        },
    }


def test_status_lists_three_deployments(federation):
    cli, _ = federation
    report = json.loads(cli("status", "--json").stdout)
    assert [d["name"] for d in report["deployments"]] == ["cixi", "haining", "jiaxing"]
    for entry in report["deployments"]:
        assert entry["cities"] == [entry["name"]]
        assert "***" in entry["amqp_uri"]  # each city's own broker user; its password is not shown
        assert all(service["ok"] for service in entry["services"].values())


def test_writes_go_home_and_reads_follow_through_federation(federation):
    _, deployments = federation
    cixi, haining = deployments["cixi"], deployments["haining"]
    with haining.proxy(haining.token("admin", "haining")) as rpc:
        made = rpc.stations.create_station(station=station("haining", "盐官观潮驿站", YANGUAN))
    # A platform-wide admin may write haining's records, but only at haining's deployment.
    with cixi.proxy(cixi.token("admin", "*")) as rpc:
        with pytest.raises(RemoteError) as wrong:
            rpc.stations.create_station(station=station("haining", "别处", YANGUAN))
        assert wrong.value.exc_type == "WrongCity" and "haining" in str(wrong.value)

        def seen_from_cixi():
            found = rpc.stations.search_nearby(location=YANGUAN, radius_m=500)["items"]
            return [s for s in found if s["id"] == made["id"]]

        [replica] = poll(seen_from_cixi)
        assert replica["city"] == "haining" and replica["distance_m"] < 1


def test_haining_volunteer_checks_in_at_a_cixi_activity(federation):
    _, deployments = federation
    cixi, haining = deployments["cixi"], deployments["haining"]
    volunteer_id = ids.new_id("haining", "vol")
    # The volunteer's home deployment announces it; cixi learns it through federation.
    haining.publish("volunteers", "volunteer_registered", "haining", volunteer_event(volunteer_id))
    with cixi.proxy(cixi.token("admin", "cixi")) as rpc:
        made = rpc.stations.create_station(
            station=station("cixi", "方家河头驿站", {"lat": 30.2113, "lon": 121.4398})
        )
        activity = rpc.stations.create_activity(
            station_id=made["id"],
            activity={
                "title": "义剪",
                "category": "haircut",
                "starts_at": iso_from_now(minutes=-30),
                "ends_at": iso_from_now(hours=3),
                "points": 10,
                "capacity": 30,
            },
        )
        code = rpc.stations.issue_checkin_code(activity_id=activity["id"])["code"]
    with cixi.proxy(cixi.token("volunteer", "haining", sub=volunteer_id)) as rpc:

        def checked_in():
            try:
                return rpc.stations.check_in(code=code, volunteer_id=volunteer_id)
            except RemoteError as exc:
                if exc.exc_type == "NotFound":  # federation has not delivered the event yet
                    return None
                raise

        result = poll(checked_in)
    assert result["volunteer_id"] == volunteer_id and result["points"] == 10
    assert result["hours"] == 3.5
    # Points are kept at the volunteer's home deployment (haining got its federated copy of
    # the check-in; cixi's points ignored it), and cixi's all-cities board learns of them from
    # haining's federated points_awarded.
    with haining.proxy(haining.token("admin", "haining")) as rpc:
        poll(lambda: rpc.points.balance(volunteer_id=volunteer_id)["balance"] == 10)
        [entry] = rpc.points.history(volunteer_id=volunteer_id)["items"]
        assert entry["city"] == "haining" and entry["hours"] == 3.5
    with cixi.proxy(cixi.token("admin", "*")) as rpc:
        with pytest.raises(RemoteError) as elsewhere:
            rpc.points.balance(volunteer_id=volunteer_id)
        assert elsewhere.value.exc_type == "WrongCity"

        def on_cixi_board():
            board = rpc.points.leaderboard(period="all", limit=500)["items"]
            return [i for i in board if i["volunteer_id"] == volunteer_id]

        [ranked] = poll(on_cixi_board)
        assert ranked["city"] == "haining" and ranked["points"] == 10
        assert rpc.points.leaderboard(city="cixi")["items"] == []
