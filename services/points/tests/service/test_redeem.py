"""Redemption (积分兑换): the catalog, idempotency keys, stock and balance limits, reversal, and
storms of real concurrent RPC calls (each caller its own connection)."""

from __future__ import annotations

import eventlet
import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import text

from pioneer import ids
from pioneer.testing.client import RpcClient
from pioneer.testing.moments import iso_from_now


def error_of(call, *args, **kwargs) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_redeeming_reversing_and_the_rules(points, admin, rpc, token, enrol, spy, count_rows):
    watch = spy("points")
    volunteer_id = enrol()
    me = rpc(token("volunteer", "cixi", sub=volunteer_id))
    admin.call("points", "adjust", volunteer_id, 100, "期初积分")
    item = admin.call(
        "points", "add_catalog_item", "cixi", {"name": "爱心理发券", "cost": 30, "stock": 5}
    )
    assert item["id"].startswith("cixi-item-") and item["stock"] == 5
    assert [i["id"] for i in me.call("points", "catalog", "cixi")["items"]] == [item["id"]]

    first = me.call("points", "redeem", volunteer_id, item["id"], 2, "order-1")
    assert first["status"] == "completed" and first["cost"] == 60 and first["balance"] == 40
    again = me.call("points", "redeem", volunteer_id, item["id"], 2, "order-1")
    assert again == first  # the same key: the first result, spent once
    assert me.call("points", "balance", volunteer_id) == {
        "volunteer_id": volunteer_id,
        "balance": 40,
        "earned": 100,
        "spent": 60,
    }
    # Never more than the balance, never more than the stock; refusals record nothing.
    error = error_of(me.call, "points", "redeem", volunteer_id, item["id"], 2, "order-2")
    assert error.exc_type == "Conflict" and "points" in str(error.value)
    admin.call("points", "adjust", volunteer_id, 200, "表彰")
    error = error_of(me.call, "points", "redeem", volunteer_id, item["id"], 4, "order-3")
    assert error.exc_type == "Conflict" and "stock" in str(error.value)
    assert count_rows("redemptions") == 1

    # Reversal (admin): points and stock come back, once.
    reversed_ = admin.call("points", "reverse_redemption", first["id"], "活动取消")
    assert reversed_["status"] == "reversed" and reversed_["reversal_reason"] == "活动取消"
    assert error_of(admin.call, "points", "reverse_redemption", first["id"], "再来").exc_type == (
        "Conflict"
    )
    assert error_of(me.call, "points", "reverse_redemption", first["id"], "我").exc_type == (
        "Forbidden"
    )
    assert me.call("points", "balance", volunteer_id) == {
        "volunteer_id": volunteer_id,
        "balance": 300,
        "earned": 300,
        "spent": 0,
    }
    assert admin.call("points", "catalog", "cixi")["items"][0]["stock"] == 5
    # The key still returns the first result (now reversed); it does not redeem again.
    assert me.call("points", "redeem", volunteer_id, item["id"], 2, "order-1")["status"] == (
        "reversed"
    )
    [redeemed] = watch.wait_for("points_redeemed")
    assert redeemed["data"]["delta"] == -60 and redeemed["data"]["item_name"] == "爱心理发券"
    assert redeemed["data"]["redemption_id"] == first["id"] and redeemed["data"]["quantity"] == 2
    [restored] = watch.wait_for("points_reversed")
    assert restored["data"]["delta"] == 60 and restored["data"]["balance"] == 300
    # Rankings count what was earned: spending did not lower it, nor did the reversal raise it.
    board = admin.call("points", "leaderboard", "cixi")
    assert board["items"][0]["points"] == 300

    # Who may redeem: the volunteer itself, admins and systems of its city; not ops, not others.
    other = enrol()
    error = error_of(me.call, "points", "redeem", other, item["id"], 1, "k")
    assert error.exc_type == "Forbidden"
    error = error_of(
        rpc(token("ops", "cixi")).call, "points", "redeem", volunteer_id, item["id"], 1, "k"
    )
    assert error.exc_type == "Forbidden"
    assert (
        rpc(token("system", "cixi")).call("points", "redeem", volunteer_id, item["id"], 1, "k")[
            "balance"
        ]
        == 270
    )
    # A suspended volunteer cannot redeem; an unknown one is NotFound; items of another city
    # do not take this city's points.
    enrol(volunteer_id, status="suspended", version=2, suspended_until=iso_from_now(days=30))
    error = error_of(me.call, "points", "redeem", volunteer_id, item["id"], 1, "k2")
    assert error.exc_type == "Suspended"
    error = error_of(admin.call, "points", "redeem", ids.new_id("cixi", "vol"), item["id"], 1, "k")
    assert error.exc_type == "NotFound"
    haining = rpc(token("admin", "haining")).call(
        "points", "add_catalog_item", "haining", {"name": "电影票", "cost": 1, "stock": 1}
    )
    error = error_of(admin.call, "points", "redeem", other, haining["id"], 1, "k")
    assert error.exc_type == "Conflict" and "haining" in str(error.value)
    assert error_of(
        admin.call, "points", "redeem", other, ids.new_id("cixi", "item"), 1, "k"
    ).exc_type == ("NotFound")


def _clients(amqp_uri, token, volunteers):
    return list(
        eventlet.GreenPool(40).imap(
            lambda v: RpcClient(amqp_uri, token("volunteer", "cixi", sub=v), timeout=60),
            volunteers,
        )
    )


def _storm(calls):
    """Run every ``call()`` at once (released together); their results or error types."""
    start = eventlet.event.Event()

    def run(call):
        start.wait()
        try:
            return call()
        except RemoteError as exc:
            return exc.exc_type

    pool = eventlet.GreenPool(len(calls))
    results = pool.imap(run, calls)
    eventlet.sleep(0.1)
    start.send(True)
    return list(results)


def test_redemption_storms(points, admin, amqp_uri, token, enrol, database):
    # 1) One volunteer, many keys at once: 100 points, 30 redemptions of 10 -> exactly 10.
    rich = enrol()
    admin.call("points", "adjust", rich, 100, "期初")
    plenty = admin.call(
        "points", "add_catalog_item", "cixi", {"name": "水杯", "cost": 10, "stock": 1000}
    )
    mine = [
        RpcClient(amqp_uri, token("volunteer", "cixi", sub=rich), timeout=60) for _ in range(30)
    ]
    try:
        outcomes = _storm(
            [
                (lambda c=c, i=i: c.call("points", "redeem", rich, plenty["id"], 1, f"key-{i}"))
                for i, c in enumerate(mine)
            ]
        )
        # 2) The same key thirty times at once: one redemption, thirty identical answers.
        admin.call("points", "adjust", rich, 10, "再来")
        same = _storm(
            [
                (lambda c=c: c.call("points", "redeem", rich, plenty["id"], 1, "the-one"))
                for c in mine
            ]
        )
    finally:
        for c in mine:
            c.close()
    won = [o for o in outcomes if isinstance(o, dict)]
    assert len(won) == 10 and sorted(o for o in outcomes if not isinstance(o, dict)) == (
        ["Conflict"] * 20
    )
    assert all(isinstance(o, dict) for o in same) and len({o["id"] for o in same}) == 1
    assert admin.call("points", "balance", rich)["balance"] == 0

    # 3) Many volunteers, one scarce item: 40 volunteers with plenty of points, stock 7.
    many = [enrol() for _ in range(40)]
    for volunteer_id in many:
        admin.call("points", "adjust", volunteer_id, 50, "期初")
    scarce = admin.call(
        "points", "add_catalog_item", "cixi", {"name": "年票", "cost": 20, "stock": 7}
    )
    clients = _clients(amqp_uri, token, many)
    try:
        grabbed = _storm(
            [
                (lambda c=c, v=v: c.call("points", "redeem", v, scarce["id"], 1, "grab"))
                for c, v in zip(clients, many, strict=True)
            ]
        )
    finally:
        for c in clients:
            c.close()
    assert len([o for o in grabbed if isinstance(o, dict)]) == 7
    assert [o for o in grabbed if not isinstance(o, dict)] == ["Conflict"] * 33

    with database.connect() as conn:
        stock = conn.execute(
            text("SELECT stock FROM catalog_items WHERE id = :i"), {"i": scarce["id"]}
        ).scalar()
        negative = conn.execute(text("SELECT count(*) FROM balances WHERE balance < 0")).scalar()
        unbalanced = conn.execute(
            text(
                "SELECT count(*) FROM balances b WHERE b.balance != (SELECT coalesce(sum(delta), 0)"
                " FROM ledger_entries e WHERE e.volunteer_id = b.volunteer_id)"
            )
        ).scalar()
        redemptions = conn.execute(text("SELECT count(*) FROM redemptions")).scalar()
        entries = conn.execute(
            text("SELECT count(*) FROM ledger_entries WHERE kind = 'redeem'")
        ).scalar()
    assert stock == 0 and negative == 0 and unbalanced == 0
    assert redemptions == entries == 10 + 1 + 7
