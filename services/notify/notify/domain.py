"""Notify's rules in plain Python: who may read which inbox, quiet hours, retry backoff, who
lost an offer, the service circle, and the words of each notification (from safe fields only).

No I/O here: everything is a function of its arguments, unit-tested on plain values.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pioneer import auth, clock, geo, ids

INBOX = "inbox"
PUSH_CHANNELS = ("webhook", "sms", "wechat")
CHANNELS = (INBOX, *PUSH_CHANNELS)
ADMINS_PREFIX = "admins:"
_CITY = re.compile(r"^[a-z][a-z0-9_]{1,31}$")

STORED, PENDING, SENT, FAILED = "stored", "pending", "sent", "failed"

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
    if recipient_id.startswith(ADMINS_PREFIX):
        return bool(_CITY.match(recipient_id[len(ADMINS_PREFIX) :]))
    return ids.is_valid(recipient_id)


def may_read(caller: auth.Caller, recipient_id: str) -> bool:
    """A volunteer reads only its own inbox; admins, ops and trusted systems any of their city."""
    if auth.VOLUNTEER in caller.roles and caller.sub == recipient_id:
        return True
    return caller.has(auth.ADMIN, auth.OPS, auth.SYSTEM) and caller.covers(
        recipient_city(recipient_id)
    )


def may_change(caller: auth.Caller, recipient_id: str) -> bool:
    """Marking read and setting preferences: the volunteer itself, or an admin or trusted system
    of its city (ops only read)."""
    if auth.VOLUNTEER in caller.roles and caller.sub == recipient_id:
        return True
    return caller.has(auth.ADMIN, auth.SYSTEM) and caller.covers(recipient_city(recipient_id))


def effective_channels(channels: Iterable[str] | None) -> list[str]:
    """The inbox (always on) first, then the chosen push channels in a fixed order."""
    chosen = set(channels or ())
    return [INBOX, *(name for name in PUSH_CHANNELS if name in chosen)]


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


def backoff_s(attempts: int, base_s: float, cap_s: float) -> float:
    """Delay before the next try after ``attempts`` failed ones: base, 2x, 4x ... up to the cap."""
    return min(cap_s, base_s * (2 ** max(attempts - 1, 0)))


def next_step(attempts: int, retryable: bool, max_attempts: int) -> str:
    """After a failed try: ``retry`` or ``dead`` (dead-lettered)."""
    return "retry" if retryable and attempts < max_attempts else "dead"


def retryable_status(status: int) -> bool:
    """HTTP answers worth retrying: server errors, 408 and 429. Other 4xx are final."""
    return status >= 500 or status in (408, 429)


# --- signatures ----------------------------------------------------------------------------------


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the raw body under the configured secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` (constant-time comparison)."""
    return bool(header) and hmac.compare_digest(signature(secret, body), header or "")


# --- who hears of a published wish -------------------------------------------------------------


def within_circle(
    candidates: Iterable[tuple[str, float, float]], lat: float, lon: float, radius_m: float
) -> list[tuple[str, float]]:
    """``(volunteer_id, distance_m)`` of the candidates inside the circle, each once."""
    chosen: dict[str, float] = {}
    for volunteer_id, vlat, vlon in candidates:
        if volunteer_id in chosen:
            continue
        distance = geo.distance_m(lat, lon, vlat, vlon)
        if distance <= radius_m:
            chosen[volunteer_id] = distance
    return list(chosen.items())


# --- offers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldOffer:
    volunteer_id: str
    offered_version: int


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
        if offer.offered_version < version
        and offer.volunteer_id not in still
        and offer.volunteer_id != volunteer_id
    ]


def offer_closed_by_own_act(event_type: str, volunteer_id: str | None) -> str | None:
    """The volunteer whose offer the event ended by its own act (accepting or declining)."""
    if event_type in ("request_accepted", "request_declined"):
        return volunteer_id
    return None


# --- words ---------------------------------------------------------------------------------------
# Every title and body is built from safe event fields: ids, codes, catalogue names, wish titles
# (public in list_wishes), dates and counts. Beneficiary and requester contacts never reach an
# event, and no free-text reason (a cancellation or complaint) is repeated here.


@dataclass(frozen=True)
class Words:
    title: str
    body: str


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _day(moment: datetime) -> str:
    return clock.local(moment).strftime("%Y-%m-%d %H:%M")


def wish_published_words(
    title: str, service_name: str, deadline: datetime, distance_m: float
) -> Words:
    return Words(
        _short(f"新的微心愿：{title}", 200),
        f"{service_name}，距您约 {distance_m / 1000:.1f} 公里，截止 {_day(deadline)}。"
        "打开应用认领。",
    )


def wish_claimed_words(title: str, volunteer_id: str) -> Words:
    return Words(
        _short(f"微心愿已被认领：{title}", 200),
        f"志愿者 {volunteer_id} 认领了这个微心愿。",
    )


URGENCY_WORDS = {"normal": "普通", "urgent": "紧急", "emergency": "特急"}


def offer_words(service_name: str, urgency: str) -> Words:
    level = URGENCY_WORDS.get(urgency, urgency)
    return Words(
        f"新的服务请求（{level}）：{service_name}",
        "附近有居民需要帮助，请尽快在应用中接受或拒绝。",
    )


OFFER_ENDED_WORDS = {
    OFFER_TIMED_OUT: "您未及时回应，这个服务请求已转给其他志愿者。",
    OFFER_TAKEN: "另一位志愿者已接受了这个服务请求，无需前往。",
    OFFER_CANCELLED: "这个服务请求已被取消，无需前往。",
    OFFER_CLOSED: "这个服务请求已不再需要您。",
}


def offer_ended_words(service_name: str, reason: str) -> Words:
    return Words(f"服务请求已撤回：{service_name}", OFFER_ENDED_WORDS[reason])


def volunteer_words(kind: str, suspended_until: datetime | None) -> Words:
    if kind == VOLUNTEER_SUSPENDED:
        until = _day(suspended_until) if suspended_until else "另行通知"
        return Words("您的志愿者资格已暂停", f"暂停至 {until}，期间不能认领岗位、心愿和服务请求。")
    if kind == VOLUNTEER_REINSTATED:
        return Words("您的志愿者资格已恢复", "您可以重新认领岗位、心愿和服务请求。")
    return Words("您的志愿者资格已取消", "如有疑问，请联系所在城市的志愿服务中心。")


def redemption_words(
    item_name: str | None, quantity: int | None, spent: int, balance: int
) -> Words:
    item = _short(item_name, 60) if item_name else "兑换"
    count = f" × {quantity}" if quantity else ""
    return Words(
        f"积分兑换成功：{item}{count}",
        f"本次使用 {spent} 积分，当前余额 {balance} 积分。",
    )
