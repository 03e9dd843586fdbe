"""Notify's rules in plain Python: recipients and who may act on which inbox, the channels and
rows of a notification, quiet hours, retry backoff and the fixed reasons of a failed push, the
service circle and what a request event does to the offers notify holds. Where a webhook may go
and how it is signed are in ``webhook_rules``. The words of each notification are in ``words``.

No I/O here: everything is a function of its arguments, unit-tested on plain values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pioneer import auth, clock, geo, ids
from pioneer.errors import Forbidden

INBOX = "inbox"
PUSH_CHANNELS = ("webhook", "sms", "wechat")
ADMINS_PREFIX = "admins:"
# A volunteer's record id, or ``admins:<city>`` (the shared inbox of a city's admins): the one
# declaration the contract's ``RecipientId`` and ``valid_recipient`` both use.
RECIPIENT_PATTERN = rf"^({ADMINS_PREFIX}[a-z][a-z0-9_]{{1,31}}|{ids.ID_PATTERN[1:-1]})$"
_RECIPIENT = re.compile(RECIPIENT_PATTERN)

STORED, PENDING, SENT, FAILED = "stored", "pending", "sent", "failed"
STATUSES = (STORED, PENDING, SENT, FAILED)

# Besides a volunteer acting for itself, who may act on any inbox of their city: admins, ops and
# trusted systems read; admins and systems change (mark read, preferences).
READ_STAFF = frozenset({auth.ADMIN, auth.OPS, auth.SYSTEM})
CHANGE_STAFF = frozenset({auth.ADMIN, auth.SYSTEM})

# Kinds of notification.
WISH_PUBLISHED = "wish_published"
WISH_CLAIMED = "wish_claimed"
OFFER = "offer"
OFFER_ENDED = "offer_ended"
VOLUNTEER_SUSPENDED = "volunteer_suspended"
VOLUNTEER_REINSTATED = "volunteer_reinstated"
VOLUNTEER_REMOVED = "volunteer_removed"
POINTS_REDEEMED = "points_redeemed"

# Offers of this urgency are pushed even inside quiet hours.
URGENT_LEVELS = frozenset({"emergency"})

# Why a volunteer lost an offer, by the request event that shows it.
OFFER_TIMED_OUT = "timed_out"
OFFER_TAKEN = "taken_by_another"
OFFER_CANCELLED = "request_cancelled"
OFFER_CLOSED = "request_closed"

SUBJECT_LENGTH = 80  # the ``subject_id`` column


# --- recipients and who reads what ------------------------------------------------------------


def admins_inbox(city: str) -> str:
    """The recipient id of a city's admins: one shared inbox every admin and ops of it reads."""
    return f"{ADMINS_PREFIX}{city}"


def recipient_city(recipient_id: str) -> str:
    """The home city of a recipient (``admins:<city>`` or a volunteer id's city prefix)."""
    if recipient_id.startswith(ADMINS_PREFIX):
        return recipient_id[len(ADMINS_PREFIX) :]
    return ids.city_of(recipient_id)


def valid_recipient(recipient_id: str) -> bool:
    """A volunteer's record id or ``admins:<city>``: what an inbox can be read under."""
    return bool(_RECIPIENT.match(recipient_id))


def may_act_for(caller: auth.Caller, recipient_id: str, staff: Iterable[str]) -> bool:
    """The kernel's "self, or staff of the city" (``auth.require_acting_for``) for an inbox:
    a volunteer for its own, ``staff`` for any of the recipient's city."""
    try:
        auth.require_acting_for(caller, recipient_id, recipient_city(recipient_id), staff)
    except Forbidden:
        return False
    return True


def may_read(caller: auth.Caller, recipient_id: str) -> bool:
    """A volunteer reads only its own inbox; admins, ops and trusted systems any of their city."""
    return may_act_for(caller, recipient_id, READ_STAFF)


def may_change(caller: auth.Caller, recipient_id: str) -> bool:
    """Marking read and setting preferences: the volunteer itself, or an admin or trusted system
    of its city (ops only read)."""
    return may_act_for(caller, recipient_id, CHANGE_STAFF)


# --- what is stored for a notice -------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """What one recipient is told about one event (before channels are chosen)."""

    recipient_id: str
    kind: str
    subject_id: str
    title: str
    body: str
    urgent: bool = False


@dataclass(frozen=True)
class Prefs:
    """The part of a recipient's preferences that decides its deliveries."""

    channels: list[str] = field(default_factory=list)
    quiet_start: str | None = None
    quiet_end: str | None = None


def effective_channels(channels: Iterable[str] | None) -> list[str]:
    """The inbox (always on) first, then the chosen push channels in a fixed order."""
    chosen = set(channels or ())
    return [INBOX, *(name for name in PUSH_CHANNELS if name in chosen)]


def rows_for(
    source_event_id: str, notices: Iterable[Notice], prefs: dict[str, Prefs], now: datetime
) -> list[dict[str, Any]]:
    """One ``notifications`` row per notice and channel: the inbox stored at once, push
    channels due now or held to the end of the recipient's quiet hours (unless urgent)."""
    rows: list[dict[str, Any]] = []
    for notice in notices:
        chosen = prefs.get(notice.recipient_id)
        city = recipient_city(notice.recipient_id)
        for channel in effective_channels(chosen.channels if chosen else None):
            due_at, held_until = None, None
            status = STORED
            if channel != INBOX and chosen is not None:
                status = PENDING
                due_at, held_until = schedule(
                    now, notice.urgent, chosen.quiet_start, chosen.quiet_end
                )
            rows.append(
                {
                    "id": ids.new_id(city, "ntf"),
                    "source_event_id": source_event_id,
                    "recipient_id": notice.recipient_id,
                    "city": city,
                    "kind": notice.kind,
                    "subject_id": notice.subject_id[:SUBJECT_LENGTH],
                    "title": notice.title,
                    "body": notice.body,
                    "channel": channel,
                    "urgent": notice.urgent,
                    "status": status,
                    "read": False,
                    "read_at": None,
                    "created_at": now,
                    "due_at": due_at,
                    "held_until": held_until,
                    "attempts": 0,
                    "last_error": None,
                    "sent_at": None,
                }
            )
    return rows


# --- quiet hours ---------------------------------------------------------------------------------


def minutes_of(value: str) -> int:
    """``"HH:MM"`` as minutes since midnight (``"24:00"``, the end of the day, is 1440)."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def quiet_until(now: datetime, start: str | None, end: str | None) -> datetime | None:
    """When the quiet hours around ``now`` end (UTC), or None if ``now`` is outside them.

    ``start``/``end`` are local ``HH:MM`` in Asia/Shanghai; ``start > end`` wraps past midnight
    (22:00-07:00). The window is ``[start, end)``; equal ends mean no quiet hours.
    """
    if not start or not end or start == end:
        return None
    local = clock.local(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    t = (local - midnight) / timedelta(minutes=1)
    s, e = minutes_of(start), minutes_of(end)
    if s < e:
        inside, ends = s <= t < e, midnight + timedelta(minutes=e)
    elif t >= s:  # wraps: the evening part, ending tomorrow
        inside, ends = True, midnight + timedelta(days=1, minutes=e)
    else:  # wraps: the morning part, ending today
        inside, ends = t < e, midnight + timedelta(minutes=e)
    if not inside:
        return None
    return ends.astimezone(now.tzinfo)


def schedule(
    now: datetime, urgent: bool, start: str | None, end: str | None
) -> tuple[datetime, datetime | None]:
    """``(due_at, held_until)`` of a new push delivery: at once, or held to the end of quiet
    hours unless urgent."""
    if urgent:
        return now, None
    held = quiet_until(now, start, end)
    return (held, held) if held is not None else (now, None)


# --- retries -------------------------------------------------------------------------------------


def next_step(attempts: int, retryable: bool, max_attempts: int) -> str:
    """After a failed try: ``retry`` or ``dead`` (dead-lettered)."""
    return "retry" if retryable and attempts < max_attempts else "dead"


def retryable_status(status: int) -> bool:
    """HTTP answers worth retrying: server errors, 408 and 429. Other 4xx, and 3xx (a redirect is
    never followed), are final."""
    return status >= 500 or status in (408, 429)


# --- why a push failed ---------------------------------------------------------------------------

# What ``last_error`` and ``notification_failed.error`` may say: a fixed vocabulary, never a
# socket's or a receiver's own text, so a webhook cannot be used to probe what listens where.
REFUSED_URL = "refused_url"  # the stored URL breaks the rules (scheme, host, port)
REFUSED_ADDRESS = "refused_address"  # the host resolves to an address push never reaches
TIMEOUT = "timeout"
CONNECTION_FAILED = "connection_failed"  # refused, reset, unresolvable, TLS, bad answer
NO_WEBHOOK_URL = "no_webhook_url"
NO_WEBHOOK_SECRET = "no_webhook_secret"  # set before per-recipient secrets: set it again
ADAPTER_ERROR = "adapter_error"  # a bug in an adapter (details in the log only)
STATUS_CLASSES = ("http_1xx", "http_3xx", "http_4xx", "http_5xx")  # 3xx: never followed
FAILURE_REASONS = frozenset(
    {
        REFUSED_URL,
        REFUSED_ADDRESS,
        TIMEOUT,
        CONNECTION_FAILED,
        NO_WEBHOOK_URL,
        NO_WEBHOOK_SECRET,
        ADAPTER_ERROR,
        *STATUS_CLASSES,
    }
)


def status_reason(status: int) -> str:
    """The coarse reason of a non-2xx HTTP answer: its class (``http_4xx``...)."""
    reason = f"http_{status // 100}xx"
    return reason if reason in STATUS_CLASSES else CONNECTION_FAILED


# --- who hears of a published wish -------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    volunteer_id: str
    lat: float
    lon: float


def within_circle(
    candidates: Iterable[tuple[str, float, float]], lat: float, lon: float, radius_m: float
) -> list[tuple[str, float]]:
    """``(volunteer_id, distance_m)`` of the candidates inside the circle, each once, nearest
    first (the kernel's ranking, ``geo.rank_nearby``)."""
    ranked = geo.rank_nearby(
        (_Candidate(*candidate) for candidate in candidates),
        lat,
        lon,
        radius_m,
        key=lambda candidate: candidate.volunteer_id,
    )
    return [(near.key, near.distance_m) for near in ranked]


# --- offers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldOffer:
    """An offer notify told a volunteer of: the request version that made it, open or ended."""

    volunteer_id: str
    offered_version: int
    open: bool = True


def lost_offers(
    held: Iterable[HeldOffer],
    event_type: str,
    version: int,
    offered_to: Iterable[str],
    volunteer_id: str | None,
) -> list[tuple[str, str]]:
    """``(volunteer_id, reason)`` of open offers a request event shows as ended without the
    volunteer's own doing.

    ``request_declined`` ends only the decliner's offer (its own doing: no notice). Any later
    event (its ``version`` is newer than the offer's) ends the open offers it no longer lists:
    taken by another when someone accepted, cancelled, or timed out when the request moved on.
    """
    if event_type == "request_declined":
        return []
    still = set(offered_to)
    reason = {
        "request_accepted": OFFER_TAKEN,
        "request_cancelled": OFFER_CANCELLED,
        "request_dispatched": OFFER_TIMED_OUT,
        "request_unassigned": OFFER_TIMED_OUT,
    }.get(event_type, OFFER_CLOSED)
    return [
        (offer.volunteer_id, reason)
        for offer in held
        if offer.open
        and offer.offered_version < version
        and offer.volunteer_id not in still
        and offer.volunteer_id != volunteer_id
    ]


def offer_closed_by_own_act(event_type: str, volunteer_id: str | None) -> str | None:
    """The volunteer whose offer the event ended by its own act (accepting or declining)."""
    if event_type in ("request_accepted", "request_declined"):
        return volunteer_id
    return None


@dataclass(frozen=True)
class OfferChanges:
    """What one request event does to the offers held: the new offers (told and held), the
    lost ones (told why), and every open offer that ends (lost or closed by its own act)."""

    new: list[str]
    lost: list[tuple[str, str]]
    closing: list[str]


def offer_changes(
    held: list[HeldOffer],
    event_type: str,
    version: int,
    offered_to: Iterable[str],
    volunteer_id: str | None,
) -> OfferChanges:
    """Decide a request event against the offers held for the request.

    A dispatch offers its ``offered_to`` volunteers not offered before, unless an offer of a
    newer version is held already (the dispatch arrived late: its offers are over).
    """
    offered_to = list(offered_to)
    lost = lost_offers(held, event_type, version, offered_to, volunteer_id)
    closing = [lost_by for lost_by, _ in lost]
    own = offer_closed_by_own_act(event_type, volunteer_id)
    if own and any(offer.open and offer.volunteer_id == own for offer in held):
        closing.append(own)
    new: list[str] = []
    stale = any(offer.offered_version > version for offer in held)
    if event_type == "request_dispatched" and not stale:
        known = {offer.volunteer_id for offer in held}
        new = [v for v in dict.fromkeys(offered_to) if v not in known]
    return OfferChanges(new=new, lost=lost, closing=closing)
