"""The micro-wish lifecycle over RPC: transitions, events, who sees the beneficiary, expiry,
and lists by city, status, category and distance."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import text
from wishes_testdata import BENEFICIARY, FANGJIAHETOU, wish_data

from pioneer import ids


def error_of(call) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        call()
    return caught.value


@pytest.fixture
def published(wishes, admin):
    """``published(**overrides)`` -> a submitted and approved wish."""

    def make(**overrides):
        wish = admin.call("wishes", "submit_wish", wish_data(**overrides))
        return admin.call("wishes", "review_wish", wish["id"], True)

    return make


def test_the_whole_life_of_a_wish(wishes, admin, rpc, token, enrol, spy, count_rows):
    watch = spy("wishes")
    submitted = admin.call("wishes", "submit_wish", wish_data())
    assert submitted["status"] == "submitted" and submitted["id"].startswith("cixi-wish-")
    assert submitted["city"] == "cixi" and submitted["claimed_by"] is None
    assert submitted["beneficiary"] == BENEFICIARY  # an admin of the city sees it
    assert submitted["deadline"].endswith("+08:00")

    wish_id = submitted["id"]
    assert admin.call("wishes", "review_wish", wish_id, True)["status"] == "published"
    volunteer_id = enrol()
    me = rpc(token("volunteer", "cixi", sub=volunteer_id))
    before = me.call("wishes", "get_wish", wish_id)
    assert before["beneficiary"] is None  # not the claimer yet

    claimed = me.call("wishes", "claim_wish", wish_id, volunteer_id)
    assert claimed["status"] == "claimed" and claimed["claimed_by"] == volunteer_id
    assert claimed["beneficiary"] == BENEFICIARY
    # Read scopes: another volunteer reads published wishes only, another city's staff nothing.
    other = rpc(token("volunteer", "cixi", sub=enrol()))
    with pytest.raises(RemoteError) as refused:
        other.call("wishes", "get_wish", wish_id)
    assert refused.value.exc_type == "Forbidden"
    assert (
        rpc(token("dispatcher", "cixi")).call("wishes", "get_wish", wish_id)["beneficiary"] is None
    )
    with pytest.raises(RemoteError) as refused:
        rpc(token("admin", "haining")).call("wishes", "get_wish", wish_id)
    assert refused.value.exc_type == "Forbidden"

    done = me.call("wishes", "fulfill_wish", wish_id, volunteer_id, {"note": "送到了"})
    assert done["status"] == "fulfilled" and done["fulfillment_note"] == "送到了"
    closed = rpc(token("station_manager", "cixi")).call(
        "wishes", "confirm_wish", wish_id, {"rating": 5, "feedback": "谢谢"}
    )
    assert closed["status"] == "closed" and closed["rating"] == 5 and closed["feedback"] == "谢谢"
    assert me.call("wishes", "get_wish", wish_id)["beneficiary"] == BENEFICIARY

    kinds = ["wish_submitted", "wish_published", "wish_claimed", "wish_fulfilled", "wish_closed"]
    events = {kind: watch.wait_for(kind)[0] for kind in kinds}
    [closed_event] = [events["wish_closed"]]
    assert closed_event["data"]["volunteer_id"] == volunteer_id
    assert closed_event["data"]["volunteer_city"] == "cixi"
    assert closed_event["data"]["rating"] == 5 and closed_event["city"] == "cixi"
    assert [events[k]["data"]["version"] for k in kinds] == [1, 2, 3, 4, 5]
    for event in events.values():
        wire = json.dumps(event, ensure_ascii=False)
        assert BENEFICIARY["phone"] not in wire and BENEFICIARY["address"] not in wire
        assert BENEFICIARY["name"] not in wire and "beneficiary" not in wire
    assert count_rows("outbox") == 5


def test_transitions_the_state_does_not_allow_are_conflicts(
    wishes, admin, enrol, count_rows, rpc, token
):
    volunteer_id = enrol()
    wish_id = admin.call("wishes", "submit_wish", wish_data())["id"]

    def refused(method, *args):
        return error_of(lambda: admin.call("wishes", method, wish_id, *args)).exc_type

    assert refused("claim_wish", volunteer_id) == "Conflict"  # not published yet
    assert refused("confirm_wish", {"rating": 4, "feedback": ""}) == "Conflict"
    assert refused("fulfill_wish", volunteer_id, {"note": "x"}) == "Conflict"
    rejected = admin.call("wishes", "review_wish", wish_id, False, "不符合要求")
    assert rejected["status"] == "rejected" and rejected["reason"] == "不符合要求"
    assert refused("review_wish", True) == "Conflict"
    assert refused("cancel_wish", "不需要了") == "Conflict"

    other = admin.call("wishes", "submit_wish", wish_data())["id"]
    admin.call("wishes", "review_wish", other, True)
    admin.call("wishes", "claim_wish", other, volunteer_id)
    second = enrol()
    taken = error_of(lambda: admin.call("wishes", "claim_wish", other, second))
    assert taken.exc_type == "Conflict" and "already claimed" in taken.value
    not_yours = error_of(lambda: admin.call("wishes", "release_wish", other, second))
    assert not_yours.exc_type == "Conflict" and "another volunteer" in not_yours.value
    not_yours = error_of(lambda: admin.call("wishes", "fulfill_wish", other, second, {"note": "x"}))
    assert not_yours.exc_type == "Conflict"
    released = admin.call("wishes", "release_wish", other, volunteer_id)
    assert released["status"] == "published" and released["claimed_by"] is None
    assert admin.call("wishes", "claim_wish", other, second)["claimed_by"] == second
    cancelled = admin.call("wishes", "cancel_wish", other, "老人已搬走")
    assert cancelled["status"] == "cancelled" and cancelled["reason"] == "老人已搬走"
    assert error_of(lambda: admin.call("wishes", "claim_wish", other, volunteer_id)).exc_type == (
        "Conflict"
    )
    missing = ids.new_id("cixi", "wish")
    assert error_of(lambda: admin.call("wishes", "get_wish", missing)).exc_type == "NotFound"
    assert error_of(lambda: admin.call("wishes", "claim_wish", missing, second)).exc_type == (
        "NotFound"
    )
    elsewhere = ids.new_id("ningbo", "wish")
    wrong = error_of(lambda: rpc(token("admin", "*")).call("wishes", "get_wish", elsewhere))
    assert wrong.exc_type == "WrongCity" and "ningbo" in wrong.value
    # Events only for what happened: submitted x2, rejected, published, claimed x2, released,
    # cancelled.
    assert count_rows("outbox") == 8


def test_eligibility_comes_from_the_replica(published, admin, rpc, token, enrol):
    wish_id = published()["id"]
    unknown = ids.new_id("cixi", "vol")
    assert error_of(lambda: admin.call("wishes", "claim_wish", wish_id, unknown)).exc_type == (
        "NotFound"
    )
    for status in ("suspended", "removed"):
        volunteer_id = enrol(status=status)
        refused = error_of(lambda v=volunteer_id: admin.call("wishes", "claim_wish", wish_id, v))
        assert refused.exc_type == "Suspended"
    reinstated = enrol(status="suspended")
    enrol(reinstated, status="active", version=2)
    assert admin.call("wishes", "claim_wish", wish_id, reinstated)["claimed_by"] == reinstated
    # A volunteer of another city may claim (cross-city service); the event names its city.
    second = published()["id"]
    haining = enrol(city="haining")
    own = rpc(token("volunteer", "haining", sub=haining))
    assert own.call("wishes", "claim_wish", second, haining)["claimed_by"] == haining


def test_who_may_do_what(published, admin, rpc, token, enrol):
    wish_id = published()["id"]
    me, other = enrol(), enrol()
    mine = rpc(token("volunteer", "cixi", sub=me))
    assert error_of(lambda: mine.call("wishes", "claim_wish", wish_id, other)).exc_type == (
        "Forbidden"
    )
    for method, args in [
        ("submit_wish", (wish_data(),)),
        ("review_wish", (wish_id, True)),
        ("cancel_wish", (wish_id, "x")),
        ("confirm_wish", (wish_id, {"rating": 3, "feedback": ""})),
    ]:
        assert error_of(lambda m=method, a=args: mine.call("wishes", m, *a)).exc_type == (
            "Forbidden"
        )
    haining_admin = rpc(token("admin", "haining"))
    assert error_of(lambda: haining_admin.call("wishes", "cancel_wish", wish_id, "x")).exc_type == (
        "Forbidden"
    )
    assert (
        error_of(lambda: haining_admin.call("wishes", "submit_wish", wish_data())).exc_type
        == "Forbidden"
    )
    ops = rpc(token("ops", "cixi"))
    assert ops.call("wishes", "get_wish", wish_id)["status"] == "published"
    assert error_of(lambda: ops.call("wishes", "claim_wish", wish_id, me)).exc_type == "Forbidden"
    bad = error_of(lambda: admin.call("wishes", "submit_wish", wish_data(category="no_such")))
    assert bad.exc_type == "ValidationError" and bad.value.startswith("wish.category")
    past = wish_data(deadline=(datetime.now(UTC) - timedelta(minutes=1)).isoformat())
    bad = error_of(lambda: admin.call("wishes", "submit_wish", past))
    assert bad.exc_type == "ValidationError" and bad.value.startswith("wish.deadline")


def test_published_wishes_past_their_deadline_expire(published, admin, enrol, database, spy):
    watch = spy("wishes")
    overdue, claimed, fresh = published(), published(), published()
    admin.call("wishes", "claim_wish", claimed["id"], enrol())
    volunteer_id = enrol()
    with database.begin() as conn:
        conn.execute(
            text("UPDATE wishes SET deadline = :past WHERE id IN (:a, :b)"),
            {
                "past": datetime.now(UTC) - timedelta(seconds=1),
                "a": overdue["id"],
                "b": claimed["id"],
            },
        )
    # Past its deadline it can no longer be claimed, whether or not the timer has run yet.
    late = error_of(lambda: admin.call("wishes", "claim_wish", overdue["id"], volunteer_id))
    assert late.exc_type == "Conflict"
    [expired] = watch.wait_for("wish_expired")
    assert expired["data"]["wish_id"] == overdue["id"] and expired["data"]["status"] == "expired"
    assert admin.call("wishes", "get_wish", overdue["id"])["status"] == "expired"
    late = error_of(lambda: admin.call("wishes", "claim_wish", overdue["id"], volunteer_id))
    assert late.exc_type == "Conflict"
    # Only published wishes expire: the claimed one stays with its volunteer.
    assert admin.call("wishes", "get_wish", claimed["id"])["status"] == "claimed"
    assert admin.call("wishes", "get_wish", fresh["id"])["status"] == "published"


def test_lists_by_city_status_category_and_distance(published, admin, rpc, token):
    near = published(title="近的", location={"lat": 30.2120, "lon": 121.4398})  # ~80 m
    mid = published(title="中间", category="repair", location={"lat": 30.2200, "lon": 121.4398})
    far = published(title="远的", location={"lat": 30.3000, "lon": 121.4398})  # ~10 km
    submitted = admin.call("wishes", "submit_wish", wish_data())
    haining = rpc(token("admin", "haining")).call(
        "wishes", "submit_wish", wish_data(city="haining")
    )
    ops = rpc(token("ops", "cixi"))

    everything = ops.call("wishes", "list_wishes", "cixi")
    assert [w["id"] for w in everything["items"]] == sorted(
        [near["id"], mid["id"], far["id"], submitted["id"]]
    )
    assert all(w["beneficiary"] is None for w in everything["items"])
    assert admin.call("wishes", "list_wishes", "cixi")["items"][0]["beneficiary"] == BENEFICIARY
    only = ops.call("wishes", "list_wishes", "cixi", status="submitted")["items"]
    assert [w["id"] for w in only] == [submitted["id"]]
    repairs = ops.call("wishes", "list_wishes", "cixi", category="repair")["items"]
    assert [w["id"] for w in repairs] == [mid["id"]]
    # Another city's wishes are its own staff's to list (read scopes).
    haining_ops = rpc(token("ops", "haining"))
    assert [w["id"] for w in haining_ops.call("wishes", "list_wishes", "haining")["items"]] == [
        haining["id"]
    ]

    # Paged in id order.
    first = ops.call("wishes", "list_wishes", "cixi", limit=3)
    rest = ops.call("wishes", "list_wishes", "cixi", limit=3, cursor=first["next_cursor"])
    assert len(first["items"]) == 3 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert [w["id"] for w in first["items"] + rest["items"]] == [
        w["id"] for w in everything["items"]
    ]

    # Nearby: within the radius, nearest first, paged by (distance, id).
    here = dict(FANGJIAHETOU)
    close = ops.call("wishes", "list_wishes", "cixi", status="published", near=here, radius_m=2000)[
        "items"
    ]
    assert [w["id"] for w in close] == [near["id"], mid["id"]]
    assert close[0]["distance_m"] < close[1]["distance_m"] <= 2000
    page1 = ops.call(
        "wishes", "list_wishes", "cixi", status="published", near=here, radius_m=20_000, limit=2
    )
    page2 = ops.call(
        "wishes",
        "list_wishes",
        "cixi",
        status="published",
        near=here,
        radius_m=20_000,
        limit=2,
        cursor=page1["next_cursor"],
    )
    assert [w["id"] for w in page1["items"] + page2["items"]] == [near["id"], mid["id"], far["id"]]
    assert page2["next_cursor"] is None
    bad = error_of(lambda: ops.call("wishes", "list_wishes", "cixi", near=here, cursor="abc"))
    assert bad.exc_type == "ValidationError" and bad.value.startswith("cursor")
    bad = error_of(
        lambda: ops.call("wishes", "list_wishes", "cixi", near=here, cursor=first["next_cursor"])
    )
    assert bad.exc_type == "ValidationError"
    platform_ops = rpc(token("ops", "*"))  # a token whose city covers ningbo: not served here
    assert error_of(lambda: platform_ops.call("wishes", "list_wishes", "ningbo")).exc_type == (
        "WrongCity"
    )
