"""Volunteers end to end: every method over RPC, and the discipline ladder reaching stations."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import create_engine, text

from pioneer.testing.moments import this_year

from .conftest import poll

WEST_LAKE_OF_CIXI = {"lat": 30.2560, "lon": 121.2150}


def volunteer(**overrides):
    data = {
        "name": "李春燕",
        "phone": f"139{random.randrange(10**8):08d}",
        "city": "cixi",
        "district": "白沙路街道",
        "community": "明月社区",
        "is_party_member": True,
        "party_branch": "明月社区党支部",
        "skills": ["haircut", "elderly_care"],
        "location": WEST_LAKE_OF_CIXI,
        "availability": [{"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "08:00", "end": "17:00"}],
    }
    data.update(overrides)
    return data


def claim_outcome(rpc, post_id: str, volunteer_id: str) -> str:
    """``ok`` or the contract error a claim gets (releasing again after a success)."""
    try:
        rpc.stations.claim_post(post_id=post_id, volunteer_id=volunteer_id)
    except RemoteError as exc:
        return exc.exc_type
    rpc.stations.release_post(post_id=post_id, volunteer_id=volunteer_id)
    return "ok"


@pytest.fixture(scope="module")
def post(shared):
    _, deployment = shared
    with deployment.proxy(deployment.token("admin", "cixi")) as rpc:
        station = rpc.stations.create_station(
            station={
                "name": "慈溪市民广场驿站",
                "city": "cixi",
                "district": "白沙路街道",
                "address": "市民广场",
                "location": WEST_LAKE_OF_CIXI,
                "kind": "community",
                "services": ["haircut"],
                "opening_hours": [],
                "standard": dict.fromkeys(
                    ["venue", "identity", "team", "projects", "system"], True
                ),
            }
        )
        return rpc.stations.add_post(
            station_id=station["id"],
            post={"title": "敬老服务", "category": "elderly_care", "capacity": 10},
        )


def test_every_volunteers_method_over_rpc(shared):
    _, deployment = shared
    with deployment.proxy(deployment.token("admin", "cixi")) as rpc:
        made = rpc.volunteers.register(volunteer=volunteer())
        assert made["status"] == "active" and made["cards"] == 0
        assert rpc.volunteers.get_volunteer(volunteer_id=made["id"])["phone"] == made["phone"]
        changed = rpc.volunteers.update_volunteer(
            volunteer_id=made["id"], changes={"skills": ["haircut", "repair"]}
        )
        assert changed["skills"] == ["haircut", "repair"]
        found = rpc.volunteers.find_volunteers(
            city="cixi", skill="repair", near=WEST_LAKE_OF_CIXI, radius_m=500
        )
        assert made["id"] in [item["id"] for item in found["items"]]
        team = rpc.volunteers.create_team(
            city="cixi", team={"name": "明月先锋队", "specialty": "repair"}
        )
        rpc.volunteers.join_team(
            team_id=team["id"], volunteer_id=made["id"], relation="organization"
        )
        members = rpc.volunteers.list_members(team_id=team["id"])["items"]
        assert [(m["volunteer_id"], m["relation"]) for m in members] == [
            (made["id"], "organization")
        ]
        other = rpc.volunteers.create_team(
            city="cixi", team={"name": "第二队", "specialty": "patrol"}
        )
        with pytest.raises(RemoteError) as second_org:
            rpc.volunteers.join_team(
                team_id=other["id"], volunteer_id=made["id"], relation="organization"
            )
        assert second_org.value.exc_type == "Conflict"
        rpc.volunteers.leave_team(team_id=team["id"], volunteer_id=made["id"])
        rpc.volunteers.make_commitment(
            volunteer_id=made["id"],
            commitment={"year": this_year(), "text": "每月为社区老人义剪一次"},
        )
        commitments = rpc.volunteers.list_commitments(city="cixi", year=this_year())["items"]
        assert made["id"] in [c["volunteer_id"] for c in commitments]
        complaint = rpc.volunteers.record_complaint(
            volunteer_id=made["id"], complaint={"reason": "迟到", "source": "96345"}
        )
        assert (
            rpc.volunteers.dismiss_complaint(complaint_id=complaint["id"])["status"] == "dismissed"
        )
    with deployment.proxy(deployment.token("ops", "cixi")) as ops:
        assert "****" in ops.volunteers.get_volunteer(volunteer_id=made["id"])["phone"]


def test_the_ladder_reaches_stations_and_suspensions_end(shared, post):
    _, deployment = shared
    with deployment.proxy(deployment.token("admin", "cixi")) as rpc:
        vid = rpc.volunteers.register(volunteer=volunteer())["id"]
        assert poll(lambda: claim_outcome(rpc, post["id"], vid) == "ok")

        def uphold() -> dict:
            complaint = rpc.volunteers.record_complaint(
                volunteer_id=vid, complaint={"reason": "服务态度差", "source": "96345"}
            )
            assert (
                rpc.volunteers.uphold_complaint(complaint_id=complaint["id"])["status"] == "upheld"
            )
            return rpc.volunteers.get_volunteer(volunteer_id=vid)

        first = uphold()
        assert first["status"] == "suspended" and first["cards"] == 1
        assert poll(lambda: claim_outcome(rpc, post["id"], vid) == "Suspended", timeout=5)
        assert rpc.volunteers.reinstate(volunteer_id=vid)["status"] == "active"
        assert poll(lambda: claim_outcome(rpc, post["id"], vid) == "ok", timeout=5)

        # The second suspension runs out by itself: 90 days pass in the database.
        assert uphold()["cards"] == 2
        engine = create_engine(deployment.database_url("volunteers"))
        past = (datetime.now(UTC) - timedelta(minutes=1)).replace(tzinfo=None)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE volunteers SET suspended_until = :t WHERE id = :v"),
                {"t": past, "v": vid},
            )
        engine.dispose()
        assert poll(lambda: rpc.volunteers.get_volunteer(volunteer_id=vid)["status"] == "active")
        assert poll(lambda: claim_outcome(rpc, post["id"], vid) == "ok", timeout=5)

        third = uphold()
        assert third["status"] == "removed" and third["cards"] == 3
        assert poll(lambda: claim_outcome(rpc, post["id"], vid) == "Suspended", timeout=5)
