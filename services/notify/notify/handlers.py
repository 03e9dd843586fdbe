"""Notify's service layer: events turned into notifications, the inbox and preferences, and the
delivery of push channels (with retries, dead letters and replay).

Event use cases run inside the kernel's idempotent handler unit of work; each stores its
notifications with one bulk insert that skips (source event, recipient, channel) already there.
Push deliveries happen outside any transaction, in the delivery timer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import eventlet
from sqlalchemy import false, func, select, text, update

from pioneer import auth, clock
from pioneer.db import conflict_insert
from pioneer.errors import Forbidden, ValidationError
from pioneer.events import (
    Event,
    NotificationDelivered,
    PointsChanged,
    RequestChanged,
    VolunteerChanged,
    WishChanged,
    read_data,
)
from pioneer.kernel import RequestContext
from pioneer.paging import decode_id_cursor, page
from pioneer.replica import apply_volunteer_event, volunteer_replica
from pioneer.schemas import Page

from . import directory, domain
from .channels import Channel, Delivery, DeliveryError
from .models import Notification, OfferHold, Preferences
from .schemas import (
    DeliveryOut,
    MarkedOut,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
    ReplayedOut,
    default_preferences,
)
from .store import Notice, notify

notifications_t = Notification.__table__
preferences_t = Preferences.__table__
holds_t = OfferHold.__table__
replica_t = volunteer_replica


def _service_name(ctx: RequestContext, city: str, code: str) -> str:
    known = ctx.catalog.codes_for(city).get(code) if ctx.serves(city) else None
    return known.name if known else code


# --- events: who hears what --------------------------------------------------------------------


def wish_published(ctx: RequestContext, uow: Any, event: Event) -> int:
    """Active volunteers of the wish's city with its category as a skill, inside the circle."""
    wish = read_data(WishChanged, event)
    if not ctx.serves(wish.city):
        return 0  # the wish's home deployment tells its volunteers
    now = clock.utcnow()
    radius = ctx.settings.wish_radius_m(wish.city)
    lat, lon = wish.location.lat, wish.location.lon
    chosen, prefs = directory.nearby_with_skill(
        uow.session, wish.city, wish.category, lat, lon, radius, now
    )
    service = _service_name(ctx, wish.city, wish.category)
    notices = []
    for volunteer_id, distance in chosen:
        words = domain.wish_published_words(wish.title, service, wish.deadline, distance)
        notices.append(
            Notice(volunteer_id, domain.WISH_PUBLISHED, wish.wish_id, words.title, words.body)
        )
    stored = notify(uow, event.event_id, wish.city, notices, now, prefs)
    ctx.log.info("wish_fanned_out", wish_id=wish.wish_id, recipients=len(chosen), stored=stored)
    return stored


def wish_claimed(ctx: RequestContext, uow: Any, event: Event) -> int:
    """The city's admins' inbox (``admins:<city>``)."""
    wish = read_data(WishChanged, event)
    if not ctx.serves(wish.city):
        return 0
    words = domain.wish_claimed_words(wish.title, wish.volunteer_id or "?")
    notice = Notice(
        domain.admins_inbox(wish.city), domain.WISH_CLAIMED, wish.wish_id, words.title, words.body
    )
    return notify(uow, event.event_id, wish.city, [notice], clock.utcnow())


def request_changed(ctx: RequestContext, uow: Any, event: Event) -> int:
    """New offers to the offered volunteers; ended offers (timed out, taken by another,
    cancelled) to the volunteers who lost them. Emergency offers ignore quiet hours."""
    request = read_data(RequestChanged, event)
    now = clock.utcnow()
    if uow.session.get_bind().dialect.name == "postgresql":
        # One request's events are decided one after another (SQLite writers already are): two
        # dispatches handled at once must both see the offers the other made.
        uow.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:request_id))"),
            {"request_id": request.request_id},
        )
    holds = uow.session.execute(
        select(holds_t.c.volunteer_id, holds_t.c.offered_version, holds_t.c.status).where(
            holds_t.c.request_id == request.request_id
        )
    ).all()
    open_held = [
        domain.HeldOffer(h.volunteer_id, h.offered_version) for h in holds if h.status == "open"
    ]
    lost = domain.lost_offers(
        open_held, event.type, request.version, request.offered_to, request.volunteer_id
    )
    closing = [volunteer_id for volunteer_id, _ in lost]
    own = domain.offer_closed_by_own_act(event.type, request.volunteer_id)
    if own and any(h.volunteer_id == own for h in open_held):
        closing.append(own)
    if closing:
        uow.session.execute(
            update(holds_t)
            .where(holds_t.c.request_id == request.request_id, holds_t.c.volunteer_id.in_(closing))
            .values(status="closed", updated_at=now)
        )
    known = {h.volunteer_id for h in holds}
    # A dispatch older than an offer already seen arrived late: its offers are over already.
    stale = any(h.offered_version > request.version for h in holds)
    new = []
    if event.type == "request_dispatched" and not stale:
        new = [v for v in dict.fromkeys(request.offered_to) if v not in known]
        if new:
            uow.session.execute(
                holds_t.insert(),
                [
                    {
                        "request_id": request.request_id,
                        "volunteer_id": volunteer_id,
                        "offered_version": request.version,
                        "status": "open",
                        "urgency": request.urgency[:16],
                        "updated_at": now,
                    }
                    for volunteer_id in new
                ],
            )
    service = _service_name(ctx, request.city, request.service)
    urgent = request.urgency in domain.URGENT_LEVELS
    notices = []
    for volunteer_id in new:
        words = domain.offer_words(service, request.urgency)
        notices.append(
            Notice(volunteer_id, domain.OFFER, request.request_id, words.title, words.body, urgent)
        )
    for volunteer_id, reason in lost:
        words = domain.offer_ended_words(service, reason)
        notices.append(
            Notice(
                volunteer_id,
                domain.OFFER_ENDED,
                request.request_id,
                words.title,
                words.body,
                urgent,
            )
        )
    served = [n for n in notices if ctx.serves(domain.recipient_city(n.recipient_id))]
    return notify(uow, event.event_id, request.city, served, now)


def volunteer_changed(ctx: RequestContext, uow: Any, event: Event, kind: str | None) -> str:
    """Fold a volunteers event into the directory; for a suspension, reinstatement or removal
    newer than what the directory held, tell the volunteer. The volunteer's id."""
    data = read_data(VolunteerChanged, event)
    # Locked (PostgreSQL), so two events of one volunteer handled at once on their separate
    # queues decide "newer than held" one after the other.
    held = uow.session.execute(
        select(replica_t.c.version)
        .where(replica_t.c.volunteer_id == data.volunteer_id)
        .with_for_update()
    ).scalar()
    volunteer_id = apply_volunteer_event(uow.session, event)
    directory.rebuild(uow.session, [volunteer_id])
    newer = held is None or data.version > held
    if kind and newer and ctx.serves(data.city):
        words = domain.volunteer_words(kind, data.suspended_until)
        notice = Notice(volunteer_id, kind, volunteer_id, words.title, words.body)
        notify(uow, event.event_id, data.city, [notice], clock.utcnow())
    return volunteer_id


def volunteers_changed(uow: Any, volunteer_ids: list[str]) -> None:
    """Bring the directory in step with the replica's registrations or profile changes
    (nobody is told of them)."""
    directory.rebuild(uow.session, volunteer_ids)


def points_redeemed(ctx: RequestContext, uow: Any, event: Event) -> int:
    """The volunteer who redeemed: item, quantity, points spent and the balance left."""
    entry = read_data(PointsChanged, event)
    if not ctx.serves(entry.city):
        return 0
    words = domain.redemption_words(
        entry.item_name, entry.quantity, abs(entry.delta), entry.balance
    )
    notice = Notice(
        entry.volunteer_id,
        domain.POINTS_REDEEMED,
        entry.redemption_id or entry.entry_id,
        words.title,
        words.body,
    )
    return notify(uow, event.event_id, entry.city, [notice], clock.utcnow())


# --- the inbox -----------------------------------------------------------------------------------

_COLUMNS = [
    notifications_t.c.id,
    notifications_t.c.recipient_id,
    notifications_t.c.kind,
    notifications_t.c.subject_id,
    notifications_t.c.title,
    notifications_t.c.body,
    notifications_t.c.channel,
    notifications_t.c.created_at,
    notifications_t.c.read,
]


def _require_reader(ctx: RequestContext, recipient_id: str, change: bool) -> None:
    allowed = domain.may_change if change else domain.may_read
    if not allowed(ctx.caller, recipient_id):
        raise Forbidden(f"may not {'change' if change else 'read'} the inbox of {recipient_id}")
    ctx.require_served(domain.recipient_city(recipient_id), "inbox")


def inbox(
    ctx: RequestContext, recipient_id: str, unread_only: bool, limit: int, cursor: str | None
) -> Page[NotificationOut]:
    """The recipient's inbox, newest first, keyset-paged on id."""
    _require_reader(ctx, recipient_id, change=False)
    before = decode_id_cursor(cursor)
    query = select(*_COLUMNS).where(
        notifications_t.c.recipient_id == recipient_id,
        notifications_t.c.channel == domain.INBOX,
    )
    if unread_only:
        query = query.where(notifications_t.c.read == false())
    if before:
        query = query.where(notifications_t.c.id < before)
    query = query.order_by(notifications_t.c.id.desc()).limit(limit + 1)
    with ctx.read() as conn:
        rows, next_cursor = page(conn.execute(query).all(), limit, lambda r: [r.id])
    return Page[NotificationOut](
        items=[NotificationOut.model_validate(row._mapping) for row in rows],
        next_cursor=next_cursor,
    )


def mark_read(ctx: RequestContext, recipient_id: str, notification_ids: list[str]) -> MarkedOut:
    """Mark inbox notifications of the recipient read (others' ids and read ones are skipped)."""
    _require_reader(ctx, recipient_id, change=True)
    now = clock.utcnow()
    with ctx.uow() as uow:
        marked = uow.session.execute(
            update(notifications_t)
            .where(
                notifications_t.c.recipient_id == recipient_id,
                notifications_t.c.channel == domain.INBOX,
                notifications_t.c.read == false(),
                notifications_t.c.id.in_(sorted(set(notification_ids))),
            )
            .values(read=True, read_at=now)
        ).rowcount
        unread = uow.session.execute(
            select(func.count()).where(
                notifications_t.c.recipient_id == recipient_id,
                notifications_t.c.channel == domain.INBOX,
                notifications_t.c.read == false(),
            )
        ).scalar_one()
    return MarkedOut(recipient_id=recipient_id, marked=marked, unread=unread)


# --- preferences ---------------------------------------------------------------------------------


def _preferences_out(row: Any) -> PreferencesOut:
    quiet = {"start": row.quiet_start, "end": row.quiet_end} if row.quiet_start else None
    return PreferencesOut.model_validate(
        {
            "recipient_id": row.recipient_id,
            "channels": domain.effective_channels(row.channels),
            "quiet_hours": quiet,
            "webhook_url": row.webhook_url,
            "updated_at": row.updated_at,
        }
    )


def set_preferences(
    ctx: RequestContext, recipient_id: str, preferences: PreferencesIn
) -> PreferencesOut:
    """Replace the recipient's channels, quiet hours and webhook URL."""
    _require_reader(ctx, recipient_id, change=True)
    if "webhook" in preferences.channels and preferences.webhook_url is None:
        raise ValidationError("preferences.webhook_url", "required when channels include webhook")
    quiet = preferences.quiet_hours
    values = {
        "recipient_id": recipient_id,
        "city": domain.recipient_city(recipient_id),
        "channels": domain.effective_channels(preferences.channels),
        "quiet_start": quiet.start if quiet else None,
        "quiet_end": quiet.end if quiet else None,
        "webhook_url": preferences.webhook_url,
        "updated_at": clock.utcnow(),
    }
    with ctx.uow() as uow:
        statement = conflict_insert(uow.session, preferences_t).values(**values)
        uow.session.execute(
            statement.on_conflict_do_update(
                index_elements=[preferences_t.c.recipient_id],
                set_={k: statement.excluded[k] for k in values if k != "recipient_id"},
            )
        )
        row = uow.session.execute(
            select(preferences_t).where(preferences_t.c.recipient_id == recipient_id)
        ).one()
    return _preferences_out(row)


def get_preferences(ctx: RequestContext, recipient_id: str) -> PreferencesOut:
    """The recipient's preferences, or the defaults (inbox only, no quiet hours)."""
    _require_reader(ctx, recipient_id, change=False)
    with ctx.read() as conn:
        row = conn.execute(
            select(preferences_t).where(preferences_t.c.recipient_id == recipient_id)
        ).first()
    return _preferences_out(row) if row else default_preferences(recipient_id)


# --- dead letters and replay ---------------------------------------------------------------------


def failed_deliveries(
    ctx: RequestContext, city: str, limit: int, cursor: str | None
) -> Page[DeliveryOut]:
    """Dead-lettered push deliveries of a city, in id order."""
    auth.require_city(ctx.caller, city, roles={auth.ADMIN, auth.OPS})
    ctx.require_served(city, "delivery")
    after = decode_id_cursor(cursor)
    query = select(notifications_t).where(
        notifications_t.c.status == domain.FAILED, notifications_t.c.city == city
    )
    if after:
        query = query.where(notifications_t.c.id > after)
    with ctx.read() as conn:
        rows, next_cursor = page(
            conn.execute(query.order_by(notifications_t.c.id).limit(limit + 1)).all(),
            limit,
            lambda r: [r.id],
        )
    return Page[DeliveryOut](
        items=[DeliveryOut.model_validate(row._mapping) for row in rows], next_cursor=next_cursor
    )


def replay_deliveries(ctx: RequestContext, city: str, notification_ids: list[str]) -> ReplayedOut:
    """Send dead-lettered deliveries of a city again from the first attempt."""
    auth.require_city(ctx.caller, city, roles={auth.ADMIN})
    ctx.require_served(city, "delivery")
    now = clock.utcnow()
    with ctx.uow() as uow:
        replayed = (
            uow.session.execute(
                update(notifications_t)
                .where(
                    notifications_t.c.id.in_(sorted(set(notification_ids))),
                    notifications_t.c.city == city,
                    notifications_t.c.status == domain.FAILED,
                )
                .values(status=domain.PENDING, attempts=0, due_at=now, last_error=None)
                .returning(notifications_t.c.id)
            )
            .scalars()
            .all()
        )
    if replayed:
        ctx.log.info("deliveries_replayed", city=city, count=len(replayed))
    return ReplayedOut(replayed=sorted(replayed))


# --- the delivery timer --------------------------------------------------------------------------


def _deliveries_counter(ctx: RequestContext) -> Any:
    metrics = ctx.kernel.metrics
    counter = metrics.__dict__.get("_notify_deliveries")
    if counter is None:
        counter = metrics.counter(
            "pioneer_notify_deliveries_total",
            "Push delivery attempts by channel and outcome (sent, retry, failed)",
            ["channel", "outcome"],
        )
        metrics.__dict__["_notify_deliveries"] = counter
    return counter


def send_due(ctx: RequestContext, channels: dict[str, Channel]) -> int:
    """Push the deliveries that are due (new, released from quiet hours, or retried): claim a
    batch, send it concurrently outside any transaction, record each outcome. How many sent."""
    settings = ctx.settings
    now = clock.utcnow()
    with ctx.read() as conn:
        due = (
            conn.execute(
                select(notifications_t.c.id)
                .where(notifications_t.c.status == domain.PENDING, notifications_t.c.due_at <= now)
                .order_by(notifications_t.c.due_at)
                .limit(settings.DELIVERY_BATCH)
            )
            .scalars()
            .all()
        )
    if not due:
        return 0
    lease_until = now + timedelta(seconds=settings.delivery_lease_s)
    with ctx.uow() as uow:
        # The lease: another sender (a replica's timer) sees these as not due until it ends, so
        # a crash mid-send only delays the retry.
        claimed = uow.session.execute(
            update(notifications_t)
            .where(
                notifications_t.c.id.in_(due),
                notifications_t.c.status == domain.PENDING,
                notifications_t.c.due_at <= now,
            )
            .values(due_at=lease_until, attempts=notifications_t.c.attempts + 1)
            .returning(*notifications_t.c)
        ).all()
        hooks = [r.recipient_id for r in claimed if r.channel == "webhook"]
        urls = (
            {
                row.recipient_id: row.webhook_url
                for row in uow.session.execute(
                    select(preferences_t.c.recipient_id, preferences_t.c.webhook_url).where(
                        preferences_t.c.recipient_id.in_(sorted(set(hooks)))
                    )
                )
            }
            if hooks
            else {}
        )

    def attempt(row: Any) -> tuple[Any, DeliveryError | None]:
        delivery = Delivery(
            notification_id=row.id,
            recipient_id=row.recipient_id,
            kind=row.kind,
            subject_id=row.subject_id,
            title=row.title,
            body=row.body,
            channel=row.channel,
            created_at=clock.iso(row.created_at) or "",
            webhook_url=urls.get(row.recipient_id),
        )
        try:
            channels[row.channel].send(delivery)
        except DeliveryError as exc:
            return row, exc
        except Exception as exc:  # an adapter's bug must not stop the batch: retried
            return row, DeliveryError(f"{type(exc).__name__}: {exc}"[:300], retryable=True)
        return row, None

    pool = eventlet.GreenPool(settings.DELIVERY_CONCURRENCY)
    outcomes = list(pool.imap(attempt, claimed))
    return _record(ctx, outcomes)


def _record(ctx: RequestContext, outcomes: list[tuple[Any, DeliveryError | None]]) -> int:
    settings = ctx.settings
    now = clock.utcnow()
    counter = _deliveries_counter(ctx)
    sent = 0
    with ctx.uow() as uow:
        for row, error in outcomes:
            # Only the attempt this sender claimed: a replay meanwhile starts afresh.
            mine = (
                notifications_t.c.id == row.id,
                notifications_t.c.status == domain.PENDING,
                notifications_t.c.attempts == row.attempts,
            )
            data = {
                "source_event_id": row.source_event_id,
                "city": row.city,
                "kind": row.kind,
                "subject_id": row.subject_id,
                "channel": row.channel,
                "notification_id": row.id,
                "recipient_id": row.recipient_id,
                "attempts": row.attempts,
            }
            if error is None:
                done = uow.session.execute(
                    update(notifications_t)
                    .where(*mine)
                    .values(status=domain.SENT, sent_at=now, due_at=None, last_error=None)
                ).rowcount
                if done:
                    sent += 1
                    uow.emit("notification_sent", row.city, NotificationDelivered(**data))
                counter.labels(ctx.kernel.metrics.service, row.channel, "sent").inc()
                continue
            step = domain.next_step(row.attempts, error.retryable, settings.DELIVERY_MAX_ATTEMPTS)
            if step == "retry":
                delay = domain.backoff_s(
                    row.attempts, settings.DELIVERY_BACKOFF_S, settings.DELIVERY_BACKOFF_MAX_S
                )
                uow.session.execute(
                    update(notifications_t)
                    .where(*mine)
                    .values(due_at=now + timedelta(seconds=delay), last_error=str(error)[:500])
                )
            else:
                done = uow.session.execute(
                    update(notifications_t)
                    .where(*mine)
                    .values(status=domain.FAILED, due_at=None, last_error=str(error)[:500])
                ).rowcount
                if done:
                    uow.emit(
                        "notification_failed",
                        row.city,
                        NotificationDelivered(**data, error=str(error)[:300]),
                    )
                ctx.log.warning(
                    "delivery_dead_lettered",
                    notification_id=row.id,
                    channel=row.channel,
                    attempts=row.attempts,
                    error=str(error)[:200],
                )
            counter.labels(
                ctx.kernel.metrics.service, row.channel, step if step == "retry" else "failed"
            ).inc()
    return sent
