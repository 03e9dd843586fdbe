"""Notify's use cases on a fake unit of work and store: who hears of each event and how often,
what offers end, what the directory keeps, the inbox and preferences, and the delivery of push
channels (lease, backoff, dead letter, replay). No broker, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fakes import FakeNotifyStore
from notify_testdata import FANGJIAHETOU, FAR_AWAY, points_data, request_data, wish_data

from notify import usecases
from notify.channels import DeliveryError
from notify.schemas import PreferencesIn
from notify.settings import NotifySettings
from pioneer import clock, ids
from pioneer.catalog import Catalog
from pioneer.config import validate_settings
from pioneer.db import envelope
from pioneer.errors import ValidationError
from pioneer.events import parse_event
from pioneer.testing.fakes import FakeUnitOfWork
from pioneer.testing.fixtures import volunteer_event
from pioneer.testing.moments import iso_from_now

CATALOG = Catalog()
CITIES = ("cixi", "haining", "jiaxing")
SETTINGS = validate_settings(
    NotifySettings,
    {
        "AMQP_URI": "amqp://guest:guest@localhost:5672/",
        "CITIES": "cixi,haining,jiaxing",
        "DATABASE_URL": "sqlite:///x.db",
        "JWT_SECRET": "x" * 32,
        "WEBHOOK_SECRET": "unit-webhook-secret-000",
        "DELIVERY_MAX_ATTEMPTS": 3,
        "DELIVERY_BACKOFF_S": 10,
        "DELIVERY_BACKOFF_MAX_S": 15,
    },
    "notify",
)


class Log:
    """Keeps what was logged."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def info(self, event: str, **fields) -> None:
        self.lines.append((event, fields))

    warning = info


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakeNotifyStore(), CITIES)


def event(source_type: str, city: str, data: dict, event_id: str | None = None):
    env = envelope(source_type, city, city, data)
    if event_id:
        env["event_id"] = event_id
    return parse_event(env)


def inbox_kinds(uow, recipient_id: str) -> list[str]:
    return [n.kind for n in uow.store.rows_of(recipient_id, "inbox")]


def publish(uow, data: dict, event_id: str | None = None, log: Log | None = None) -> int:
    published = event("wish_published", data["city"], data, event_id)
    with uow:  # an event use case runs in the handler's unit of work
        return usecases.wish_published(
            uow, published, CATALOG, CITIES, SETTINGS.wish_radius_m, log or Log()
        )


def redeem(uow, data: dict) -> int:
    with uow:
        return usecases.points_redeemed(uow, event("points_redeemed", data["city"], data), CITIES)


# --- who hears of a wish -------------------------------------------------------------------------


def test_a_published_wish_reaches_the_eligible_volunteers_in_the_circle_once(uow):
    store = uow.store
    matching = [store.enrol(skills=("elderly_care", "repair"), location=FANGJIAHETOU) for _ in "ab"]
    others = [
        store.enrol(skills=("repair",), location=FANGJIAHETOU),
        store.enrol(location=FAR_AWAY),
        store.enrol(location=None),
        store.enrol(status="removed", location=FANGJIAHETOU),
        store.enrol(
            status="suspended", location=FANGJIAHETOU, suspended_until=clock.utcnow() + timedelta(1)
        ),
        store.enrol(city="haining", location=FANGJIAHETOU),
    ]
    over = store.enrol(
        status="suspended", location=FANGJIAHETOU, suspended_until=clock.utcnow() - timedelta(1)
    )
    wish, log = wish_data(), Log()
    assert publish(uow, wish, "e-1", log) == 3
    for volunteer_id in (*matching, over):  # a suspension already past counts as over
        (note,) = store.rows_of(volunteer_id)
        assert note.kind == "wish_published" and note.subject_id == wish["wish_id"]
        assert "居家养老" in note.body and "公里" in note.body
    assert all(store.rows_of(v) == [] for v in others)
    [sent] = uow.of_type("notification_sent")
    assert sent["data"]["count"] == 3 and sent["data"]["channel"] == "inbox"
    assert sent["data"]["notification_id"] is None  # a batch names no single row
    assert log.lines == [
        ("wish_fanned_out", {"wish_id": wish["wish_id"], "recipients": 3, "stored": 3})
    ]
    # The same event again: nothing new stored, nothing emitted.
    assert publish(uow, wish, "e-1") == 0
    assert len(uow.of_type("notification_sent")) == 1


def test_a_wish_of_a_city_served_elsewhere_tells_nobody_here(uow):
    uow.store.enrol(city="ningbo", location=FANGJIAHETOU)
    assert publish(uow, wish_data(ids.new_id("ningbo", "wish"), city="ningbo")) == 0
    assert uow.store.notifications == {} and uow.events == []


def test_push_channels_follow_preferences_and_quiet_hours(uow):
    volunteer_id = uow.store.enrol(location=FANGJIAHETOU)
    local = clock.local(datetime.now(UTC))
    quiet = {
        "start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=1)).strftime("%H:%M"),
    }
    chosen = {"channels": ["wechat", "sms"], "quiet_hours": quiet}
    usecases.set_preferences(uow, volunteer_id, PreferencesIn.model_validate(chosen))
    publish(uow, wish_data())
    inbox, sms, wechat = (uow.store.rows_of(volunteer_id, c) for c in ("inbox", "sms", "wechat"))
    assert inbox[0].status == "stored" and inbox[0].due_at is None
    for [push] in (sms, wechat):  # held to the end of the quiet hours
        assert push.status == "pending" and push.due_at == push.held_until > clock.utcnow()
    # An emergency offer goes at once, quiet hours or not.
    request_id = ids.new_id("cixi", "req")
    dispatched = request_data(request_id, 2, offered_to=[volunteer_id], urgency="emergency")
    with uow:
        usecases.request_changed(
            uow, event("request_dispatched", "cixi", dispatched), CATALOG, CITIES
        )
    [_, urgent] = uow.store.rows_of(volunteer_id, "sms")
    assert urgent.urgent and urgent.held_until is None and urgent.due_at <= clock.utcnow()


def test_a_claim_tells_the_city_admins_inbox(uow):
    claimer = ids.new_id("cixi", "vol")
    claimed = wish_data(status="claimed", volunteer_id=claimer, volunteer_city="cixi", version=3)
    with uow:
        assert usecases.wish_claimed(uow, event("wish_claimed", "cixi", claimed), CITIES) == 1
    (note,) = uow.store.rows_of("admins:cixi")
    assert note.kind == "wish_claimed" and claimer in note.body and note.city == "cixi"
    [sent] = uow.of_type("notification_sent")
    assert sent["data"]["notification_id"] == note.id and sent["data"]["recipient_id"] == (
        "admins:cixi"
    )


# --- offers --------------------------------------------------------------------------------------


def changed(uow, event_type: str, request_id: str, version: int, **data) -> int:
    body = request_data(request_id, version, **data)
    with uow:
        return usecases.request_changed(uow, event(event_type, "cixi", body), CATALOG, CITIES)


def test_offers_end_for_those_who_lost_them_and_not_for_their_own_acts(uow):
    first, second, third = (ids.new_id("cixi", "vol") for _ in range(3))
    request_id = ids.new_id("cixi", "req")
    changed(uow, "request_dispatched", request_id, 2, offered_to=[first])
    assert inbox_kinds(uow, first) == ["offer"]
    # The request moved on: first timed out, second and third are offered.
    changed(uow, "request_dispatched", request_id, 3, offered_to=[second, third])
    assert inbox_kinds(uow, first) == ["offer", "offer_ended"]
    assert "其他志愿者" in uow.store.rows_of(first)[-1].body
    # third declines (its own act: closed, no notice), second accepts.
    changed(uow, "request_declined", request_id, 3, offered_to=[second], volunteer_id=third)
    assert uow.store.holds[(request_id, third)].status == "closed"
    changed(
        uow,
        "request_accepted",
        request_id,
        4,
        status="accepted",
        offered_to=[],
        volunteer_id=second,
    )
    assert inbox_kinds(uow, second) == ["offer"] and inbox_kinds(uow, third) == ["offer"]
    assert {h.status for h in uow.store.holds.values()} == {"closed"}
    # A dispatch older than an offer already seen (late) offers nothing.
    late = ids.new_id("cixi", "vol")
    assert changed(uow, "request_dispatched", request_id, 1, offered_to=[late]) == 0
    assert (request_id, late) not in uow.store.holds and uow.store.rows_of(late) == []


def test_an_accepted_request_tells_the_others_it_was_taken_and_a_cancel_withdraws(uow):
    a, b = ids.new_id("cixi", "vol"), ids.new_id("cixi", "vol")
    request_id = ids.new_id("cixi", "req")
    changed(uow, "request_dispatched", request_id, 2, offered_to=[a, b])
    changed(uow, "request_accepted", request_id, 3, offered_to=[], volunteer_id=a)
    assert inbox_kinds(uow, a) == ["offer"]
    assert "另一位志愿者" in uow.store.rows_of(b)[-1].body
    cancelled = ids.new_id("cixi", "req")
    changed(uow, "request_dispatched", cancelled, 2, offered_to=[a])
    reason = "居民 13812345678 取消"
    changed(uow, "request_cancelled", cancelled, 3, offered_to=[], reason=reason)
    ended = uow.store.rows_of(a)[-1]
    assert ended.kind == "offer_ended" and "取消" in ended.body and "138" not in ended.body


def test_offers_to_volunteers_of_cities_served_elsewhere_are_held_but_not_stored(uow):
    here, there = ids.new_id("cixi", "vol"), ids.new_id("ningbo", "vol")
    request_id = ids.new_id("cixi", "req")
    assert changed(uow, "request_dispatched", request_id, 2, offered_to=[here, there]) == 1
    assert {v for _, v in uow.store.holds} == {here, there}
    assert uow.store.rows_of(there) == []


# --- the directory and discipline ----------------------------------------------------------------


def discipline(uow, kind: str, volunteer_id: str, status: str, version: int, **data) -> bool:
    body = volunteer_event(volunteer_id, status=status, version=version, **data)
    with uow:
        return usecases.volunteer_changed(uow, event(kind, "cixi", body), kind, CITIES)


def test_a_newer_discipline_event_tells_the_volunteer_and_a_stale_one_nobody(uow):
    store = uow.store
    volunteer_id = store.enrol(location=FANGJIAHETOU, version=4)
    until = iso_from_now(days=30)
    located = {"skills": ["elderly_care"], "location": dict(FANGJIAHETOU)}
    assert discipline(
        uow, "volunteer_suspended", volunteer_id, "suspended", 5, suspended_until=until, **located
    )
    assert store.volunteers[volunteer_id].version == 5
    assert publish(uow, wish_data()) == 0  # suspended: out of the fan-out
    assert discipline(uow, "volunteer_reinstated", volunteer_id, "active", 6, **located)
    # An older suspension arriving late changes nothing and tells nobody.
    assert not discipline(uow, "volunteer_suspended", volunteer_id, "suspended", 4, **located)
    assert store.volunteers[volunteer_id].status == "active"
    assert inbox_kinds(uow, volunteer_id) == ["volunteer_suspended", "volunteer_reinstated"]
    assert "暂停至" in store.rows_of(volunteer_id)[0].body
    # A removal takes the volunteer out of the directory.
    assert discipline(uow, "volunteer_removed", volunteer_id, "removed", 7, **located)
    assert volunteer_id not in store.skills


def test_registrations_keep_the_directory_and_tell_nobody(uow):
    store = uow.store
    volunteer_id = store.enrol(location=None)
    assert volunteer_id not in store.skills  # not located: not in the circle index
    store.volunteers[volunteer_id].lat, store.volunteers[volunteer_id].lon = 30.2, 121.4
    usecases.volunteers_changed(uow, [volunteer_id])
    assert store.skills[volunteer_id] == {"elderly_care"}
    assert store.notifications == {} and uow.events == []


def test_a_redemption_tells_the_volunteer_and_a_malformed_recipient_is_skipped(uow):
    volunteer_id = ids.new_id("cixi", "vol")
    redemption = points_data(volunteer_id)
    assert redeem(uow, redemption) == 1
    (note,) = uow.store.rows_of(volunteer_id)
    assert note.subject_id == redemption["redemption_id"] and "环保袋 × 2" in note.title
    # A foreign producer's mistake: a recipient that could never read its inbox.
    assert redeem(uow, {**points_data(volunteer_id), "volunteer_id": "not-an-id"}) == 0
    assert len(uow.store.notifications) == 1 and len(uow.events) == 1


# --- the inbox and preferences -------------------------------------------------------------------


def test_the_inbox_pages_newest_first_and_marks_each_once(uow):
    volunteer_id = ids.new_id("cixi", "vol")
    for _ in range(5):
        redeem(uow, points_data(volunteer_id))
    seen, cursor = [], None
    while True:
        got = usecases.inbox(uow, volunteer_id, False, 2, cursor)
        seen += [n.id for n in got.items]
        if got.next_cursor is None:
            break
        cursor = got.next_cursor
    assert seen == sorted(seen, reverse=True) and len(seen) == 5
    marked = usecases.mark_read(uow, volunteer_id, [*seen[:2], ids.new_id("cixi", "ntf")])
    assert (marked.marked, marked.unread) == (2, 3)
    assert usecases.mark_read(uow, volunteer_id, seen[:2]).marked == 0
    assert [n.id for n in usecases.inbox(uow, volunteer_id, True, 50, None).items] == seen[2:]
    with pytest.raises(ValidationError, match="cursor"):
        usecases.inbox(uow, volunteer_id, False, 2, "garbage")


def test_preferences_default_replace_and_refuse_a_webhook_without_a_url(uow):
    volunteer_id = ids.new_id("cixi", "vol")
    default = usecases.get_preferences(uow, volunteer_id)
    assert default.channels == ["inbox"] and default.updated_at is None
    with pytest.raises(ValidationError) as refused:
        usecases.set_preferences(
            uow, volunteer_id, PreferencesIn.model_validate({"channels": ["webhook"]})
        )
    assert refused.value.field == "preferences.webhook_url"
    assert uow.store.preferences_by_id == {}
    chosen = {"channels": ["wechat", "webhook"], "webhook_url": "https://example.org/hook"}
    stored = usecases.set_preferences(uow, volunteer_id, PreferencesIn.model_validate(chosen))
    assert stored.channels == ["inbox", "webhook", "wechat"] and stored.quiet_hours is None
    assert usecases.get_preferences(uow, volunteer_id) == stored
    assert uow.store.preferences_by_id[volunteer_id].city == "cixi"


# --- push deliveries -----------------------------------------------------------------------------


class Channel:
    """A push adapter answering from a script: None (accepted), or an exception to raise."""

    def __init__(self, name: str, *answers: Exception | None) -> None:
        self.name = name
        self.answers = list(answers)
        self.sent = []

    def send(self, delivery) -> None:
        self.sent.append(delivery)
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer


def a_push(uow, channel: str = "sms", webhook_url: str | None = None) -> str:
    """A recipient with ``channel`` chosen and one pending delivery on it; its id."""
    volunteer_id = ids.new_id("cixi", "vol")
    chosen = {"channels": [channel], "webhook_url": webhook_url}
    usecases.set_preferences(uow, volunteer_id, PreferencesIn.model_validate(chosen))
    redeem(uow, points_data(volunteer_id))
    (push,) = uow.store.rows_of(volunteer_id, channel)
    return push.id


def send(uow, channels, counted=None, log=None) -> int:
    counted = [] if counted is None else counted
    return usecases.send_due(
        uow, SETTINGS, channels, lambda c, o: counted.append((c, o)), log or Log()
    )


def due_now(uow, notification_id: str) -> None:
    uow.store.notifications[notification_id].due_at = clock.utcnow()


def test_a_push_is_sent_once_under_a_lease(uow):
    push = a_push(uow, "webhook", "https://example.org/hook")
    hook, counted = Channel("webhook"), []
    assert send(uow, {"webhook": hook}, counted) == 1
    row = uow.store.notifications[push]
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert hook.sent[0].webhook_url == "https://example.org/hook"
    assert hook.sent[0].notification_id == push and counted == [("webhook", "sent")]
    [sent] = [e for e in uow.of_type("notification_sent") if e["data"]["channel"] == "webhook"]
    assert sent["data"]["notification_id"] == push and sent["data"]["attempts"] == 1
    assert send(uow, {"webhook": hook}) == 0 and len(hook.sent) == 1


def test_a_claimed_delivery_is_not_due_until_its_lease_ends(uow):
    push = a_push(uow)
    now = clock.utcnow()
    lease_until = now + timedelta(seconds=SETTINGS.delivery_lease_s)
    with uow:
        [claimed] = uow.store.claim_deliveries([push], now, lease_until)
    assert claimed.attempts == 1
    assert send(uow, {"sms": Channel("sms")}) == 0  # another sender finds nothing due


def test_retries_back_off_then_dead_letter_and_replay_starts_afresh(uow):
    push = a_push(uow)
    busy = DeliveryError("HTTP 503", retryable=True)
    sms, counted, log = Channel("sms", busy, busy, busy), [], Log()
    before = clock.utcnow()
    assert send(uow, {"sms": sms}, counted) == 0
    row = uow.store.notifications[push]
    assert row.status == "pending" and row.last_error == "HTTP 503"
    assert before + timedelta(seconds=10) <= row.due_at <= clock.utcnow() + timedelta(seconds=10)
    due_now(uow, push)
    send(uow, {"sms": sms}, counted)
    assert row.due_at >= before + timedelta(seconds=15)  # 20 s, capped at 15
    due_now(uow, push)
    send(uow, {"sms": sms}, counted, log)
    assert row.status == "failed" and row.attempts == 3 and row.due_at is None
    assert counted == [("sms", "retry"), ("sms", "retry"), ("sms", "failed")]
    [failed] = uow.of_type("notification_failed")
    assert failed["data"]["error"] == "HTTP 503" and failed["data"]["attempts"] == 3
    assert log.lines[0][0] == "delivery_dead_lettered"
    listed = usecases.failed_deliveries(uow, "cixi", 10, None)
    assert [d.id for d in listed.items] == [push] and listed.items[0].attempts == 3
    assert usecases.failed_deliveries(uow, "haining", 10, None).items == []
    # Replay: only dead letters of the city, from the first attempt, due now.
    assert usecases.replay_deliveries(uow, "haining", [push], Log()).replayed == []
    assert usecases.replay_deliveries(uow, "cixi", [push], Log()).replayed == [push]
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)
    assert send(uow, {"sms": sms}) == 1 and row.status == "sent"
    assert usecases.replay_deliveries(uow, "cixi", [push], Log()).replayed == []


def test_final_answers_dead_letter_at_once_and_adapter_bugs_are_retried(uow):
    final, buggy = a_push(uow, "wechat"), a_push(uow, "sms")
    channels = {
        "wechat": Channel("wechat", DeliveryError("HTTP 404", retryable=False)),
        "sms": Channel("sms", KeyError("boom")),
    }
    assert send(uow, channels) == 0
    assert uow.store.notifications[final].status == "failed"
    bug = uow.store.notifications[buggy]
    assert bug.status == "pending" and bug.last_error.startswith("KeyError")


def test_an_outcome_for_an_attempt_replayed_meanwhile_changes_nothing(uow):
    push = a_push(uow)
    now = clock.utcnow()
    with uow:
        [claimed] = uow.store.claim_deliveries([push], now, now + timedelta(seconds=60))
    uow.store.notifications[push].status = "failed"
    usecases.replay_deliveries(uow, "cixi", [push], Log())  # attempts back to 0
    sent = usecases.record_outcomes(uow, SETTINGS, [(claimed, None)], lambda c, o: None, Log())
    assert sent == 0 and uow.store.notifications[push].status == "pending"
    dead = (claimed, DeliveryError("HTTP 410", retryable=False))
    usecases.record_outcomes(uow, SETTINGS, [dead], lambda c, o: None, Log())
    assert uow.store.notifications[push].status == "pending"
    assert uow.of_type("notification_failed") == []
