"""Wishes end to end: volunteers registered in the volunteers service claim wishes and take
hotline requests in wishes (through its replica), and a complaint lands in volunteers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError

from .conftest import claim_storm, poll, published_wish

# Longshan town, Cixi: far enough from the other e2e tests' volunteers to have its own circle.
LONGSHAN = {"lat": 30.1790, "lon": 121.4860}


def volunteer(**overrides):
    data = {
        "name": "陈志刚",
        "phone": f"137{random.randrange(10**8):08d}",
        "city": "cixi",
        "district": "龙山镇",
        "community": "山下村",
        "is_party_member": True,
        "skills": ["plumbing_electrical", "elderly_care"],
        "location": LONGSHAN,
    }
    data.update(overrides)
    return data


def known_to_wishes(rpc, wish_id: str, volunteer_id: str) -> bool:
    """Whether wishes' replica knows the volunteer (a claim of an unknown wish says so)."""
    try:
        rpc.wishes.claim_wish(wish_id=wish_id, volunteer_id=volunteer_id)
    except RemoteError as exc:
        return exc.exc_type == "NotFound" and "no wish" in str(exc)
    return False


def test_every_wishes_method_over_rpc(shared):
    _, deployment = shared
    with deployment.proxy(deployment.token("admin", "cixi")) as rpc:
        first = rpc.volunteers.register(volunteer=volunteer())["id"]
        second = rpc.volunteers.register(volunteer=volunteer())["id"]
        missing_wish = "cixi-wish-01JD0000000000000000000000"
        for volunteer_id in (first, second):
            poll(lambda v=volunteer_id: known_to_wishes(rpc, missing_wish, v))

        wish = rpc.wishes.submit_wish(
            wish={
                "city": "cixi",
                "title": "想要一副老花镜",
                "description": "独居老人",
                "category": "elderly_care",
                "beneficiary": {"name": "王阿婆", "phone": "13812345678", "address": "山下村3号"},
                "location": LONGSHAN,
                "deadline": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            }
        )
        wish_id = wish["id"]
        assert rpc.wishes.review_wish(wish_id=wish_id, approve=True)["status"] == "published"
        assert rpc.wishes.claim_wish(wish_id=wish_id, volunteer_id=first)["claimed_by"] == first
        with pytest.raises(RemoteError) as taken:
            rpc.wishes.claim_wish(wish_id=wish_id, volunteer_id=second)
        assert taken.value.exc_type == "Conflict"
        assert rpc.wishes.release_wish(wish_id=wish_id, volunteer_id=first)["status"] == (
            "published"
        )
        rpc.wishes.claim_wish(wish_id=wish_id, volunteer_id=second)
        rpc.wishes.fulfill_wish(wish_id=wish_id, volunteer_id=second, fulfillment={"note": "送到"})
        closed = rpc.wishes.confirm_wish(
            wish_id=wish_id, confirmation={"rating": 5, "feedback": ""}
        )
        assert closed["status"] == "closed" and closed["claimed_by"] == second
        assert rpc.wishes.get_wish(wish_id=wish_id)["rating"] == 5
        listed = rpc.wishes.list_wishes(city="cixi", status="closed", near=LONGSHAN, radius_m=500)
        assert wish_id in [w["id"] for w in listed["items"]]
        other = rpc.wishes.submit_wish(wish={**wish_data_of(wish), "title": "另一个"})
        assert rpc.wishes.cancel_wish(wish_id=other["id"], reason="重复")["status"] == "cancelled"

        request = rpc.wishes.raise_request(
            request={
                "city": "cixi",
                "service": "plumbing_electrical",
                "description": "水管漏水",
                "location": LONGSHAN,
                "address": "山下村5号",
                "requester": {"name": "李大伯", "phone": "13900001111"},
                "urgency": "urgent",
            }
        )
        assert request["status"] == "dispatched" and request["offered_to"] in (first, second)
        offered = request["offered_to"]
        other_one = second if offered == first else first
        declined = rpc.wishes.decline_request(request_id=request["id"], volunteer_id=offered)
        assert declined["offered_to"] == other_one
        accepted = rpc.wishes.accept_request(request_id=request["id"], volunteer_id=other_one)
        assert accepted["assigned_to"] == other_one
        rpc.wishes.complete_request(
            request_id=request["id"], volunteer_id=other_one, completion={"note": "修好"}
        )
        filed = rpc.wishes.complain(request_id=request["id"], complaint={"reason": "迟到"})
        upheld = poll(lambda: _uphold(rpc, filed["complaint_id"]))
        assert upheld["volunteer_id"] == other_one
        rated = rpc.wishes.rate_request(
            request_id=request["id"], rating={"rating": 4, "feedback": ""}
        )
        assert rated["status"] == "closed"
        assert rpc.wishes.get_request(request_id=request["id"])["rating"] == 4
        assert request["id"] in [r["id"] for r in rpc.wishes.list_requests(city="cixi")["items"]]
        spare = rpc.wishes.raise_request(
            request={**request_data_of(request), "service": "legal_aid"}
        )
        assert spare["status"] == "unassigned"
        assert rpc.wishes.cancel_request(request_id=spare["id"], reason="x")["status"] == (
            "cancelled"
        )


def wish_data_of(wish):
    return {
        "city": wish["city"],
        "title": wish["title"],
        "description": wish["description"],
        "category": wish["category"],
        "beneficiary": wish["beneficiary"],
        "location": wish["location"],
        "deadline": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
    }


def request_data_of(request):
    return {
        "city": request["city"],
        "service": request["service"],
        "description": request["description"],
        "location": request["location"],
        "address": request["address"],
        "requester": request["requester"],
    }


def _uphold(rpc, complaint_id):
    try:
        return rpc.volunteers.uphold_complaint(complaint_id=complaint_id)
    except RemoteError as exc:
        if exc.exc_type == "NotFound":
            return None
        raise


def wishes_handled(deployment, handler: str) -> float:
    """How many events ``handler`` of the wishes processes has handled (from their /metrics)."""
    text = deployment.metrics("wishes")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("pioneer_events_handled_total{")
        and f'handler="{handler}"' in line
        and 'outcome="ok"' in line
    )


def test_storm_and_offer_timeout_against_the_processes(shared):
    _, deployment = shared
    with deployment.proxy(deployment.token("admin", "cixi")) as rpc:
        before = wishes_handled(deployment, "on_volunteer_registered")
        crowd = [
            rpc.volunteers.register(volunteer=volunteer(skills=["key_cutting"]))["id"]
            for _ in range(60)
        ]
        poll(lambda: wishes_handled(deployment, "on_volunteer_registered") >= before + 60, 30)
        wish = published_wish(
            rpc,
            "key_cutting",
            LONGSHAN,
            24 * 3600,
            title="配一把钥匙",
            description="门锁坏了",
            beneficiary={"name": "赵奶奶", "phone": "13812340000", "address": "山下村8号"},
        )
        winners, refused = claim_storm(rpc, wish["id"], crowd)
        assert len(winners) == 1 and refused == ["Conflict"] * 59
        assert rpc.wishes.get_wish(wish_id=wish["id"])["claimed_by"] == winners[0]

        # Nobody answers the offer: after OFFER_TIMEOUT_S it moves to the next candidate.
        request = rpc.wishes.raise_request(
            request={
                "city": "cixi",
                "service": "key_cutting",
                "description": "钥匙断在锁里",
                "location": LONGSHAN,
                "address": "山下村9号",
                "requester": {"name": "孙先生", "phone": "13900002222"},
                "urgency": "normal",
            }
        )
        first = request["offered_to"]
        assert request["status"] == "dispatched" and first in crowd

        def moved_on():
            now = rpc.wishes.get_request(request_id=request["id"])
            return now if now["offered_to"] not in (None, first) else None

        moved = poll(moved_on, 20)
        assert moved["attempts"][0]["volunteer_id"] == first
        assert moved["attempts"][0]["outcome"] == "timed_out"
