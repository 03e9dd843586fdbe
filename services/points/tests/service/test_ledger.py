"""Earning from events (once, whatever the delivery), balances, history, adjustments, roles."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from points_testdata import checkin, request_event, wish_closed
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from pioneer import ids
from pioneer.testing.fixtures import wait_for


def error_of(call, *args, **kwargs) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_work_is_credited_once_in_the_home_city_whatever_the_delivery(
    points, admin, rpc, token, enrol, dispatch_event, spy, count_rows, database
):
    watch = spy("points")
    volunteer_id = enrol()
    request_id = ids.new_id("cixi", "req")

    # The rating arrives before the completion (out of order): both count, each once.
    dispatch_event(
        "wishes", "request_rated", "cixi", request_event(volunteer_id, request_id, "closed", 5)
    )
    checked = dispatch_event(
        "stations", "volunteer_checked_in", "cixi", checkin(volunteer_id, 5, 2.5)
    )
    dispatch_event("wishes", "wish_closed", "cixi", wish_closed(volunteer_id))
    completed = dispatch_event(
        "wishes", "request_completed", "cixi", request_event(volunteer_id, request_id, "completed")
    )
    # Redelivered (same event id) and replayed (same work, a new event id).
    dispatch_event(
        "stations", "volunteer_checked_in", "cixi", checked["data"], event_id=checked["event_id"]
    )
    dispatch_event("stations", "volunteer_checked_in", "cixi", checked["data"])
    dispatch_event("wishes", "request_completed", "cixi", completed["data"])
    # A rating below the top earns no bonus; a volunteer of a city not served here is ignored.
    dispatch_event(
        "wishes",
        "request_rated",
        "cixi",
        request_event(volunteer_id, ids.new_id("cixi", "req"), "closed", 4),
    )
    stranger = ids.new_id("ningbo", "vol")
    dispatch_event("stations", "volunteer_checked_in", "cixi", checkin(stranger, 50))

    expected = {"volunteer_id": volunteer_id, "balance": 30, "earned": 30, "spent": 0}
    wait_for(lambda: admin.call("points", "balance", volunteer_id) == expected)
    awarded = watch.wait_for("points_awarded", count=4)

    # Every delivery has been looked at (the registration, eight new event ids; the
    # redelivery is skipped by its id): still four entries.
    def looked_at() -> int:
        with database.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM processed_events")).scalar()

    wait_for(lambda: looked_at() == 9)
    assert count_rows("ledger_entries") == 4
    assert sorted(e["data"]["delta"] for e in awarded) == [5, 5, 10, 10]
    assert {e["city"] for e in awarded} == {"cixi"}
    assert awarded[-1]["data"]["balance"] <= 30
    platform = rpc(token("admin", "*"))
    assert error_of(platform.call, "points", "balance", stranger).exc_type == "WrongCity"

    page1 = admin.call("points", "history", volunteer_id, limit=3)
    page2 = admin.call("points", "history", volunteer_id, limit=3, cursor=page1["next_cursor"])
    entries = page1["items"] + page2["items"]
    assert page2["next_cursor"] is None and len(entries) == 4
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    by_kind = {e["kind"]: e for e in entries}
    assert set(by_kind) == {"checkin", "wish", "request", "rating_bonus"}
    assert by_kind["checkin"]["source_event_id"] == checked["event_id"]
    assert by_kind["checkin"]["hours"] == 2.5 and by_kind["checkin"]["at"].endswith("+08:00")
    assert set(entries[0]) >= {"id", "volunteer_id", "city", "delta", "reason", "source_event_id"}

    # The database refuses a second entry for the same work, whatever the code does.
    with pytest.raises(IntegrityError), database.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_entries (id, volunteer_id, city, kind, delta, reason, hours,"
                " source_key, at, recorded_at) SELECT :id, volunteer_id, city, kind, delta,"
                " reason, hours, source_key, at, recorded_at FROM ledger_entries"
                " WHERE kind = 'wish'"
            ),
            {"id": ids.new_id("cixi", "pe")},
        )


def test_a_burst_of_check_ins_is_credited_in_batches_exactly(
    points, admin, enrol, amqp_uri, spy, count_rows
):
    """Check-ins are credited in batches (one statement per table): a burst with several
    entries per volunteer in one batch, and replays inside it, still books each piece of work
    once, and every ``points_awarded`` carries the balance just after its own entry."""
    import eventlet
    from nameko.standalone.events import event_dispatcher

    from pioneer import db

    watch = spy("points")
    volunteers = [enrol() for _ in range(5)]
    envelopes = [
        db.envelope("volunteer_checked_in", "cixi", "cixi", checkin(v, 5, 1.0))
        for _ in range(30)
        for v in volunteers
    ]
    # The same work told again under new event ids, inside the burst.
    replays = [
        db.envelope("volunteer_checked_in", "cixi", "cixi", e["data"]) for e in envelopes[:10]
    ]
    dispatch = event_dispatcher({"AMQP_URI": amqp_uri})
    pool = eventlet.GreenPool(10)
    for envelope in envelopes + replays:
        pool.spawn_n(dispatch, "stations", "volunteer_checked_in", envelope)
    pool.waitall()

    awarded = watch.wait_for("points_awarded", count=150, timeout=30)
    assert count_rows("ledger_entries") == 150
    for v in volunteers:
        assert admin.call("points", "balance", v)["balance"] == 150
        balances = sorted(e["data"]["balance"] for e in awarded if e["data"]["volunteer_id"] == v)
        assert balances == [5 * k for k in range(1, 31)]
    board = admin.call("points", "leaderboard", city="cixi", period="all", limit=10)
    assert {(item["volunteer_id"], item["points"], item["rank"]) for item in board["items"]} >= {
        (v, 150, 1) for v in volunteers
    }


def test_adjustments_roles_and_unknown_volunteers(points, admin, rpc, token, enrol, spy):
    watch = spy("points")
    volunteer_id = enrol()
    other = enrol()
    me = rpc(token("volunteer", "cixi", sub=volunteer_id))
    assert me.call("points", "balance", volunteer_id)["balance"] == 0

    adjusted = admin.call("points", "adjust", volunteer_id, 20, "补录：敬老院活动")
    assert adjusted["kind"] == "adjust" and adjusted["delta"] == 20 and adjusted["balance"] == 20
    assert adjusted["actor"] == "test-admin"
    taken = admin.call("points", "adjust", volunteer_id, -5, "重复登记")
    assert taken["balance"] == 15
    error = error_of(admin.call, "points", "adjust", volunteer_id, -16, "超扣")
    assert error.exc_type == "Conflict"
    error = error_of(admin.call, "points", "adjust", volunteer_id, 0, "无")
    assert error.exc_type == "ValidationError" and str(error.value).startswith("delta")
    assert me.call("points", "balance", volunteer_id) == {
        "volunteer_id": volunteer_id,
        "balance": 15,
        "earned": 15,
        "spent": 0,
    }
    [event] = watch.wait_for("points_awarded", lambda e: e["data"]["delta"] == -5)
    assert event["data"]["kind"] == "adjust" and event["data"]["balance"] == 15

    # A volunteer reads only itself; ops read; a dispatcher of another city may not.
    assert error_of(me.call, "points", "balance", other).exc_type == "Forbidden"
    assert error_of(me.call, "points", "history", other).exc_type == "Forbidden"
    assert error_of(me.call, "points", "adjust", volunteer_id, 5, "我自己").exc_type == "Forbidden"
    assert rpc(token("ops", "cixi")).call("points", "balance", volunteer_id)["balance"] == 15
    error = error_of(rpc(token("admin", "haining")).call, "points", "balance", volunteer_id)
    assert error.exc_type == "Forbidden"
    error = error_of(rpc(token("admin", "haining")).call, "points", "adjust", volunteer_id, 1, "x")
    assert error.exc_type == "Forbidden"
    error = error_of(rpc(token("ops", "cixi")).call, "points", "adjust", volunteer_id, 1, "x")
    assert error.exc_type == "Forbidden"
    # Unknown volunteers and cities served elsewhere.
    unknown = ids.new_id("cixi", "vol")
    assert error_of(admin.call, "points", "balance", unknown).exc_type == "NotFound"
    assert error_of(admin.call, "points", "history", unknown).exc_type == "NotFound"
    assert error_of(admin.call, "points", "adjust", unknown, 5, "x").exc_type == "NotFound"
    elsewhere = ids.new_id("ningbo", "vol")
    platform = rpc(token("admin", "*"))
    error = error_of(platform.call, "points", "adjust", elsewhere, 5, "x")
    assert error.exc_type == "WrongCity" and "ningbo" in str(error.value)
