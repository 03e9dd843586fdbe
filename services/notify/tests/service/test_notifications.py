"""Who hears what: events from wishes, volunteers and points become inbox notifications for
exactly the right recipients, once, without anyone's contact details; inbox paging, read state
and who may read which inbox. On SQLite and PostgreSQL against the real broker."""

from __future__ import annotations

import json

import eventlet
import pytest
from nameko.exceptions import RemoteError
from notify_testdata import (
    BENEFICIARY,
    FANGJIAHETOU,
    FAR_AWAY,
    points_data,
    request_data,
    wish_data,
)
from sqlalchemy import text

from pioneer import ids
from pioneer.testing.fixtures import volunteer_event, wait_for
from pioneer.testing.moments import iso_from_now


def inbox_of(client, recipient_id, **kwargs):
    return client.call("notify", "inbox", recipient_id, **kwargs)["items"]


def rows(database, sql, **params):
    with database.connect() as conn:
        return conn.execute(text(sql), params).all()


def test_events_reach_the_right_inboxes_once(
    notify, admin, rpc, token, enrol, dispatch_event, database, spy
):
    sent = spy("notify")
    matching = [
        enrol(skills=["elderly_care", "repair"], location=dict(FANGJIAHETOU)) for _ in range(3)
    ]
    other_skill = enrol(skills=["repair"], location=dict(FANGJIAHETOU))
    far = enrol(skills=["elderly_care"], location=dict(FAR_AWAY))
    suspended = enrol(
        status="suspended",
        skills=["elderly_care"],
        location=dict(FANGJIAHETOU),
        suspended_until=iso_from_now(days=30),
    )
    haining = enrol(city="haining", skills=["elderly_care"], location=dict(FANGJIAHETOU))

    # A published wish: the three matching volunteers, nobody else; delivered twice, stored once.
    wish = wish_data()
    envelope = dispatch_event("wishes", "wish_published", "cixi", wish)
    dispatch_event("wishes", "wish_published", "cixi", wish, event_id=envelope["event_id"])
    wait_for(lambda: all(inbox_of(admin, v) for v in matching))
    eventlet.sleep(0.5)  # the repeat has been handled by now
    for volunteer_id in matching:
        (note,) = inbox_of(admin, volunteer_id)
        assert note["kind"] == "wish_published" and note["subject_id"] == wish["wish_id"]
        assert note["channel"] == "inbox" and note["read"] is False
        assert wish["title"] in note["title"] and "公里" in note["body"]
    haining_admin = rpc(token("admin", "haining"))
    for volunteer_id in (other_skill, far, suspended, haining):
        reader = haining_admin if volunteer_id.startswith("haining") else admin
        assert [n["kind"] for n in inbox_of(reader, volunteer_id)] in ([], ["volunteer_suspended"])
    batch = sent.wait_for("notification_sent", lambda e: e["data"]["kind"] == "wish_published")
    assert batch[0]["data"]["count"] == 3 and batch[0]["data"]["channel"] == "inbox"

    # A claim: the city's admins' inbox, which admins and ops of the city read, nobody else.
    claimer = matching[0]
    dispatch_event(
        "wishes",
        "wish_claimed",
        "cixi",
        wish_data(
            wish["wish_id"],
            status="claimed",
            volunteer_id=claimer,
            volunteer_city="cixi",
            version=3,
        ),
    )
    (claimed,) = wait_for(lambda: inbox_of(admin, "admins:cixi"))
    assert claimed["kind"] == "wish_claimed" and claimer in claimed["body"]
    assert inbox_of(rpc(token("ops", "cixi")), "admins:cixi") == [claimed]
    for caller in (
        token("volunteer", "cixi", sub=claimer),
        token("admin", "haining"),
        token("dispatcher", "cixi"),
    ):
        with pytest.raises(RemoteError) as refused:
            rpc(caller).call("notify", "inbox", "admins:cixi")
        assert refused.value.exc_type == "Forbidden"

    # Offers: offered, then an emergency to three, one accepts, the other two lose it.
    first, second, third = matching
    request_id = ids.new_id("cixi", "req")
    dispatch_event(
        "wishes", "request_dispatched", "cixi", request_data(request_id, 2, offered_to=[first])
    )
    wait_for(lambda: [n for n in inbox_of(admin, first) if n["kind"] == "offer"])
    # first did not answer in time: the request moved on to second and third.
    dispatch_event(
        "wishes",
        "request_dispatched",
        "cixi",
        request_data(request_id, 3, offered_to=[second, third], urgency="emergency"),
    )
    wait_for(lambda: [n for n in inbox_of(admin, first) if n["kind"] == "offer_ended"])
    dispatch_event(
        "wishes",
        "request_declined",
        "cixi",
        request_data(request_id, 3, offered_to=[second], volunteer_id=third, volunteer_city="cixi"),
    )
    # Event types travel on separate queues: let the decline land before the acceptance.
    closed = "SELECT 1 FROM offer_holds WHERE volunteer_id = :v AND status = 'closed'"
    wait_for(lambda: rows(database, closed, v=third))
    dispatch_event(
        "wishes",
        "request_accepted",
        "cixi",
        request_data(
            request_id,
            4,
            status="accepted",
            offered_to=[],
            volunteer_id=second,
            volunteer_city="cixi",
        ),
    )
    wait_for(lambda: rows(database, "SELECT 1 FROM offer_holds WHERE status = 'open'") == [])
    kinds = {
        v: [n["kind"] for n in inbox_of(admin, v) if n["subject_id"] == request_id]
        for v in matching
    }
    assert kinds[first] == ["offer_ended", "offer"]  # newest first
    assert kinds[second] == ["offer"] and kinds[third] == ["offer"]  # accepted / declined itself
    (ended,) = [n for n in inbox_of(admin, first) if n["kind"] == "offer_ended"]
    assert "其他志愿者" in ended["body"]
    # A dispatch older than what was seen (arriving late) offers nothing any more.
    late = ids.new_id("cixi", "vol")
    stale = dispatch_event(
        "wishes", "request_dispatched", "cixi", request_data(request_id, 1, offered_to=[late])
    )
    handled = "SELECT 1 FROM processed_events WHERE event_id = :e"
    wait_for(lambda: rows(database, handled, e=stale["event_id"]))
    assert inbox_of(admin, late) == []
    # A cancelled request withdraws the open offer.
    cancelled = ids.new_id("cixi", "req")
    dispatch_event(
        "wishes", "request_dispatched", "cixi", request_data(cancelled, 2, offered_to=[third])
    )
    wait_for(lambda: [n for n in inbox_of(admin, third) if n["subject_id"] == cancelled])
    dispatch_event(
        "wishes",
        "request_cancelled",
        "cixi",
        request_data(
            cancelled, 3, status="cancelled", offered_to=[], reason="居民 13812345678 取消"
        ),
    )
    notes = wait_for(
        lambda: [
            n
            for n in inbox_of(admin, third)
            if n["subject_id"] == cancelled and n["kind"] == "offer_ended"
        ]
    )
    assert "取消" in notes[0]["body"] and "138" not in notes[0]["body"]

    # Suspension and reinstatement reach the volunteer; a stale repeat of an old version does not.
    dispatch_event(
        "volunteers",
        "volunteer_suspended",
        "cixi",
        volunteer_event(
            third,
            status="suspended",
            version=5,
            skills=["elderly_care"],
            suspended_until=iso_from_now(days=30),
            location=dict(FANGJIAHETOU),
        ),
    )
    version_of = "SELECT version FROM volunteer_replica WHERE volunteer_id = :v"
    wait_for(lambda: rows(database, version_of, v=third) == [(5,)])
    dispatch_event(
        "volunteers",
        "volunteer_reinstated",
        "cixi",
        volunteer_event(
            third, status="active", version=6, skills=["elderly_care"], location=dict(FANGJIAHETOU)
        ),
    )
    dispatch_event(
        "volunteers",
        "volunteer_suspended",
        "cixi",
        volunteer_event(
            third,
            status="suspended",
            version=4,
            skills=["elderly_care"],
            location=dict(FANGJIAHETOU),
        ),
    )
    wait_for(lambda: rows(database, version_of, v=third) == [(6,)])
    eventlet.sleep(0.5)
    status_kinds = [n["kind"] for n in inbox_of(admin, third) if n["subject_id"] == third]
    assert status_kinds == ["volunteer_reinstated", "volunteer_suspended"]

    # A redemption reaches the volunteer (the points service's event, dispatched here).
    redemption = points_data(first)
    dispatch_event("points", "points_redeemed", "cixi", redemption)
    (redeemed,) = wait_for(
        lambda: [n for n in inbox_of(admin, first) if n["kind"] == "points_redeemed"]
    )
    assert redeemed["subject_id"] == redemption["redemption_id"]
    assert "环保袋" in redeemed["title"] and "70" in redeemed["body"]

    # No contact details anywhere, in notifications or in notify's events.
    everything = json.dumps(
        [list(r) for r in rows(database, "SELECT title, body FROM notifications")],
        ensure_ascii=False,
    ) + json.dumps(sent.events, ensure_ascii=False)
    for secret in (*BENEFICIARY.values(), "13812345678"):
        assert secret not in everything

    # Exactly once, by the database: the unique key holds for every row.
    dupes = rows(
        database,
        "SELECT source_event_id, recipient_id, channel, count(*) FROM notifications"
        " GROUP BY source_event_id, recipient_id, channel HAVING count(*) > 1",
    )
    assert dupes == []


def test_inbox_pages_reads_and_concurrent_marks(notify, admin, rpc, token, enrol, dispatch_event):
    volunteer_id = enrol(skills=["elderly_care"], location=dict(FANGJIAHETOU))
    for _ in range(7):
        dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
    own = rpc(token("volunteer", "cixi", sub=volunteer_id))
    wait_for(lambda: len(inbox_of(own, volunteer_id)) == 7)

    # Newest first, in pages of three, no overlap.
    seen, cursor = [], None
    while True:
        got = own.call("notify", "inbox", volunteer_id, limit=3, cursor=cursor)
        seen.extend(n["id"] for n in got["items"])
        cursor = got["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 7

    # Ten callers mark the same four at once: each is marked exactly once.
    targets = seen[:4]
    clients = [rpc(token("volunteer", "cixi", sub=volunteer_id)) for _ in range(10)]
    replies = [c.call_async("notify", "mark_read", volunteer_id, targets) for c in clients]
    results = [r.result() for r in replies]
    assert sum(r["marked"] for r in results) == 4
    assert {r["unread"] for r in results} >= {3}
    unread = own.call("notify", "inbox", volunteer_id, unread_only=True)["items"]
    assert [n["id"] for n in unread] == seen[4:]
    assert all(n["read"] for n in inbox_of(own, volunteer_id) if n["id"] in targets)

    # Ten first-time preference writes at once (an upsert each): one row, the last write wins.
    choices = [{"channels": ["sms"] if i % 2 else ["wechat"]} for i in range(10)]
    replies = [
        c.call_async("notify", "set_preferences", volunteer_id, p)
        for c, p in zip(clients, choices, strict=True)
    ]
    assert {tuple(r.result()["channels"]) for r in replies} <= {
        ("inbox", "sms"),
        ("inbox", "wechat"),
    }
    stored = own.call("notify", "get_preferences", volunteer_id)
    assert stored["channels"] in (["inbox", "sms"], ["inbox", "wechat"])

    # A volunteer reads only its own inbox; another city's admin not at all; ops may not mark.
    stranger = rpc(token("volunteer", "cixi", sub=ids.new_id("cixi", "vol")))
    for client, method, args in (
        (stranger, "inbox", (volunteer_id,)),
        (stranger, "mark_read", (volunteer_id, targets)),
        (rpc(token("admin", "haining")), "inbox", (volunteer_id,)),
        (rpc(token("ops", "cixi")), "mark_read", (volunteer_id, targets)),
    ):
        with pytest.raises(RemoteError) as refused:
            client.call("notify", method, *args)
        assert refused.value.exc_type == "Forbidden"
    assert inbox_of(rpc(token("ops", "cixi")), volunteer_id)[0]["id"] == seen[0]
    with pytest.raises(RemoteError) as elsewhere:
        rpc(token("admin", "*")).call("notify", "inbox", "admins:ningbo")
    assert elsewhere.value.exc_type == "WrongCity"
