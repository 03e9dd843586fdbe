"""Hotline service requests: dispatch to the nearest eligible volunteer inside the service
circle, declines, timeouts, busy volunteers, an empty circle, emergencies, and the rest of the
lifecycle over RPC."""

from __future__ import annotations

import json
import urllib.request

import pytest
from nameko.exceptions import RemoteError
from wishes_testdata import FANGJIAHETOU, request_data

from pioneer.testing.fixtures import http_port, wait_for
from wishes.service import WishesService

HERE = FANGJIAHETOU


def at(metres_north: float) -> dict[str, float]:
    """A point ``metres_north`` of the request (about 111,200 m per degree of latitude)."""
    return {"lat": HERE["lat"] + metres_north / 111_195, "lon": HERE["lon"]}


def error_of(call) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        call()
    return caught.value


@pytest.fixture
def crew(enrol):
    """Volunteers around the request: two repairers inside the 2.5 km circle, one outside, a
    haircutter, a suspended repairer and one without a location."""
    return {
        "near": enrol(skills=["repair"], location=at(100)),
        "further": enrol(skills=["repair", "haircut"], location=at(300)),
        "outside": enrol(skills=["repair"], location=at(5000)),
        "barber": enrol(skills=["haircut"], location=at(50)),
        "suspended": enrol(status="suspended", skills=["repair"], location=at(10)),
        "nowhere": enrol(skills=["repair"]),
    }


def test_offered_to_the_nearest_then_accepted_completed_rated(wishes, admin, rpc, token, crew, spy):
    watch = spy("wishes")
    raised = admin.call("wishes", "raise_request", request_data())
    assert raised["status"] == "dispatched" and raised["id"].startswith("cixi-req-")
    assert raised["offered_to"] == crew["near"] and raised["offers"] == [crew["near"]]
    assert [(a["volunteer_id"], a["outcome"]) for a in raised["attempts"]] == [
        (crew["near"], "offered")
    ]
    assert raised["requester"]["phone"] == "13900001111"  # a city admin sees the caller

    other = rpc(token("volunteer", "cixi", sub=crew["further"]))
    refused = error_of(
        lambda: other.call("wishes", "accept_request", raised["id"], crew["further"])
    )
    assert refused.exc_type == "Conflict"
    me = rpc(token("volunteer", "cixi", sub=crew["near"]))
    assert me.call("wishes", "get_request", raised["id"])["requester"] is None  # not yet assigned
    accepted = me.call("wishes", "accept_request", raised["id"], crew["near"])
    assert accepted["status"] == "accepted" and accepted["assigned_to"] == crew["near"]
    assert accepted["offered_to"] is None and accepted["requester"]["name"] == "李大伯"
    assert accepted["address"] == "龙山镇方家河头村8号"
    # Read scopes: a volunteer never offered the request does not read it.
    assert error_of(lambda: other.call("wishes", "get_request", raised["id"])).exc_type == (
        "Forbidden"
    )

    done = me.call("wishes", "complete_request", raised["id"], crew["near"], {"note": "修好了"})
    assert done["status"] == "completed" and done["completion_note"] == "修好了"
    rated = rpc(token("dispatcher", "cixi")).call(
        "wishes", "rate_request", raised["id"], {"rating": 5, "feedback": "很快"}
    )
    assert rated["status"] == "closed" and rated["rating"] == 5

    kinds = [
        "request_raised",
        "request_dispatched",
        "request_accepted",
        "request_completed",
        "request_rated",
    ]
    events = {kind: watch.wait_for(kind)[0] for kind in kinds}
    assert events["request_dispatched"]["data"]["offered_to"] == [crew["near"]]
    completed = events["request_completed"]["data"]
    assert completed["volunteer_id"] == crew["near"] and completed["volunteer_city"] == "cixi"
    for event in events.values():
        wire = json.dumps(event, ensure_ascii=False)
        assert "13900001111" not in wire and "李大伯" not in wire and "方家河头村8号" not in wire


def test_declines_move_on_and_an_empty_circle_is_unassigned(wishes, admin, rpc, token, crew, spy):
    watch = spy("wishes")
    raised = admin.call("wishes", "raise_request", request_data())
    first = admin.call("wishes", "decline_request", raised["id"], crew["near"])
    assert first["status"] == "dispatched" and first["offered_to"] == crew["further"]
    again = error_of(lambda: admin.call("wishes", "decline_request", raised["id"], crew["near"]))
    assert again.exc_type == "Conflict"
    last = admin.call("wishes", "decline_request", raised["id"], crew["further"])
    # The one outside the circle, the barber, the suspended one and the one without a
    # location are never offered it.
    assert last["status"] == "unassigned" and last["offered_to"] is None
    assert [(a["volunteer_id"], a["outcome"]) for a in last["attempts"]] == [
        (crew["near"], "declined"),
        (crew["further"], "declined"),
    ]
    [unassigned] = watch.wait_for("request_unassigned")
    assert unassigned["data"]["request_id"] == raised["id"]
    assert len(watch.wait_for("request_declined", count=2)) == 2

    nobody = admin.call("wishes", "raise_request", request_data(service="legal_aid"))
    assert nobody["status"] == "unassigned" and nobody["attempts"] == []
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port(wishes)}/metrics") as response:
        metrics = response.read().decode()
    assert 'pioneer_requests_unassigned_total{city="cixi",service="wishes"} 2.0' in metrics


def test_busy_suspended_or_reskilled_volunteers_get_no_offer(wishes, admin, enrol, crew):
    first = admin.call("wishes", "raise_request", request_data())
    admin.call("wishes", "accept_request", first["id"], crew["near"])
    second = admin.call("wishes", "raise_request", request_data())
    assert second["offered_to"] == crew["further"]
    admin.call("wishes", "complete_request", first["id"], crew["near"], {"note": "好"})
    third = admin.call("wishes", "raise_request", request_data())
    assert third["offered_to"] == crew["near"]  # free again once the work is done

    # The dispatch index follows the replica: suspended, reinstated, skills changed.
    for volunteer_id in (crew["near"], crew["further"]):
        enrol(volunteer_id, status="suspended", version=2, skills=["repair"], location=at(100))
    assert admin.call("wishes", "raise_request", request_data())["status"] == "unassigned"
    enrol(crew["near"], status="active", version=3, skills=["repair"], location=at(100))
    assert admin.call("wishes", "raise_request", request_data())["offered_to"] == crew["near"]
    enrol(crew["near"], status="active", version=4, skills=["haircut"], location=at(100))
    assert admin.call("wishes", "raise_request", request_data())["status"] == "unassigned"


def test_a_volunteer_offered_two_requests_accepts_only_one(wishes, admin, crew):
    # Offers do not make a volunteer busy, so both go to the nearest; accepting both at once
    # leaves exactly one accepted.
    first = admin.call("wishes", "raise_request", request_data())
    second = admin.call("wishes", "raise_request", request_data())
    assert first["offered_to"] == second["offered_to"] == crew["near"]
    replies = [
        admin.call_async("wishes", "accept_request", request["id"], crew["near"])
        for request in (first, second)
    ]
    outcomes = []
    for reply in replies:
        try:
            outcomes.append(reply.result()["status"])
        except RemoteError as exc:
            outcomes.append(exc.exc_type)
    assert sorted(outcomes) == ["Conflict", "accepted"]


def test_an_emergency_goes_to_three_at_once_and_the_first_to_accept_wins(
    wishes, admin, enrol, crew
):
    third = enrol(skills=["repair"], location=at(600))
    fourth = enrol(skills=["repair"], location=at(900))
    raised = admin.call("wishes", "raise_request", request_data(urgency="emergency"))
    assert raised["offers"] == [crew["near"], crew["further"], third]
    assert raised["offered_to"] == crew["near"]
    replies = [
        admin.call_async("wishes", "accept_request", raised["id"], volunteer)
        for volunteer in (crew["further"], third)
    ]
    outcomes = []
    for reply in replies:
        try:
            outcomes.append(reply.result()["assigned_to"])
        except RemoteError as exc:
            outcomes.append(exc.exc_type)
    assert sorted(outcomes, key=str).count("Conflict") == 1
    [winner] = [o for o in outcomes if o != "Conflict"]
    after = admin.call("wishes", "get_request", raised["id"])
    assert after["status"] == "accepted" and after["assigned_to"] == winner
    assert after["offers"] == [] and fourth not in [a["volunteer_id"] for a in after["attempts"]]
    assert sorted(a["outcome"] for a in after["attempts"]) == ["accepted", "withdrawn", "withdrawn"]
    late = error_of(lambda: admin.call("wishes", "accept_request", raised["id"], crew["near"]))
    assert late.exc_type == "Conflict"


def test_unanswered_offers_time_out_and_move_on(start_service, service_config, rpc, token, enrol):
    start_service(WishesService, {**service_config, "OFFER_TIMEOUT_S": 1})
    admin = rpc(token("admin", "cixi"))
    near = enrol(skills=["repair"], location=at(100))
    further = enrol(skills=["repair"], location=at(400))
    raised = admin.call("wishes", "raise_request", request_data())
    assert raised["offered_to"] == near

    def status():
        return admin.call("wishes", "get_request", raised["id"])

    moved = wait_for(lambda: (r := status())["offered_to"] == further and r, timeout=10)
    assert [(a["volunteer_id"], a["outcome"]) for a in moved["attempts"]] == [
        (near, "timed_out"),
        (further, "offered"),
    ]
    late = error_of(lambda: admin.call("wishes", "accept_request", raised["id"], near))
    assert late.exc_type == "Conflict"
    final = wait_for(lambda: (r := status())["status"] == "unassigned" and r, timeout=10)
    assert [a["outcome"] for a in final["attempts"]] == ["timed_out", "timed_out"]


def test_cancel_lists_and_refusals(wishes, admin, rpc, token, crew):
    raised = admin.call("wishes", "raise_request", request_data())
    cancelled = admin.call("wishes", "cancel_request", raised["id"], "问题已解决")
    assert cancelled["status"] == "cancelled" and cancelled["reason"] == "问题已解决"
    assert [a["outcome"] for a in cancelled["attempts"]] == ["withdrawn"]
    for method, args in [
        ("cancel_request", ("再取消",)),
        ("accept_request", (crew["near"],)),
        ("complete_request", (crew["near"], {"note": "x"})),
        ("rate_request", ({"rating": 3, "feedback": ""},)),
    ]:
        refused = error_of(lambda m=method, a=args: admin.call("wishes", m, raised["id"], *a))
        assert refused.exc_type == "Conflict", method

    open_one = admin.call("wishes", "raise_request", request_data())
    volunteer = rpc(token("volunteer", "cixi", sub=crew["near"]))
    for method, args in [
        ("raise_request", (request_data(),)),
        ("cancel_request", (open_one["id"], "x")),
        ("rate_request", (open_one["id"], {"rating": 3, "feedback": ""})),
        ("accept_request", (open_one["id"], crew["further"])),
    ]:
        refused = error_of(lambda m=method, a=args: volunteer.call("wishes", m, *a))
        assert refused.exc_type == "Forbidden", method
    # Complaints need an assigned volunteer; a volunteer cannot file one.
    refused = error_of(lambda: admin.call("wishes", "complain", raised["id"], {"reason": "x"}))
    assert refused.exc_type == "Conflict"
    refused = error_of(
        lambda: volunteer.call("wishes", "complain", open_one["id"], {"reason": "x"})
    )
    assert refused.exc_type == "Forbidden"
    bad = error_of(lambda: admin.call("wishes", "raise_request", request_data(service="nope")))
    assert bad.exc_type == "ValidationError" and bad.value.startswith("request.service")

    ops = rpc(token("ops", "cixi"))
    listed = ops.call("wishes", "list_requests", "cixi")["items"]
    assert [r["id"] for r in listed] == [raised["id"], open_one["id"]]
    assert all(r["requester"] is None and r["address"] is None for r in listed)
    only = ops.call("wishes", "list_requests", "cixi", status="cancelled")["items"]
    assert [r["id"] for r in only] == [raised["id"]]
    first = ops.call("wishes", "list_requests", "cixi", limit=1)
    rest = ops.call("wishes", "list_requests", "cixi", limit=1, cursor=first["next_cursor"])
    assert [r["id"] for r in first["items"] + rest["items"]] == [raised["id"], open_one["id"]]
    assert error_of(lambda: ops.call("wishes", "list_requests", "haining")).exc_type == (
        "Forbidden"
    )  # another city's requests are its own staff's to read
    platform_ops = rpc(token("ops", "*"))  # a token whose city covers ningbo: not served here
    assert error_of(lambda: platform_ops.call("wishes", "list_requests", "ningbo")).exc_type == (
        "WrongCity"
    )
