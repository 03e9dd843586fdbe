"""The words of each notification: titles and bodies built from safe event fields only.

Every title and body is built from ids, codes, catalogue names, wish titles (public in
``list_wishes``), dates and counts. Beneficiary and requester contacts never reach an event, and
no free-text reason (a cancellation or complaint) is repeated here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from pioneer import clock

from .domain import (
    OFFER_CANCELLED,
    OFFER_CLOSED,
    OFFER_TAKEN,
    OFFER_TIMED_OUT,
    VOLUNTEER_REINSTATED,
    VOLUNTEER_SUSPENDED,
)


@dataclass(frozen=True)
class Words:
    """A notification's title and body."""

    title: str
    body: str


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _day(moment: datetime) -> str:
    return clock.local(moment).strftime("%Y-%m-%d %H:%M")


def wish_published_words(
    title: str, service_name: str, deadline: datetime, distance_m: float
) -> Words:
    """A wish published within the volunteer's circle: what, how far, until when."""
    return Words(
        _short(f"新的微心愿：{title}", 200),
        _wish_published_body(service_name, deadline, f"{distance_m / 1000:.1f}"),
    )


@functools.lru_cache(maxsize=1024)
def _wish_published_body(service_name: str, deadline: datetime, km: str) -> str:
    # A fan-out's bodies differ only in the tenths of a kilometre: one per tenth, not per
    # recipient (the local deadline's formatting cost more than the rest of the notice).
    return f"{service_name}，距您约 {km} 公里，截止 {_day(deadline)}。打开应用认领。"


def wish_claimed_words(title: str, volunteer_id: str) -> Words:
    """A wish claimed, for the city's admins: which wish, by whom."""
    return Words(
        _short(f"微心愿已被认领：{title}", 200),
        f"志愿者 {volunteer_id} 认领了这个微心愿。",
    )


URGENCY_WORDS = {"normal": "普通", "urgent": "紧急", "emergency": "特急"}


def offer_words(service_name: str, urgency: str) -> Words:
    """A dispatch offer: the service and its urgency."""
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
    """An offer withdrawn, and why (one of the ``OFFER_*`` reasons)."""
    return Words(f"服务请求已撤回：{service_name}", OFFER_ENDED_WORDS[reason])


def volunteer_words(kind: str, suspended_until: datetime | None) -> Words:
    """A suspension (until when), reinstatement or removal, told to the volunteer."""
    if kind == VOLUNTEER_SUSPENDED:
        until = _day(suspended_until) if suspended_until else "另行通知"
        return Words("您的志愿者资格已暂停", f"暂停至 {until}，期间不能认领岗位、心愿和服务请求。")
    if kind == VOLUNTEER_REINSTATED:
        return Words("您的志愿者资格已恢复", "您可以重新认领岗位、心愿和服务请求。")
    return Words("您的志愿者资格已取消", "如有疑问，请联系所在城市的志愿服务中心。")


def redemption_words(
    item_name: str | None, quantity: int | None, spent: int, balance: int
) -> Words:
    """A redemption: the item and quantity, the points spent and the balance left."""
    item = _short(item_name, 60) if item_name else "兑换"
    count = f" × {quantity}" if quantity else ""
    return Words(
        f"积分兑换成功：{item}{count}",
        f"本次使用 {spent} 积分，当前余额 {balance} 积分。",
    )
