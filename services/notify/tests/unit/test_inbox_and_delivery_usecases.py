"""Notify's inbox, preferences and delivery use cases on a fake unit of work and store: paging
and marks, preferences refused or replaced, and push deliveries (lease, backoff, dead letter,
replay). No broker, no database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notify_fakes import CITIES, SETTINGS, FakeNotifyStore, Log, redeem
from notify_testdata import points_data

from notify import usecases
from notify.channels import DeliveryError
from notify.schemas import PreferencesIn
from pioneer import clock, ids
from pioneer.errors import ValidationError
from pioneer.testing.fakes import FakeUnitOfWork


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakeNotifyStore(), CITIES)


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
    assert usecases.get_preferences(uow, volunteer_id) == stored.model_copy(
        update={"webhook_secret": None}
    )
    assert uow.store.preferences_by_id[volunteer_id].city == "cixi"


def prefs(**chosen) -> PreferencesIn:
    return PreferencesIn.model_validate({"channels": ["webhook"], **chosen})


def test_a_webhook_url_leading_inside_is_refused_and_nothing_is_stored(uow):
    volunteer_id = ids.new_id("cixi", "vol")
    for url in (
        "http://127.0.0.1:15672/api/users",
        "http://localhost:5672/",
        "http://169.254.169.254/",
        "http://[::1]:8101/metrics",
        "http://10.0.0.1/hook",
        "http://192.168.1.1/hook",
        "http://0.0.0.0:8105/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:10.0.0.1]/hook",
        "https://2130706433/",
        "https://hooks.example.org:22/",
        "http://hooks.example.org/hook",
    ):
        with pytest.raises(ValidationError) as refused:
            usecases.set_preferences(uow, volunteer_id, prefs(webhook_url=url))
        assert refused.value.field == "preferences.webhook_url", url
    assert uow.store.preferences_by_id == {}
    # Plain http to a host the deployment names for tests.
    local = prefs(webhook_url="http://127.0.0.1:9000/hook")
    assert usecases.set_preferences(uow, volunteer_id, local, ["127.0.0.1"]).webhook_secret


def test_each_webhook_url_gets_its_own_secret_shown_once_and_rotated_with_the_url(uow):
    volunteer_id, other_id = ids.new_id("cixi", "vol"), ids.new_id("cixi", "vol")
    first = usecases.set_preferences(uow, volunteer_id, prefs(webhook_url="https://a.example/h"))
    assert first.webhook_secret.startswith("whsec_")
    stored = uow.store.preferences_by_id[volunteer_id]
    assert stored.webhook_secret == first.webhook_secret
    assert usecases.get_preferences(uow, volunteer_id).webhook_secret is None  # never again
    # The same URL again (quiet hours changed): the secret stays and is not shown.
    again = prefs(webhook_url="https://a.example/h", quiet_hours={"start": "22:00", "end": "07:00"})
    assert usecases.set_preferences(uow, volunteer_id, again).webhook_secret is None
    assert uow.store.preferences_by_id[volunteer_id].webhook_secret == first.webhook_secret
    # A new URL: a new secret. Asked for: a new one for the same URL.
    moved = usecases.set_preferences(uow, volunteer_id, prefs(webhook_url="https://b.example/h"))
    assert moved.webhook_secret not in (None, first.webhook_secret)
    rotated = usecases.set_preferences(
        uow, volunteer_id, prefs(webhook_url="https://b.example/h", rotate_webhook_secret=True)
    )
    assert rotated.webhook_secret not in (None, moved.webhook_secret)
    assert uow.store.preferences_by_id[volunteer_id].webhook_secret == rotated.webhook_secret
    # Another recipient with the same URL has a secret of its own.
    theirs = usecases.set_preferences(uow, other_id, prefs(webhook_url="https://b.example/h"))
    assert theirs.webhook_secret not in (None, rotated.webhook_secret)
    # No webhook, no secret kept.
    usecases.set_preferences(uow, volunteer_id, PreferencesIn.model_validate({"channels": []}))
    assert uow.store.preferences_by_id[volunteer_id].webhook_secret is None


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
    assert (
        hook.sent[0].webhook_secret == uow.store.preferences_by_id[row.recipient_id].webhook_secret
    )
    assert hook.sent[0].webhook_secret.startswith("whsec_")
    assert "whsec_" not in repr(hook.sent[0])
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
    busy = DeliveryError("http_5xx", retryable=True, detail="HTTP 503")
    sms, counted, log = Channel("sms", busy, busy, busy), [], Log()
    before = clock.utcnow()
    assert send(uow, {"sms": sms}, counted) == 0
    row = uow.store.notifications[push]
    assert row.status == "pending" and row.last_error == "http_5xx"
    assert before + timedelta(seconds=10) <= row.due_at <= clock.utcnow() + timedelta(seconds=10)
    due_now(uow, push)
    send(uow, {"sms": sms}, counted)
    assert row.due_at >= before + timedelta(seconds=15)  # 20 s, capped at 15
    due_now(uow, push)
    send(uow, {"sms": sms}, counted, log)
    assert row.status == "failed" and row.attempts == 3 and row.due_at is None
    assert counted == [("sms", "retry"), ("sms", "retry"), ("sms", "failed")]
    [failed] = uow.of_type("notification_failed")
    assert failed["data"]["error"] == "http_5xx" and failed["data"]["attempts"] == 3
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
        "wechat": Channel("wechat", DeliveryError("http_4xx", retryable=False)),
        "sms": Channel("sms", KeyError("boom at /srv/secret/path")),
    }
    log = Log()
    assert send(uow, channels, log=log) == 0
    assert uow.store.notifications[final].status == "failed"
    assert uow.store.notifications[final].last_error == "http_4xx"
    bug = uow.store.notifications[buggy]
    # The adapter's own words stay out of last_error; its type is in the log.
    assert bug.status == "pending" and bug.last_error == "adapter_error"
    assert ("delivery_adapter_error", {"notification_id": buggy, "channel": "sms"}) in [
        (line, {k: v for k, v in fields.items() if k != "error"}) for line, fields in log.lines
    ]
    assert "boom" not in str(log.lines)


def test_an_outcome_for_an_attempt_replayed_meanwhile_changes_nothing(uow):
    push = a_push(uow)
    now = clock.utcnow()
    with uow:
        [claimed] = uow.store.claim_deliveries([push], now, now + timedelta(seconds=60))
    uow.store.notifications[push].status = "failed"
    usecases.replay_deliveries(uow, "cixi", [push], Log())  # attempts back to 0
    sent = usecases.record_outcomes(uow, SETTINGS, [(claimed, None)], lambda c, o: None, Log())
    assert sent == 0 and uow.store.notifications[push].status == "pending"
    dead = (claimed, DeliveryError("http_4xx", retryable=False))
    usecases.record_outcomes(uow, SETTINGS, [dead], lambda c, o: None, Log())
    assert uow.store.notifications[push].status == "pending"
    assert uow.of_type("notification_failed") == []


def test_the_lease_outlasts_the_worst_case_batch():
    # Every attempt is cut at the timeout, CONCURRENCY at a time: a batch of slow receivers
    # ends before its lease does, so another replica never re-sends its tail.
    for batch, concurrency, timeout in [
        (200, 20, 5.0),
        (5000, 1, 60.0),
        (1, 500, 0.5),
        (201, 20, 5),
    ]:
        settings = SETTINGS.model_copy(
            update={
                "DELIVERY_BATCH": batch,
                "DELIVERY_CONCURRENCY": concurrency,
                "WEBHOOK_TIMEOUT_S": timeout,
            }
        )
        worst_case_s = -(-batch // concurrency) * timeout
        assert settings.delivery_lease_s > worst_case_s
