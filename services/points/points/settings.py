"""Points configuration: the kernel's settings plus the earning rules, per city if need be."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pioneer.config import City, KernelSettings

from .domain import EarningRules

Amount = Annotated[int, Field(ge=0, le=100_000)]
Rating = Annotated[int, Field(ge=1, le=5)]


class CityRules(BaseModel):
    """A city's overrides of the default amounts (any subset)."""

    model_config = ConfigDict(extra="forbid")

    wish_closed: Amount | None = None
    request_completed: Amount | None = None
    top_rating: Rating | None = None
    top_rating_bonus: Amount | None = None
    max_checkin: Amount | None = None


def _none_is_empty(value: Any) -> Any:
    # ``${EARNING_RULES:""}`` with the variable unset gives "" (no overrides).
    return {} if value in (None, "") else value


class PointsSettings(KernelSettings):
    """``WISH_CLOSED_POINTS``, ``REQUEST_COMPLETED_POINTS``: what a closed wish and a completed
    request earn; ``TOP_RATING`` / ``TOP_RATING_BONUS``: a request rated at least that earns the
    bonus; ``EARNING_RULES``: per-city overrides (``{haining: {wish_closed: 20}}``). Check-ins
    earn what their activity says, up to ``MAX_CHECKIN_POINTS`` (per city ``max_checkin``; by
    default what stations lets an activity give): a check-in claiming more is parked."""

    WISH_CLOSED_POINTS: Amount = 10
    REQUEST_COMPLETED_POINTS: Amount = 10
    TOP_RATING: Rating = 5
    TOP_RATING_BONUS: Amount = 5
    MAX_CHECKIN_POINTS: Amount = 10_000
    EARNING_RULES: Annotated[dict[City, CityRules], BeforeValidator(_none_is_empty)] = {}

    def rules(self, city: str) -> EarningRules:
        """The earning rules of ``city``."""
        own = self.EARNING_RULES.get(city) or CityRules()
        return EarningRules(
            wish_closed=_pick(own.wish_closed, self.WISH_CLOSED_POINTS),
            request_completed=_pick(own.request_completed, self.REQUEST_COMPLETED_POINTS),
            top_rating=_pick(own.top_rating, self.TOP_RATING),
            top_rating_bonus=_pick(own.top_rating_bonus, self.TOP_RATING_BONUS),
            max_checkin=_pick(own.max_checkin, self.MAX_CHECKIN_POINTS),
        )


def _pick(value: int | None, default: int) -> int:
    return default if value is None else value
