"""Earning: work told of by other services' events is credited once, in the volunteer's home
city; peers' ranked entries join the all-cities totals; team membership follows the volunteer
replica. Each function runs in the event handler's unit of work (already open) and returns
the event's outcome for the metrics and the log (``None``: ok)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pioneer import clock
from pioneer.event_contract import (
    PointsChanged,
    RequestChanged,
    VolunteerChanged,
    VolunteerCheckedIn,
    WishChanged,
)
from pioneer.events import Event, PoisonMessage, read_data

from .. import domain
from .ledger import emit_entry, new_entry, totals_rows

IGNORED = "ignored"
DUPLICATE = "duplicate"

Rules = Callable[[str], domain.EarningRules]


@dataclass(frozen=True)
class Work:
    """A piece of work to credit: whose, the home city keeping the points, what it earns,
    when it was done and the event that told of it."""

    volunteer_id: str
    city: str
    earning: domain.Credit
    at: datetime
    source_event_id: str


def credit_checkins(
    uow: Any,
    cities: Collection[str],
    events: list[Event],
    rules: Callable[[str], domain.EarningRules] | None = None,
) -> list[str | None]:
    """Credit a batch of check-ins (one statement per table); an outcome per event. A check-in
    claiming more than its city's ``max_checkin`` is parked (``PoisonMessage``), not credited."""
    outcomes: list[str | None] = []
    works: list[Work] = []
    for event in events:
        data = read_data(VolunteerCheckedIn, event)
        if not domain.kept_here(data.volunteer_id, data.volunteer_city, cities):
            outcomes.append(IGNORED)
            continue
        limit = rules(data.volunteer_city).max_checkin if rules else None
        if limit is not None and data.points > limit:
            raise PoisonMessage(
                f"volunteer_checked_in: {data.points} points, more than {data.volunteer_city}"
                f" lets a check-in earn ({limit})"
            )
        earning = domain.checkin_credit(
            data.activity_id, data.volunteer_id, data.points, data.hours
        )
        at = data.checked_in_at or event.occurred_at
        works.append(Work(data.volunteer_id, data.volunteer_city, earning, at, event.event_id))
        outcomes.append(None)
    booked = iter(book_work(uow, works) if works else [])
    return [outcome or (DUPLICATE if next(booked) is None else None) for outcome in outcomes]


def _credit_event(
    uow: Any,
    cities: Collection[str],
    rules: Rules,
    event: Event,
    model: type[WishChanged] | type[RequestChanged],
    earning_of: Callable[[Any, domain.EarningRules], domain.Credit | None],
) -> str | None:
    """Credit the volunteer a wishes event names, in its home city, with what
    ``earning_of(data, rules)`` says the work earns (``None``: nothing)."""
    data = read_data(model, event)
    if not data.volunteer_id or not data.volunteer_city:
        return None  # the event names no volunteer: nothing to credit
    if not domain.kept_here(data.volunteer_id, data.volunteer_city, cities):
        return IGNORED
    earning = earning_of(data, rules(data.volunteer_city))
    if earning is None:
        return None
    work = Work(data.volunteer_id, data.volunteer_city, earning, event.occurred_at, event.event_id)
    [entry_id] = book_work(uow, [work])
    return DUPLICATE if entry_id is None else None


def credit_wish(uow: Any, cities: Collection[str], rules: Rules, event: Event) -> str | None:
    """``wish_closed``: the city's amount for whoever did the wish, once per wish."""
    return _credit_event(
        uow, cities, rules, event, WishChanged, lambda d, r: domain.wish_credit(d.wish_id, r)
    )


def credit_request(uow: Any, cities: Collection[str], rules: Rules, event: Event) -> str | None:
    """``request_completed``: the city's amount for the assignee, once per request."""
    return _credit_event(
        uow,
        cities,
        rules,
        event,
        RequestChanged,
        lambda d, r: domain.request_credit(d.request_id, r),
    )


def credit_rating(uow: Any, cities: Collection[str], rules: Rules, event: Event) -> str | None:
    """``request_rated``: the top-rating bonus, independent of ``request_completed`` (either
    may come first), once per request."""
    return _credit_event(
        uow,
        cities,
        rules,
        event,
        RequestChanged,
        lambda d, r: domain.rating_bonus(d.request_id, d.rating, r),
    )


def book_work(uow: Any, works: list[Work]) -> list[str | None]:
    """Book pieces of work once each: entries, balances, totals and one ``points_awarded`` per
    entry that earned points, all in ``uow`` and with one statement per table however many.

    Returns the entry id of each piece, or ``None`` where it was already booked (a replay, or a
    repeat within ``works``). Each event carries the balance just after its own entry. Credits
    are never negative (``domain``'s earnings), so no balance rule can refuse them.
    """
    store = uow.store
    now = clock.utcnow()
    entries: list[Any] = []
    keys: set[str] = set()
    for work in works:
        if work.earning.source_key in keys:
            entries.append(None)
            continue
        keys.add(work.earning.source_key)
        entries.append(
            new_entry(
                work.volunteer_id,
                work.city,
                work.earning.kind,
                work.earning.delta,
                work.earning.reason,
                work.at,
                source_key=work.earning.source_key,
                source_event_id=work.source_event_id,
                hours=work.earning.hours,
                recorded_at=now,
            )
        )
    booked = store.add_entries([vars(e) for e in entries if e is not None])
    entries = [e if e is not None and e.id in booked else None for e in entries]
    new = [(work, e) for work, e in zip(works, entries, strict=True) if e is not None]
    if new:
        _count(uow, new, now)
    return [None if e is None else e.id for e in entries]


def _count(uow: Any, new: list[tuple[Work, Any]], now: datetime) -> None:
    """Balances and totals of newly booked work (a statement each), and its events."""
    earned: dict[str, tuple[str, int]] = {}
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for work, _ in new:
        city, points = earned.get(work.volunteer_id, (work.city, 0))
        earned[work.volunteer_id] = (city, points + work.earning.delta)
        counts = work.earning
        for row in totals_rows(
            work.volunteer_id,
            work.city,
            work.at,
            counts.delta,
            counts.hours,
            counts.activities,
            counts.wishes,
            counts.requests,
        ):
            key = (row["period"], row["volunteer_id"])
            if key in totals:
                for name in ("points", "hours", "activities", "wishes", "requests"):
                    totals[key][name] += row[name]
            else:
                totals[key] = row
    balance = uow.store.credit_many(earned, now)
    uow.store.add_totals(list(totals.values()))
    # Walk back from each volunteer's final balance to the balance after each entry.
    after: list[int] = []
    for work, _ in reversed(new):
        after.append(balance[work.volunteer_id])
        balance[work.volunteer_id] -= work.earning.delta
    for (work, entry), balance_after in zip(new, reversed(after), strict=True):
        if work.earning.delta:
            emit_entry(uow, entry, balance_after, work.earning.reason)


def count_peer_entries(uow: Any, cities: Collection[str], events: list[Event]) -> list[str | None]:
    """Peers' ranked entries (federated ``points.events``) into the all-cities totals, once per
    entry (this deployment's own are acknowledged before they get here: ``peers_only``). An
    outcome per event: ``None`` (counted), ``ignored`` or ``duplicate``."""
    return [_count_peer_entry(uow, cities, event) for event in events]


def _count_peer_entry(uow: Any, cities: Collection[str], event: Event) -> str | None:
    data = read_data(PointsChanged, event)
    if data.city in cities or data.ranked is False:
        return IGNORED
    if not domain.counts_for_ranking(data.kind or domain.ADJUST):
        return IGNORED
    entry = {
        "entry_id": data.entry_id,
        "volunteer_id": data.volunteer_id,
        "city": data.city,
        "delta": data.delta,
        "at": data.at,
    }
    if not uow.store.add_peer_entry(entry):
        return DUPLICATE
    uow.store.add_totals(totals_rows(data.volunteer_id, data.city, data.at, data.delta))
    return None


def update_memberships(uow: Any, events: list[Event]) -> None:
    """After ``events`` were folded into the volunteer replica, give each volunteer the team
    membership of its newest event that carries teams, unless the replica already holds a
    newer event (an older event changes nothing). Three statements however long the batch."""
    newest: dict[str, tuple[int, list[str]]] = {}
    for event in events:
        data = read_data(VolunteerChanged, event)
        if data.teams is None:
            continue
        held = newest.get(data.volunteer_id)
        if held is None or data.version >= held[0]:
            newest[data.volunteer_id] = (data.version, sorted(set(data.teams)))
    if not newest:
        return
    stored = uow.store.replica_versions(sorted(newest))
    current = {v: teams for v, (version, teams) in newest.items() if stored.get(v) == version}
    if current:
        uow.store.replace_memberships(current)
