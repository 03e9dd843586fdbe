"""Notify's fan-out use cases on a fake unit of work and store: who hears of each event and how
often, which offers end and for whom, what the directory keeps. No broker, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from notify_fakes import CATALOG, CITIES, SETTINGS, FakeNotifyStore, Log, event, redeem
from notify_testdata import FANGJIAHETOU, FAR_AWAY, points_data, request_data, wish_data

from notify import usecases
from notify.schemas import PreferencesIn
from pioneer import clock, ids
from pioneer.events import PoisonMessage
from pioneer.testing.fakes import FakeUnitOfWork
from pioneer.testing.fixtures import volunteer_event
from pioneer.testing.moments import iso_from_now


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakeNotifyStore(), CITIES)


def inbox_kinds(uow, recipient_id: str) -> list[str]:
    return [n.kind for n in uow.store.rows_of(recipient_id, "inbox")]


def publish(uow, data: dict, event_id: str | None = None, log: Log | None = None) -> int:
    published = event("wish_published", data["city"], data, event_id)
    with uow:  # an event use case runs in the handler's unit of work
        return usecases.wish_published(
            uow, published, CATALOG, CITIES, SETTINGS.wish_radius_m, log or Log()
        )


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


def test_a_request_version_out_of_reach_of_the_held_offers_is_parked(uow):
    volunteer_id, request_id = ids.new_id("cixi", "vol"), ids.new_id("cixi", "req")
    changed(uow, "request_dispatched", request_id, 2, offered_to=[volunteer_id])
    # A forged jump would make every genuine later event look older and keep the offer open.
    with pytest.raises(PoisonMessage, match="jumps more than"):
        changed(uow, "request_cancelled", request_id, 2**31 - 1, status="cancelled", offered_to=[])
    with pytest.raises(PoisonMessage, match="jumps more than"):
        changed(uow, "request_dispatched", ids.new_id("cixi", "req"), 5000, offered_to=[])
    assert uow.store.holds[(request_id, volunteer_id)].status == "open"


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


def test_a_redemption_tells_the_volunteer_and_a_malformed_recipient_is_parked(uow):
    volunteer_id = ids.new_id("cixi", "vol")
    redemption = points_data(volunteer_id)
    assert redeem(uow, redemption) == 1
    (note,) = uow.store.rows_of(volunteer_id)
    assert note.subject_id == redemption["redemption_id"] and "环保袋 × 2" in note.title
    # A foreign producer's mistake, a recipient that could never read its inbox, is refused by
    # the event contract: the event is parked, nothing is written.
    with pytest.raises(PoisonMessage):
        redeem(uow, {**points_data(volunteer_id), "volunteer_id": "not-an-id"})
    assert len(uow.store.notifications) == 1 and len(uow.events) == 1
