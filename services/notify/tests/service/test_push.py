"""Push channels against a real HTTP server on 127.0.0.1: webhooks signed with each recipient's
own secret and retried, 500s then success, timeouts then dead letter and replay, quiet hours
holding non-urgent pushes (emergency offers go at once), the HTTP SMS gateway; and webhooks that
cannot be turned inward: URLs refused when set and when sent, redirects never followed, and a
last_error that says only a coarse reason. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import eventlet
import pytest
from nameko.exceptions import RemoteError
from notify_testdata import FANGJIAHETOU, points_data, request_data
from sqlalchemy import select, text, update

from notify import webhook_rules
from notify.models import Notification, Preferences
from notify.service import NotifyService
from pioneer import clock, ids
from pioneer.testing.fixtures import wait_for
from pioneer.testing.receiver import Receiver


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
    secret = prefs["webhook_secret"]
    assert secret.startswith("whsec_")
    assert own.call("notify", "get_preferences", volunteer_id) == {**prefs, "webhook_secret": None}

    # Success: one POST, signed (Standard Webhooks) with this recipient's secret and no other's,
    # the key is the delivery id.
    dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
    wait_for(lambda: receiver.received)
    (hook,) = push_rows(database, volunteer_id)
    wait_for(lambda: status_of(database, hook.id).status == "sent")
    (post,) = receiver.received
    assert webhook_rules.verify_webhook(secret, post["headers"], post["body"]) == hook.id
    with pytest.raises(webhook_rules.WebhookRejected):
        webhook_rules.verify_webhook(
            webhook_rules.new_webhook_secret(), post["headers"], post["body"]
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
    assert failed[0]["data"]["error"] == "timeout" and failed[0]["data"]["attempts"] == 3
    listed = admin.call("notify", "failed_deliveries", "cixi")["items"]
    assert [d["id"] for d in listed] == [third.id] and listed[0]["attempts"] == 3
    assert listed[0]["last_error"] == "timeout"
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


# --- webhooks that cannot be turned inward ---------------------------------------------------------

# The issue's finding 2: a volunteer's own token set each of these, and each was accepted.
ISSUE_URLS = [
    "http://127.0.0.1:15672/api/users",
    "http://localhost:5672/",
    "http://169.254.169.254/",
    "http://[::1]:8101/metrics",
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
    "http://0.0.0.0:8105/",
]


def test_a_volunteer_cannot_point_its_webhook_inside(
    service_config, start_service, rpc, token, enrol, count_rows
):
    start_service(NotifyService, service_config)  # as deployed: no host named for plain http
    volunteer_id = enrol(skills=["repair"], location=dict(FANGJIAHETOU))
    own = rpc(token("volunteer", "cixi", sub=volunteer_id))
    for url in [*ISSUE_URLS, *(u.replace("http://", "https://", 1) for u in ISSUE_URLS)]:
        with pytest.raises(RemoteError) as refused:
            own.call(
                "notify",
                "set_preferences",
                volunteer_id,
                {"channels": ["webhook"], "webhook_url": url},
            )
        assert refused.value.exc_type == "ValidationError", url
        assert refused.value.value.startswith("preferences.webhook_url"), url
    assert count_rows("preferences") == 0
    good = own.call(
        "notify",
        "set_preferences",
        volunteer_id,
        {"channels": ["webhook"], "webhook_url": "https://hooks.example.org/pioneer"},
    )
    assert good["webhook_secret"].startswith("whsec_")


def store_webhook(database, recipient_id, url):
    """A webhook URL stored straight in the table, as one set under older rules would be."""
    table = Preferences.__table__
    with database.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.recipient_id == recipient_id)
            .values(webhook_url=url, webhook_secret=webhook_rules.new_webhook_secret())
        )


def test_urls_stored_under_older_rules_are_refused_at_send_time(
    service_config, start_service, admin, enrol, dispatch_event, database, receiver
):
    start_service(NotifyService, {**service_config, "WEBHOOK_TIMEOUT_S": 0.5})
    port = receiver.port
    stored = [
        f"http://127.0.0.1:{port}/hook",
        f"https://127.0.0.1:{port}/hook",
        f"http://localhost:{port}/hook",
        f"https://[::1]:{port}/hook",
        f"https://[::ffff:127.0.0.1]:{port}/hook",
        f"https://0.0.0.0:{port}/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/hook",
        "https://192.168.1.1/hook",
    ]
    recipients = []
    for url in stored:
        volunteer_id = enrol(skills=["repair"], location=dict(FANGJIAHETOU))
        admin.call(
            "notify",
            "set_preferences",
            volunteer_id,
            {"channels": ["webhook"], "webhook_url": "https://hooks.example.org/x"},
        )
        store_webhook(database, volunteer_id, url)
        dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
        recipients.append(volunteer_id)
    for volunteer_id in recipients:
        (row,) = wait_for(lambda v=volunteer_id: push_rows(database, v))
        wait_for(lambda r=row: status_of(database, r.id).status == "failed")
        assert status_of(database, row.id).attempts == 1  # final at once, not retried
    listed = admin.call("notify", "failed_deliveries", "cixi")["items"]
    assert len(listed) == len(stored)
    assert {d["last_error"] for d in listed} <= {"refused_url", "refused_address"}
    assert receiver.received == []


def test_a_redirect_is_a_failed_attempt_and_its_target_hears_nothing(
    notify, admin, enrol, dispatch_event, database, receiver, spy
):
    events = spy("notify")
    target = Receiver()
    try:
        receiver.redirect_to = target.url
        receiver.script = [302]
        volunteer_id = enrol(skills=["repair"], location=dict(FANGJIAHETOU))
        admin.call(
            "notify",
            "set_preferences",
            volunteer_id,
            {"channels": ["webhook"], "webhook_url": receiver.url},
        )
        dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
        (row,) = wait_for(lambda: push_rows(database, volunteer_id))
        wait_for(lambda: status_of(database, row.id).status == "failed")
        failed = events.wait_for(
            "notification_failed", lambda e: e["data"]["notification_id"] == row.id
        )
        assert failed[0]["data"]["error"] == "http_3xx"
        eventlet.sleep(0.5)
        assert [p["answer"] for p in receiver.received] == [302]
        assert target.received == []  # no GET, no POST, no signature went there
        (listed,) = admin.call("notify", "failed_deliveries", "cixi")["items"]
        assert (listed["last_error"], listed["attempts"]) == ("http_3xx", 1)
    finally:
        target.close()


def test_last_error_names_a_coarse_reason_not_what_answered(
    notify, admin, enrol, dispatch_event, database
):
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    volunteer_id = enrol(skills=["repair"], location=dict(FANGJIAHETOU))
    admin.call(
        "notify",
        "set_preferences",
        volunteer_id,
        {"channels": ["webhook"], "webhook_url": f"http://127.0.0.1:{closed_port}/x"},
    )
    dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
    (row,) = wait_for(lambda: push_rows(database, volunteer_id))
    wait_for(lambda: status_of(database, row.id).status == "failed", timeout=15)
    (listed,) = admin.call("notify", "failed_deliveries", "cixi")["items"]
    assert (listed["last_error"], listed["attempts"]) == ("connection_failed", 3)


def test_each_recipient_verifies_only_its_own_deliveries(
    notify, admin, enrol, dispatch_event, database, receiver
):
    secrets, recipients = {}, []
    for _ in range(2):
        volunteer_id = enrol(skills=["repair"], location=dict(FANGJIAHETOU))
        prefs = admin.call(
            "notify",
            "set_preferences",
            volunteer_id,
            {"channels": ["webhook"], "webhook_url": receiver.url},
        )
        secrets[volunteer_id] = prefs["webhook_secret"]
        recipients.append(volunteer_id)
        dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
    wait_for(lambda: len(receiver.received) == 2)
    assert len(set(secrets.values())) == 2
    for post in receiver.received:
        mine = post["json"]["recipient_id"]
        (other,) = [r for r in recipients if r != mine]
        assert webhook_rules.verify_webhook(secrets[mine], post["headers"], post["body"])
        with pytest.raises(webhook_rules.WebhookRejected):
            webhook_rules.verify_webhook(secrets[other], post["headers"], post["body"])
    # Setting the same URL again keeps the secret (and does not show it); a new URL rotates it.
    first = recipients[0]
    same = admin.call(
        "notify", "set_preferences", first, {"channels": ["webhook"], "webhook_url": receiver.url}
    )
    assert same["webhook_secret"] is None
    moved = admin.call(
        "notify",
        "set_preferences",
        first,
        {"channels": ["webhook"], "webhook_url": receiver.url + "/v2"},
    )
    assert moved["webhook_secret"] not in (None, secrets[first])
    receiver.received.clear()
    dispatch_event("points", "points_redeemed", "cixi", points_data(first))
    (post,) = wait_for(lambda: receiver.received)
    assert post["path"] == "/hook/v2"
    assert webhook_rules.verify_webhook(moved["webhook_secret"], post["headers"], post["body"])
    with pytest.raises(webhook_rules.WebhookRejected):
        webhook_rules.verify_webhook(secrets[first], post["headers"], post["body"])
