"""Points' use cases on a fake unit of work and store: the rules that need stored records,
what is written, what is emitted, and that a refusal writes nothing. No broker, no database."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from points_fakes import FakePointsStore
from points_testdata import checkin, request_event, wish_closed
from pydantic import TypeAdapter

from pioneer import clock, ids
from pioneer.db import envelope
from pioneer.errors import Conflict, NotFound, Suspended, ValidationError
from pioneer.events import PoisonMessage, parse_event
from pioneer.testing.fakes import FakeUnitOfWork
from points import domain, usecases
from points.schemas import CatalogItemIn, Period
from points.settings import PointsSettings

CITIES = ("cixi", "haining", "jiaxing")
SETTINGS = PointsSettings.model_validate(
    {
        "AMQP_URI": "amqp://guest:guest@localhost:5672/",
        "CITIES": ",".join(CITIES),
        "DATABASE_URL": "sqlite:///x.db",
        "JWT_SECRET": "s" * 32,
        "EARNING_RULES": {"haining": {"wish_closed": 20}},
    }
)
RULES = SETTINGS.rules
ADMIN = "test-admin"


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakePointsStore(), CITIES)


def event(event_type, data, city="cixi", origin=None):
    return parse_event(envelope(event_type, city, origin or city, data))


def volunteer(uow, city="cixi", **state):
    return uow.store.enrol(ids.new_id(city, "vol"), **state)


def given(uow, volunteer_id, points):
    usecases.adjust(uow, volunteer_id, points, "期初", ADMIN)


def an_item(uow, cost=10, stock=5, city="cixi"):
    item = CatalogItemIn.model_validate({"name": "水杯", "cost": cost, "stock": stock})
    return usecases.add_catalog_item(uow, city, item)


def snapshot(uow):
    """The store's rows and the events so far: a refusal changes neither."""
    return copy.deepcopy(uow.store.__dict__), len(uow.events)


# --- earning ------------------------------------------------------------------------------------


def test_check_ins_are_credited_once_each_with_the_balance_after_each_entry(uow):
    a, b = volunteer(uow), volunteer(uow)
    first = event("volunteer_checked_in", checkin(a, 5, 2.0, at="2026-03-05T10:00:00+08:00"))
    batch = [
        first,
        event("volunteer_checked_in", checkin(a, 3, 1.0)),
        event("volunteer_checked_in", first.data),  # the same work again, inside the batch
        event("volunteer_checked_in", checkin(b, 4, 1.5)),
        event("volunteer_checked_in", checkin(ids.new_id("ningbo", "vol"), 50)),
    ]
    with uow:
        outcomes = usecases.credit_checkins(uow, CITIES, batch)
    assert outcomes == [None, None, "duplicate", None, "ignored"]
    assert len(uow.store.entries) == 3
    assert [e["data"]["balance"] for e in uow.of_type("points_awarded")] == [5, 8, 4]
    assert {e["data"]["source_event_id"] for e in uow.of_type("points_awarded")} >= {first.event_id}
    march = uow.store.totals[("2026-03", a)]
    assert (march.points, march.hours, march.activities) == (5, 2.0, 1)
    assert uow.store.totals[("all", a)].points == 8
    # Replayed in a later batch under a new event id: nothing more.
    with uow:
        again = usecases.credit_checkins(uow, CITIES, [event("volunteer_checked_in", first.data)])
    assert again == ["duplicate"] and len(uow.events) == 3


def test_work_done_for_another_deployment_is_left_to_it(uow):
    haining = volunteer(uow, city="haining")
    # Not this deployment's city; a volunteer id that is not of the city it claims is refused
    # by the event contract (the event is parked).
    elsewhere = event("volunteer_checked_in", checkin(haining))
    mismatched = event("volunteer_checked_in", {**checkin(haining), "volunteer_city": "cixi"})
    with uow:
        assert usecases.credit_checkins(uow, ("cixi",), [elsewhere]) == ["ignored"]
        with pytest.raises(PoisonMessage):
            usecases.credit_checkins(uow, CITIES, [mismatched])
        wish = event("wish_closed", wish_closed(haining))
        assert usecases.credit_wish(uow, ("cixi",), RULES, wish) == "ignored"
    assert uow.store.entries == {} and uow.store.accounts == {} and uow.events == []


def test_wishes_requests_and_ratings_earn_the_city_rules(uow):
    cixi, haining = volunteer(uow), volunteer(uow, city="haining")
    request_id = ids.new_id("cixi", "req")
    rated = event("request_rated", request_event(cixi, request_id, "closed", 5))
    done = event("request_completed", request_event(cixi, request_id, "completed"))
    replayed = event("request_completed", done.data)  # the same work under a new event id
    with uow:
        assert (
            usecases.credit_wish(uow, CITIES, RULES, event("wish_closed", wish_closed(cixi)))
            is None
        )
        usecases.credit_wish(uow, CITIES, RULES, event("wish_closed", wish_closed(haining)))
        # The rating first: either order, each once.
        assert usecases.credit_rating(uow, CITIES, RULES, rated) is None
        assert usecases.credit_request(uow, CITIES, RULES, done) is None
        assert usecases.credit_request(uow, CITIES, RULES, replayed) == "duplicate"
        low = request_event(cixi, ids.new_id("cixi", "req"), "closed", 4)
        assert usecases.credit_rating(uow, CITIES, RULES, event("request_rated", low)) is None
        nobody = {**wish_closed(cixi), "volunteer_id": None, "volunteer_city": None}
        assert usecases.credit_wish(uow, CITIES, RULES, event("wish_closed", nobody)) is None
    assert usecases.balance(uow, cixi).balance == 10 + 5 + 10
    assert usecases.balance(uow, haining).balance == 20  # Haining's own amount
    kinds = sorted(e.kind for e in uow.store.entries.values())
    assert kinds == ["rating_bonus", "request", "wish", "wish"]
    totals = uow.store.totals[("all", cixi)]
    assert (totals.wishes, totals.requests, totals.activities) == (1, 1, 0)


def test_peers_entries_count_once_and_only_ranked_ones_of_other_cities(uow):
    peer = ids.new_id("ningbo", "vol")
    awarded = {
        "entry_id": ids.new_id("ningbo", "pe"),
        "volunteer_id": peer,
        "city": "ningbo",
        "delta": 20,
        "reason": "check-in",
        "balance": 20,
        "at": "2026-04-03T09:00:00+08:00",
        "kind": "checkin",
        "ranked": True,
    }
    ours = {
        **awarded,
        "entry_id": ids.new_id("cixi", "pe"),
        "volunteer_id": ids.new_id("cixi", "vol"),
        "city": "cixi",
    }
    spent = {**awarded, "entry_id": ids.new_id("ningbo", "pe"), "kind": "redeem", "ranked": None}
    unranked = {**awarded, "entry_id": ids.new_id("ningbo", "pe"), "ranked": False}
    # Each envelope names its entry's city, as a publisher's unit of work writes it.
    batch = [
        event("points_awarded", data, data["city"], origin="ningbo")
        for data in (awarded, awarded, ours, spent, unranked)
    ]
    with uow:
        outcomes = usecases.count_peer_entries(uow, CITIES, batch)
    assert outcomes == [None, "duplicate", "ignored", "ignored", "ignored"]
    board = usecases.leaderboard(uow, None, "2026-04", None, 10)
    assert [(i.volunteer_id, i.points) for i in board.items] == [(peer, 20)]
    assert usecases.leaderboard(uow, "cixi", "all", None, 10).items == []


def test_team_membership_follows_the_newest_event_the_replica_holds(uow):
    a = volunteer(uow, version=2)
    red, blue = ids.new_id("cixi", "team"), ids.new_id("cixi", "team")

    def changed(version, teams):
        data = {
            "volunteer_id": a,
            "city": "cixi",
            "status": "active",
            "skills": [],
            "version": version,
            "teams": teams,
        }
        return event("volunteer_updated", data)

    with uow:
        usecases.update_memberships(uow, [changed(2, [red, red, blue]), changed(1, [blue])])
    assert uow.store.members == {(red, a), (blue, a)}
    with uow:
        usecases.update_memberships(uow, [changed(1, [])])  # older than the replica's
    assert uow.store.members == {(red, a), (blue, a)}


# --- accounts -----------------------------------------------------------------------------------


def test_balance_and_history_of_known_and_unknown_volunteers(uow):
    known = volunteer(uow)
    assert usecases.balance(uow, known).model_dump() == {
        "volunteer_id": known,
        "balance": 0,
        "earned": 0,
        "spent": 0,
    }
    unknown = ids.new_id("cixi", "vol")
    with pytest.raises(NotFound):
        usecases.balance(uow, unknown)
    with pytest.raises(NotFound):
        usecases.history(uow, unknown, 10, None)
    assert usecases.history(uow, known, 10, None).items == []
    for amount in (1, 2, 3):
        given(uow, known, amount)
    first = usecases.history(uow, known, 2, None)
    rest = usecases.history(uow, known, 2, first.next_cursor)
    entries = first.items + rest.items
    assert rest.next_cursor is None and sorted(e.delta for e in entries) == [1, 2, 3]
    # Newest first by id (time-ordered, to the millisecond).
    assert [e.id for e in entries] == sorted((e.id for e in entries), reverse=True)


def test_adjustments_are_audited_ranked_and_never_below_zero(uow):
    volunteer_id = volunteer(uow)
    added = usecases.adjust(uow, volunteer_id, 20, "补录", "a" * 300)
    assert (added.kind, added.delta, added.balance) == ("adjust", 20, 20)
    assert added.actor == "a" * 128  # cut to its column
    taken = usecases.adjust(uow, volunteer_id, -5, "重复登记", ADMIN)
    assert taken.balance == 15
    never_earned = volunteer(uow)
    before = snapshot(uow)
    with pytest.raises(Conflict, match="fewer than 16"):
        usecases.adjust(uow, volunteer_id, -16, "超扣", ADMIN)
    with pytest.raises(ValidationError) as zero:
        usecases.adjust(uow, volunteer_id, 0, "无", ADMIN)
    assert zero.value.field == "delta"
    with pytest.raises(NotFound):
        usecases.adjust(uow, ids.new_id("cixi", "vol"), 5, "x", ADMIN)
    # A volunteer who never had points cannot be taken below zero either.
    with pytest.raises(Conflict):
        usecases.adjust(uow, never_earned, -1, "x", ADMIN)
    assert snapshot(uow) == before
    assert usecases.balance(uow, volunteer_id).model_dump()["earned"] == 15
    [_, deducted] = uow.of_type("points_awarded")
    assert deducted["data"]["delta"] == -5 and deducted["data"]["balance"] == 15
    assert deducted["data"]["ranked"] is True
    board = usecases.leaderboard(uow, "cixi", "all", None, 10)
    assert [(i.volunteer_id, i.points) for i in board.items] == [(volunteer_id, 15)]


# --- redemption ---------------------------------------------------------------------------------


def test_a_redemption_spends_once_per_key_and_a_refusal_writes_nothing(uow):
    volunteer_id = volunteer(uow)
    given(uow, volunteer_id, 100)
    item = an_item(uow, cost=30, stock=5)
    assert [i.id for i in usecases.catalog(uow, "cixi", 10, None).items] == [item.id]

    first = usecases.redeem(uow, volunteer_id, item.id, 2, "order-1", volunteer_id)
    assert (first.status, first.cost, first.balance) == ("completed", 60, 40)
    assert usecases.redeem(uow, volunteer_id, item.id, 1, "order-1", volunteer_id) == first
    [redeemed] = uow.of_type("points_redeemed")
    assert redeemed["data"]["delta"] == -60 and redeemed["data"]["item_name"] == "水杯"
    assert redeemed["data"]["quantity"] == 2 and redeemed["data"]["ranked"] is False

    before = snapshot(uow)
    with pytest.raises(Conflict, match="points"):
        usecases.redeem(uow, volunteer_id, item.id, 2, "order-2", volunteer_id)
    with pytest.raises(Conflict, match="stock"):
        usecases.redeem(uow, volunteer_id, item.id, 4, "order-2", volunteer_id)
    assert snapshot(uow) == before  # the key order-2 stays free
    assert usecases.redeem(uow, volunteer_id, item.id, 1, "order-2", volunteer_id).balance == 10
    # Spending does not lower the rank.
    assert usecases.leaderboard(uow, "cixi", "all", None, 1).items[0].points == 100


def test_who_and_what_may_be_redeemed(uow):
    volunteer_id = volunteer(uow)
    given(uow, volunteer_id, 100)
    haining_item = an_item(uow, city="haining")
    with pytest.raises(Conflict, match="haining"):
        usecases.redeem(uow, volunteer_id, haining_item.id, 1, "k", ADMIN)
    with pytest.raises(NotFound):
        usecases.redeem(uow, volunteer_id, ids.new_id("cixi", "item"), 1, "k", ADMIN)
    item = an_item(uow)
    with pytest.raises(NotFound):
        usecases.redeem(uow, ids.new_id("cixi", "vol"), item.id, 1, "k", ADMIN)
    until = clock.utcnow() + timedelta(days=3)
    suspended = volunteer(uow, status="suspended", suspended_until=until)
    with pytest.raises(Suspended):
        usecases.redeem(uow, suspended, item.id, 1, "k", ADMIN)
    # A suspension that is over no longer stands in the way (nor does it earn anything).
    over = volunteer(uow, status="suspended", suspended_until=clock.utcnow() - timedelta(1))
    given(uow, over, 10)
    assert usecases.redeem(uow, over, item.id, 1, "k", ADMIN).balance == 0
    assert uow.store.redemptions and len(uow.of_type("points_redeemed")) == 1


def test_a_reversal_gives_points_and_stock_back_once(uow):
    volunteer_id = volunteer(uow)
    given(uow, volunteer_id, 100)
    item = an_item(uow, cost=30, stock=5)
    redeemed = usecases.redeem(uow, volunteer_id, item.id, 2, "order-1", volunteer_id)
    reversed_ = usecases.reverse_redemption(uow, redeemed.id, "活动取消", ADMIN)
    assert reversed_.status == "reversed" and reversed_.reversal_reason == "活动取消"
    assert usecases.balance(uow, volunteer_id).model_dump() == {
        "volunteer_id": volunteer_id,
        "balance": 100,
        "earned": 100,
        "spent": 0,
    }
    assert uow.store.items[item.id].stock == 5
    with pytest.raises(Conflict, match="already reversed"):
        usecases.reverse_redemption(uow, redeemed.id, "再来", ADMIN)
    with pytest.raises(NotFound):
        usecases.reverse_redemption(uow, ids.new_id("cixi", "rdm"), "x", ADMIN)
    [restored] = uow.of_type("points_reversed")
    assert restored["data"]["delta"] == 60 and restored["data"]["balance"] == 100
    long_reason = "理由" * 100
    again = usecases.redeem(uow, volunteer_id, item.id, 1, "order-2", volunteer_id)
    usecases.reverse_redemption(uow, again.id, long_reason, ADMIN)
    # The event tells the whole reason; the entry keeps what fits its column.
    assert uow.of_type("points_reversed")[-1]["data"]["reason"].endswith(long_reason)
    assert max(len(e.reason) for e in uow.store.entries.values()) == 200
    # The key still answers with the first redemption, now reversed.
    assert usecases.redeem(uow, volunteer_id, item.id, 2, "order-1", ADMIN).status == "reversed"
    assert usecases.leaderboard(uow, "cixi", "all", None, 1).items[0].points == 100


# --- rankings -----------------------------------------------------------------------------------


def test_boards_rank_ties_together_by_period_city_and_team(uow):
    a, b, c = volunteer(uow), volunteer(uow), volunteer(uow)
    h = volunteer(uow, city="haining")
    team = ids.new_id("cixi", "team")
    uow.store.members |= {(team, a), (team, b)}
    with uow:
        usecases.credit_checkins(
            uow,
            CITIES,
            [
                event("volunteer_checked_in", checkin(v, points, 1, at=at))
                for v, points, at in (
                    (a, 10, "2026-03-05T10:00:00+08:00"),
                    (a, 5, "2025-12-31T23:30:00+08:00"),  # 2025 in Asia/Shanghai
                    (b, 12, "2026-03-20T10:00:00+08:00"),
                    (c, 15, "2026-04-01T00:10:00+08:00"),
                    (h, 30, "2026-04-02T09:00:00+08:00"),
                )
            ],
        )

    def board(city="cixi", period="all", team_id=None, limit=10):
        got = usecases.leaderboard(uow, city, period, team_id, limit)
        return [(i.rank, i.volunteer_id, i.points) for i in got.items]

    assert board()[2] == (3, b, 12) and {r[:2] for r in board()[:2]} == {(1, a), (1, c)}
    assert board(period="2026-03") == [(1, b, 12), (2, a, 10)]
    assert board(period="2025") == [(1, a, 5)]
    assert board(city=None)[0] == (1, h, 30)
    assert board(team_id=team) == [(1, a, 15), (2, b, 12)]
    assert board(city="jiaxing") == []


def test_the_annual_report_pages_by_rank_and_reads_whole(uow):
    volunteers = [volunteer(uow) for _ in range(7)]
    amounts = [9, 7, 7, 7, 5, 3, 3]
    with uow:
        usecases.credit_checkins(
            uow,
            CITIES,
            [
                event("volunteer_checked_in", checkin(v, p, 1.5, at="2026-06-01T10:00:00+08:00"))
                for v, p in zip(volunteers, amounts, strict=True)
            ],
        )
    items, cursor = [], None
    while True:
        got = usecases.annual_report(uow, "cixi", 2026, 2, cursor)
        items += got.items
        cursor = got.next_cursor
        if cursor is None:
            break
    ranks = [(i.points, i.rank) for i in items]
    assert ranks == [(9, 1), (7, 2), (7, 2), (7, 2), (5, 5), (3, 6), (3, 6)]
    assert list(usecases.annual_report_items(uow, "cixi", 2026)) == items
    assert usecases.annual_report(uow, "cixi", 2025, 10, None).items == []
    with pytest.raises(ValidationError):
        usecases.annual_report(uow, "cixi", 2026, 2, "not-a-cursor")


def test_a_period_is_what_the_domain_says():
    adapter = TypeAdapter(Period)
    assert adapter.validate_python("2026-01") == "2026-01"
    for bad in ("2026\n", "ALL", "2026-13"):
        assert not domain.is_period(bad)
        with pytest.raises(ValueError):
            adapter.validate_python(bad)


def test_a_check_in_earns_no_more_than_its_city_allows(uow):
    volunteer_id = volunteer(uow)
    rules = domain.EarningRules(10, 10, 5, 5, max_checkin=50)
    with pytest.raises(PoisonMessage, match="more than cixi lets a check-in earn"), uow:
        usecases.credit_checkins(
            uow, CITIES, [event("volunteer_checked_in", checkin(volunteer_id, 51))], lambda c: rules
        )
    assert uow.store.entries == {} and uow.events == []
    with uow:
        batch = [event("volunteer_checked_in", checkin(volunteer_id, 50))]
        assert usecases.credit_checkins(uow, CITIES, batch, lambda c: rules) == [None]
