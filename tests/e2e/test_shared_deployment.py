"""``pioneer up`` (shared mode) and every stations method over RPC, as an outside system calls."""

from __future__ import annotations

import json
import urllib.request

import pytest
from nameko.exceptions import RemoteError

from pioneer import ids
from pioneer.testing.fixtures import volunteer_event
from pioneer.testing.moments import iso_from_now

from .conftest import poll

STATION = {
    "name": "西塘古镇先锋驿站",
    "city": "jiaxing",
    "district": "嘉善县",
    "address": "西塘镇南苑路",
    "location": {"lat": 30.9410, "lon": 120.8880},
    "kind": "scenic_spot",
    "services": ["tourist_info", "haircut"],
    "opening_hours": [{"rrule": "FREQ=DAILY", "start": "08:30", "end": "17:30"}],
    "standard": {"venue": True, "identity": True, "team": True, "projects": True, "system": True},
}


def http_get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def test_status_lists_every_service_healthy(shared):
    cli, deployment = shared
    result = cli("status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    [entry] = report["deployments"]
    assert entry["name"] == "shared"
    assert entry["cities"] == ["cixi", "haining", "jiaxing"]
    assert entry["amqp_uri"].startswith("amqp://")
    stations = entry["services"]["stations"]
    assert stations == {
        "http": f"http://127.0.0.1:{deployment.base_port}",
        "ok": True,
        "pid": stations["pid"],
    }
    assert isinstance(stations["pid"], int)


def test_ping_needs_no_token(shared):
    _, deployment = shared
    with deployment.proxy() as rpc:
        pong = rpc.stations.ping()
    assert pong["service"] == "stations"
    assert pong["cities"] == ["cixi", "haining", "jiaxing"]
    assert isinstance(pong["version"], str)


def test_every_stations_method_over_rpc(shared):
    _, deployment = shared
    admin = deployment.token("admin", "jiaxing")
    with deployment.proxy(admin) as rpc:
        station = rpc.stations.create_station(station=STATION)
        assert station["meets_standard"] is True and ids.city_of(station["id"]) == "jiaxing"
        assert rpc.stations.get_station(station_id=station["id"])["name"] == STATION["name"]
        updated = rpc.stations.update_station(
            station_id=station["id"], changes={"standard": {**STATION["standard"], "team": False}}
        )
        assert updated["meets_standard"] is False
        listed = rpc.stations.list_stations(city="jiaxing", service="haircut")
        assert [s["id"] for s in listed["items"]] == [station["id"]]
        assert listed["next_cursor"] is None
        near = rpc.stations.search_nearby(
            location={"lat": 30.9420, "lon": 120.8890}, radius_m=1000, service="tourist_info"
        )
        assert [s["id"] for s in near["items"]] == [station["id"]]
        assert 0 < near["items"][0]["distance_m"] < 200

        post = rpc.stations.add_post(
            station_id=station["id"],
            post={"title": "游客咨询", "category": "tourist_info", "capacity": 1},
        )
        volunteer_id = ids.new_id("jiaxing", "vol")
        deployment.publish(
            "volunteers", "volunteer_registered", "jiaxing", volunteer_event(volunteer_id)
        )

        def claimed():
            try:
                return rpc.stations.claim_post(post_id=post["id"], volunteer_id=volunteer_id)
            except RemoteError as exc:
                if exc.exc_type == "NotFound":  # the replica has not seen the event yet
                    return None
                raise

        assert poll(claimed)["claimed"] == 1
        with pytest.raises(RemoteError) as second:
            rpc.stations.claim_post(post_id=post["id"], volunteer_id=volunteer_id)
        assert second.value.exc_type == "Conflict"
        [listed_post] = rpc.stations.list_posts(station_id=station["id"])["items"]
        assert listed_post["claimed"] == 1
        assert (
            rpc.stations.release_post(post_id=post["id"], volunteer_id=volunteer_id)["claimed"] == 0
        )

        activity = rpc.stations.create_activity(
            station_id=station["id"],
            activity={
                "title": "古镇导览",
                "category": "tourist_info",
                "starts_at": iso_from_now(hours=-1),
                "ends_at": iso_from_now(hours=1, minutes=30),
                "points": 5,
                "capacity": 20,
            },
        )
        code = rpc.stations.issue_checkin_code(activity_id=activity["id"], valid_minutes=30)
        checked = rpc.stations.check_in(code=code["code"], volunteer_id=volunteer_id)
        assert {k: checked[k] for k in ("activity_id", "volunteer_id", "points", "hours")} == {
            "activity_id": activity["id"],
            "volunteer_id": volunteer_id,
            "points": 5,
            "hours": 2.5,
        }
        assert checked["station_id"] == station["id"]
        with pytest.raises(RemoteError) as again:
            rpc.stations.check_in(code=code["code"], volunteer_id=volunteer_id)
        assert again.value.exc_type == "Conflict"
        with pytest.raises(RemoteError) as forged:
            rpc.stations.check_in(code=code["code"][:-2] + "xx", volunteer_id=volunteer_id)
        assert forged.value.exc_type == "ValidationError"


def test_contract_errors_reach_the_caller(shared):
    _, deployment = shared
    with deployment.proxy() as anonymous:
        with pytest.raises(RemoteError) as missing:
            anonymous.stations.list_stations(city="cixi")
        assert missing.value.exc_type == "Unauthorized"
    with deployment.proxy(deployment.token("volunteer", "cixi")) as volunteer:
        with pytest.raises(RemoteError) as forbidden:
            volunteer.stations.create_station(station={**STATION, "city": "cixi"})
        assert forbidden.value.exc_type == "Forbidden"
    with deployment.proxy(deployment.token("admin", "cixi")) as admin:
        with pytest.raises(RemoteError) as bad:
            admin.stations.search_nearby(location={"lat": 95, "lon": 0})
        assert bad.value.exc_type == "ValidationError" and "location.lat" in str(bad.value)
        with pytest.raises(RemoteError) as unknown:
            admin.stations.get_station(station_id=ids.new_id("cixi", "st"))
        assert unknown.value.exc_type == "NotFound"


def test_metrics_health_and_logs(shared):
    _, deployment = shared
    with deployment.proxy(deployment.token("ops", "cixi")) as rpc:
        rpc.stations.list_stations(city="cixi")
    status, health = http_get(f"http://127.0.0.1:{deployment.base_port}/health")
    assert status == 200 and json.loads(health)["status"] == "ok"

    def counted():
        text = deployment.metrics("stations")  # the replica that took the call counted it
        return 'method="list_stations",outcome="ok",service="stations"' in text and text

    text = poll(counted)
    assert "pioneer_rpc_duration_seconds_bucket" in text
    lines = deployment.log_lines("stations")
    calls = [json.loads(line) for line in lines if line.startswith("{") and '"call"' in line]
    assert calls and all(
        call.get("call_id") and call.get("service") == "stations" for call in calls
    )
