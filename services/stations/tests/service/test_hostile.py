"""The hostile-input suite on stations (``pioneer.testing.hostile``): generated and raw calls
to every method, forged and malformed envelopes to every consumer."""

from __future__ import annotations

from stations_testdata import station_data

from pioneer import ids
from pioneer.testing import hostile
from pioneer.testing.moments import iso_from_now
from stations.service import StationsService


def test_hostile_calls(stations, admin, token, enrol, amqp_uri, database, service_config):
    volunteer_id = enrol(skills=["repair"])
    station = admin.call("stations", "create_station", station_data())
    post = admin.call(
        "stations",
        "add_post",
        station["id"],
        {"title": "值守", "category": "repair", "capacity": 1},
    )
    admin.call("stations", "claim_post", post["id"], volunteer_id)
    activity = admin.call(
        "stations",
        "create_activity",
        station["id"],
        {
            "title": "义诊",
            "category": "repair",
            "starts_at": iso_from_now(hours=-1),
            "ends_at": iso_from_now(hours=2),
            "points": 5,
            "capacity": 10,
        },
    )
    code = admin.call("stations", "issue_checkin_code", activity["id"])["code"]
    known = [volunteer_id, station["id"], post["id"], activity["id"], code]
    known += [ids.new_id("haining", "st"), "慈城镇", "community"]
    tokens = [token("admin"), token("admin"), token("station_manager")]
    tokens += [token("volunteer", sub=volunteer_id), token("ops", "*"), None]
    hostile.run_rpc(
        "stations",
        StationsService,
        amqp_uri,
        database,
        service_config["DATABASE_URL"],
        tokens,
        known,
    )


def test_hostile_events(stations, amqp_uri, database, service_config):
    hostile.run_events("stations", stations, amqp_uri, database, service_config["DATABASE_URL"])
