"""Push channels against a real HTTP server on 127.0.0.1: webhooks signed and retried, 500s then
success, timeouts then dead letter and replay, quiet hours holding non-urgent pushes (emergency
offers go at once), and the HTTP SMS gateway. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import eventlet
import pytest
from nameko.exceptions import RemoteError
from notify_testdata import FANGJIAHETOU, WEBHOOK_SECRET, points_data, request_data
from sqlalchemy import select, text, update

from notify import domain
from notify.models import Notification
from notify.service import NotifyService
from pioneer import clock, ids
from pioneer.testing.fixtures import wait_for


def status_of(database, notification_id):
    table = Notification.__table__
    with database.connect() as conn:
        return conn.execute(
            select(table.c.status, table.c.attempts, table.c.due_at, table.c.held_until).where(
                table.c.id == notification_id
            )
        ).one()


def push_rows(database, recipient_id, channel="webhook"):
    with database.connect() as conn:
        return conn.execute(
            text(
                "SELECT id, status, attempts, kind FROM notifications"
                " WHERE recipient_id = :r AND channel = :c ORDER BY id"
            ),
            {"r": recipient_id, "c": channel},
        ).all()


def quiet_now() -> dict[str, str]:
    """Quiet hours around the present local time (an hour either side, wrapping if need be)."""
    local = clock.local(datetime.now(UTC))
    return {
        "start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=1)).strftime("%H:%M"),
    }


def test_webhooks_signed_retried_dead_lettered_and_replayed(
    notify, admin, rpc, token, enrol, dispatch_event, database, receiver, spy
):
    events = spy("notify")
    volunteer_id = enrol(skills=["plumbing_electrical"], location=dict(FANGJIAHETOU))
    own = rpc(token("volunteer", "cixi", sub=volunteer_id))
    prefs = own.call(
        "notify",
        "set_preferences",
        volunteer_id,
        {"channels": ["webhook"], "quiet_hours": None, "webhook_url": receiver.url},
    )
    assert prefs["channels"] == ["inbox", "webhook"] and prefs["webhook_url"] == receiver.url
    assert own.call("notify", "get_preferences", volunteer_id) == prefs

    # Success: one POST, the signature verifies over the raw body, the key is the delivery id.
    dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
    wait_for(lambda: receiver.received)
    (hook,) = push_rows(database, volunteer_id)
    wait_for(lambda: status_of(database, hook.id).status == "sent")
    (post,) = receiver.received
    assert domain.signature_valid(
        WEBHOOK_SECRET, post["body"], post["headers"]["X-Pioneer-Signature"]
    )
    assert not domain.signature_valid(
        "another-secret-000000", post["body"], post["headers"]["X-Pioneer-Signature"]
    )
    assert post["headers"]["Idempotency-Key"] == hook.id == post["json"]["id"]
    assert post["json"]["recipient_id"] == volunteer_id and post["json"]["channel"] == "webhook"
    sent = events.wait_for("notification_sent", lambda e: e["data"]["channel"] == "webhook")
    assert sent[0]["data"]["notification_id"] == hook.id

    # Two 500s, then success: three POSTs with the same idempotency key, sent once.
    receiver.received.clear()
    receiver.script = [500, 503]
    dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
    second = wait_for(lambda: [r for r in push_rows(database, volunteer_id) if r.id != hook.id])[0]
    wait_for(lambda: status_of(database, second.id).status == "sent", timeout=15)
    assert [p["answer"] for p in receiver.received] == [500, 503, 200]
    assert {p["headers"]["Idempotency-Key"] for p in receiver.received} == {second.id}
    assert status_of(database, second.id).attempts == 3

    # A receiver that never answers in time: three timeouts, then the dead letter.
    receiver.received.clear()
    receiver.script = ["hang", "hang", "hang"]
    dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
    third = wait_for(
        lambda: [r for r in push_rows(database, volunteer_id) if r.id not in (hook.id, second.id)]
    )[0]
    wait_for(lambda: status_of(database, third.id).status == "failed", timeout=20)
    failed = events.wait_for(
        "notification_failed", lambda e: e["data"]["notification_id"] == third.id
    )
    assert "no answer" in failed[0]["data"]["error"] and failed[0]["data"]["attempts"] == 3
    listed = admin.call("notify", "failed_deliveries", "cixi")["items"]
    assert [d["id"] for d in listed] == [third.id] and listed[0]["attempts"] == 3
    # The inbox was stored at once all along.
    assert len(own.call("notify", "inbox", volunteer_id)["items"]) == 3

    # Replay: sent again from the first attempt, and it arrives.
    eventlet.sleep(2.5)  # the hung requests have finished
    receiver.received.clear()
    replayed = admin.call("notify", "replay_deliveries", "cixi", [third.id, hook.id])
    assert replayed == {"replayed": [third.id]}  # a sent delivery is not replayed
    wait_for(lambda: status_of(database, third.id).status == "sent", timeout=10)
    assert [p["headers"]["Idempotency-Key"] for p in receiver.received] == [third.id]
    assert admin.call("notify", "failed_deliveries", "cixi")["items"] == []
    with pytest.raises(RemoteError) as refused:
        rpc(token("ops", "cixi")).call("notify", "replay_deliveries", "cixi", [third.id])
    assert refused.value.exc_type == "Forbidden"


def test_quiet_hours_hold_pushes_but_not_emergencies(
    notify, admin, enrol, dispatch_event, database, receiver
):
    volunteer_id = enrol(skills=["plumbing_electrical"], location=dict(FANGJIAHETOU))
    admin.call(
        "notify",
        "set_preferences",
        volunteer_id,
        {"channels": ["webhook"], "quiet_hours": quiet_now(), "webhook_url": receiver.url},
    )
    # A normal offer inside quiet hours: the inbox has it, the webhook is held to their end.
    normal = ids.new_id("cixi", "req")
    dispatch_event(
        "wishes", "request_dispatched", "cixi", request_data(normal, 2, offered_to=[volunteer_id])
    )
    (held,) = wait_for(lambda: push_rows(database, volunteer_id))
    row = status_of(database, held.id)
    assert row.status == "pending" and row.held_until is not None
    assert row.held_until > datetime.now(UTC) + timedelta(minutes=30)
    assert admin.call("notify", "inbox", volunteer_id)["items"][0]["subject_id"] == normal
    # An emergency goes at once.
    urgent = ids.new_id("cixi", "req")
    dispatch_event(
        "wishes",
        "request_dispatched",
        "cixi",
        request_data(urgent, 2, offered_to=[volunteer_id], urgency="emergency"),
    )
    wait_for(lambda: [p for p in receiver.received if p["json"]["subject_id"] == urgent])
    eventlet.sleep(1)
    assert [p["json"]["subject_id"] for p in receiver.received] == [urgent]
    # When the quiet hours end (their due time reached), the timer releases the held one.
    table = Notification.__table__
    with database.begin() as conn:
        conn.execute(update(table).where(table.c.id == held.id).values(due_at=datetime.now(UTC)))
    wait_for(lambda: status_of(database, held.id).status == "sent")
    assert [p["json"]["subject_id"] for p in receiver.received] == [urgent, normal]


def test_sms_through_the_http_gateway(
    notify_config, start_service, admin, enrol, dispatch_event, database, receiver
):
    start_service(
        NotifyService,
        {
            **notify_config,
            "SMS_ADAPTER": "http",
            "SMS_GATEWAY_URL": receiver.url,
            "SMS_GATEWAY_KEY": "gateway-key-123",
        },
    )
    volunteer_id = enrol(skills=["repair"], location=dict(FANGJIAHETOU))
    admin.call("notify", "set_preferences", volunteer_id, {"channels": ["sms", "wechat"]})
    dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
    (post,) = wait_for(lambda: receiver.received)
    assert post["headers"]["X-Api-Key"] == "gateway-key-123"
    assert post["json"]["recipient_id"] == volunteer_id and post["json"]["channel"] == "sms"
    # The phone number is the gateway's business: notify sends the recipient id only.
    assert set(post["json"]) == {
        "id",
        "recipient_id",
        "kind",
        "subject_id",
        "title",
        "body",
        "channel",
        "created_at",
    }
    # WeChat stays on the logging adapter here: delivered (logged), nothing posted.
    wait_for(lambda: [r for r in push_rows(database, volunteer_id, "wechat") if r.status == "sent"])
    assert len(receiver.received) == 1
