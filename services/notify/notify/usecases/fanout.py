"""Who hears what: events of wishes, volunteers and points turned into notices and stored, once
per recipient and channel, in the event handler's unit of work (already open: ``uow`` is the
kernel's, committed with the event's processed record). A published wish's fan-out is stored
in parts of at most ``FANOUT_CHUNK`` recipients, each part its own transaction
(``uow.checkpoint``), the processed record with the last."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from pioneer import clock
from pioneer.catalog import Catalog
from pioneer.event_contract import PointsChanged, RequestChanged, VolunteerChanged, WishChanged
from pioneer.events import Event, read_data, require_reachable

from .. import domain, presenters, words
from ..domain import Notice, Prefs
from ..settings import FANOUT_CHUNK


def store_notices(
    uow: Any,
    source_event_id: str,
    city: str,
    notices: list[Notice],
    prefs: dict[str, Prefs] | None = None,
) -> int:
    """Store ``notices`` of one source event on every chosen channel, once; emit one
    ``notification_sent`` per kind for the inbox rows stored. How many rows were new.

    ``prefs``: the recipients' preferences when the caller read them already (the fan-out's
    query joins them); otherwise they are looked up."""
    # A recipient id that is neither a record id nor ``admins:<city>`` (a foreign producer's
    # mistake) could never read its inbox: it is skipped, not stored.
    notices = [n for n in notices if domain.valid_recipient(n.recipient_id)]
    if not notices:
        return 0
    if prefs is None:
        prefs = uow.store.preferences_of(n.recipient_id for n in notices)
    rows = domain.rows_for(source_event_id, notices, prefs, clock.utcnow())
    inserted = uow.store.insert_new(rows)
    stored: dict[str, list[Any]] = {}
    for row in inserted:
        if row.channel == domain.INBOX:
            stored.setdefault(row.kind, []).append(row)
    subjects = {n.kind: n.subject_id[: domain.SUBJECT_LENGTH] for n in notices}
    for kind, of_kind in stored.items():
        event = presenters.inbox_stored_event(source_event_id, city, kind, subjects[kind], of_kind)
        uow.emit("notification_sent", city, event)
    return len(inserted)


def _service_name(catalog: Catalog, cities: Collection[str], city: str, code: str) -> str:
    known = catalog.codes_for(city).get(code) if city in cities else None
    return known.name if known else code


def _parts(
    rows: list[Any], lat: float, lon: float, radius_m: float, size: int
) -> Iterator[tuple[list[tuple[str, float]], dict[str, Prefs]]]:
    """The candidates inside the circle in parts of ``size`` (the last one smaller):
    ``(volunteer_id, distance_m)`` of each, nearest first, and the preferences of those who
    stored any."""
    by_id = {r.volunteer_id: r for r in rows}
    inside = domain.within_circle(
        ((r.volunteer_id, r.lat, r.lon) for r in rows), lat, lon, radius_m
    )
    for start in range(0, len(inside), size):
        part = inside[start : start + size]
        prefs = {
            volunteer_id: Prefs(list(row.channels), row.quiet_start, row.quiet_end)
            for volunteer_id, _ in part
            if (row := by_id[volunteer_id]).channels is not None
        }
        yield part, prefs


def wish_published(
    uow: Any,
    event: Event,
    catalog: Catalog,
    cities: Collection[str],
    radius_m: Callable[[str], float],
    log: Any,
    chunk: int = FANOUT_CHUNK,
) -> int:
    """Active volunteers of the wish's city with its category as a skill, inside the circle
    (``radius_m(city)`` metres). How many rows were stored.

    The recipients are stored in parts of ``chunk``: a part after the first begins with
    ``uow.checkpoint()``, which commits the part before it with its ``notification_sent``, so
    no transaction holds more than ``chunk`` recipients' rows, and a fan-out of up to ``chunk``
    is one transaction. The event's processed record commits with the last part; a
    redelivery after a crash stores only the recipients not stored yet (``insert_new``) and
    announces only those."""
    wish = read_data(WishChanged, event)
    if wish.city not in cities:
        return 0  # the wish's home deployment tells its volunteers
    radius = radius_m(wish.city)
    lat, lon = wish.location.lat, wish.location.lon
    service = _service_name(catalog, cities, wish.city, wish.category)
    # The candidates are one indexed read of a few columns (100,000 of them are a few tens of
    # megabytes): the writes are what a part bounds.
    rows = uow.store.volunteers_near(wish.city, wish.category, lat, lon, radius, clock.utcnow())
    recipients = stored = 0
    for part, prefs in _parts(rows, lat, lon, radius, chunk):
        if recipients:
            uow.checkpoint()
        notices = []
        for volunteer_id, distance in part:
            said = words.wish_published_words(wish.title, service, wish.deadline, distance)
            notices.append(
                Notice(volunteer_id, domain.WISH_PUBLISHED, wish.wish_id, said.title, said.body)
            )
        stored += store_notices(uow, event.event_id, wish.city, notices, prefs)
        recipients += len(part)
    log.info("wish_fanned_out", wish_id=wish.wish_id, recipients=recipients, stored=stored)
    return stored


def wish_claimed(uow: Any, event: Event, cities: Collection[str]) -> int:
    """The city's admins' inbox (``admins:<city>``)."""
    wish = read_data(WishChanged, event)
    if wish.city not in cities:
        return 0
    said = words.wish_claimed_words(wish.title, wish.volunteer_id or "?")
    notice = Notice(
        domain.admins_inbox(wish.city), domain.WISH_CLAIMED, wish.wish_id, said.title, said.body
    )
    return store_notices(uow, event.event_id, wish.city, [notice])


def request_changed(uow: Any, event: Event, catalog: Catalog, cities: Collection[str]) -> int:
    """New offers to the offered volunteers; ended offers (timed out, taken by another,
    cancelled) to the volunteers who lost them. Emergency offers ignore quiet hours."""
    request = read_data(RequestChanged, event)
    now = clock.utcnow()
    uow.store.lock_request(request.request_id)
    held = [
        domain.HeldOffer(h.volunteer_id, h.offered_version, h.status == "open")
        for h in uow.store.offer_holds(request.request_id)
    ]
    # Offers end by version: a forged version out of reach would keep them open for good.
    newest = max((offer.offered_version for offer in held), default=None)
    require_reachable(request.version, newest, "request")
    changes = domain.offer_changes(
        held, event.type, request.version, request.offered_to, request.volunteer_id
    )
    if changes.closing:
        uow.store.close_offers(request.request_id, changes.closing, now)
    if changes.new:
        uow.store.add_offers(request.request_id, changes.new, request.version, request.urgency, now)
    service = _service_name(catalog, cities, request.city, request.service)
    urgent = request.urgency in domain.URGENT_LEVELS
    notices = []
    for volunteer_id in changes.new:
        said = words.offer_words(service, request.urgency)
        notices.append(
            Notice(volunteer_id, domain.OFFER, request.request_id, said.title, said.body, urgent)
        )
    for volunteer_id, reason in changes.lost:
        said = words.offer_ended_words(service, reason)
        notices.append(
            Notice(
                volunteer_id, domain.OFFER_ENDED, request.request_id, said.title, said.body, urgent
            )
        )
    served = [n for n in notices if domain.recipient_city(n.recipient_id) in cities]
    return store_notices(uow, event.event_id, request.city, served)


def volunteer_changed(uow: Any, event: Event, kind: str, cities: Collection[str]) -> bool:
    """Fold a suspension, reinstatement or removal into the directory and, if it is newer than
    what the directory held, tell the volunteer. Whether it was newer."""
    data = read_data(VolunteerChanged, event)
    if not uow.store.apply_volunteer(event):
        return False  # a stale redelivery: the replica and the directory hold newer already
    uow.store.reindex([data.volunteer_id])
    if data.city in cities:
        said = words.volunteer_words(kind, data.suspended_until)
        notice = Notice(data.volunteer_id, kind, data.volunteer_id, said.title, said.body)
        store_notices(uow, event.event_id, data.city, [notice])
    return True


def volunteers_changed(uow: Any, volunteer_ids: list[str]) -> None:
    """Bring the directory in step with the replica's registrations or profile changes
    (nobody is told of them)."""
    uow.store.reindex(volunteer_ids)


def points_redeemed(uow: Any, event: Event, cities: Collection[str]) -> int:
    """The volunteer who redeemed: item, quantity, points spent and the balance left."""
    entry = read_data(PointsChanged, event)
    if entry.city not in cities:
        return 0
    said = words.redemption_words(entry.item_name, entry.quantity, abs(entry.delta), entry.balance)
    notice = Notice(
        entry.volunteer_id,
        domain.POINTS_REDEEMED,
        entry.redemption_id or entry.entry_id,
        said.title,
        said.body,
    )
    return store_notices(uow, event.event_id, entry.city, [notice])
