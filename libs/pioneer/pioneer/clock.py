"""Time: stored in UTC, shown in the cities' zone (Asia/Shanghai)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

CITY_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def local(moment: datetime) -> datetime:
    """``moment`` in the cities' zone; a naive value is taken as UTC (how the database gives it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CITY_TZ)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the +08:00 offset, as the contract shows times."""
    return None if moment is None else local(moment).isoformat()
