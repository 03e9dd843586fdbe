"""Stations' volunteer replica follows the volunteers service's events: a volunteer registered
here may claim posts there, and once a complaint is upheld its claims are ``Suspended``."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from volunteers_testdata import volunteer_data

from pioneer.testing.databases import create_postgres_database, drop_postgres_database
from pioneer.testing.fixtures import base_config, wait_for
from stations.service import StationsService
from volunteers.service import VolunteersService

STATION = {
    "name": "龙山方家河头号",
    "city": "cixi",
    "district": "龙山镇",
    "address": "方家河头村游客中心旁",
    "location": {"lat": 30.2113, "lon": 121.4398},
    "kind": "scenic_spot",
    "services": ["haircut"],
}


@pytest.fixture
def stations_db_url(db_url, tmp_path):
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/stations.db"
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture
def both(service_config, stations_db_url, amqp_uri, secret, start_service):
    # Stations first: its queues are bound before volunteers publishes anything.
    start_service(StationsService, base_config(amqp_uri, stations_db_url, secret))
    start_service(VolunteersService, service_config)


def test_stations_follow_registration_suspension_and_reinstatement(both, admin):
    station = admin.call("stations", "create_station", STATION)
    posts = [
        admin.call(
            "stations",
            "add_post",
            station["id"],
            {"title": f"义剪{i}", "category": "haircut", "capacity": 5},
        )["id"]
        for i in range(3)
    ]
    vid = admin.call("volunteers", "register", volunteer_data())["id"]

    def claim(post_id: str):
        try:
            return admin.call("stations", "claim_post", post_id, vid)
        except RemoteError as exc:
            return exc.exc_type

    # Registered: stations learns of it within moments and lets it claim.
    claimed = wait_for(lambda: (lambda r: r if isinstance(r, dict) else None)(claim(posts[0])))
    assert claimed["volunteer_id"] == vid

    complaint = admin.call(
        "volunteers", "record_complaint", vid, {"reason": "未到岗", "source": "station"}
    )
    admin.call("volunteers", "uphold_complaint", complaint["id"])

    def suspended() -> bool:
        outcome = claim(posts[1])
        if isinstance(outcome, dict):  # the event is still on its way: undo, look again
            admin.call("stations", "release_post", posts[1], vid)
            return False
        assert outcome == "Suspended"
        return True

    wait_for(suspended, timeout=5)

    admin.call("volunteers", "reinstate", vid)
    wait_for(lambda: isinstance(claim(posts[1]), dict), timeout=5)
