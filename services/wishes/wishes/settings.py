"""Wishes configuration: the kernel's settings plus the nearby default and the expiry batch."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from pioneer.config import KernelSettings

Minutes = Annotated[float, Field(gt=0, le=240)]
Speed = Annotated[float, Field(gt=0, le=200)]


class ServiceCircle(BaseModel):
    minutes: Minutes
    speed_kmh: Speed


class WishesSettings(KernelSettings):
    """``DEFAULT_NEAR_RADIUS_M``: the radius of ``list_wishes(near=...)`` without ``radius_m``.
    ``EXPIRE_BATCH``: overdue published wishes expired per transaction by the expiry timer.
    ``OFFER_TIMEOUT_S``: how long a dispatch offer waits for an answer.
    ``SERVICE_CIRCLE_MINUTES`` and ``TRAVEL_SPEED_KMH`` give the service circle's radius;
    ``SERVICE_CIRCLES`` overrides both per city (``{haining: {minutes: 15, speed_kmh: 12}}``)."""

    DEFAULT_NEAR_RADIUS_M: Annotated[int, Field(ge=1, le=50_000)] = 5000
    EXPIRE_BATCH: Annotated[int, Field(ge=1, le=10_000)] = 500
    OFFER_TIMEOUT_S: Annotated[float, Field(ge=0.5, le=86_400)] = 120.0
    SERVICE_CIRCLE_MINUTES: Minutes = 10
    TRAVEL_SPEED_KMH: Speed = 15
    SERVICE_CIRCLES: dict[str, ServiceCircle] = {}

    def circle(self, city: str) -> tuple[float, float]:
        """(minutes, km/h) of ``city``'s service circle."""
        own = self.SERVICE_CIRCLES.get(city)
        if own is not None:
            return own.minutes, own.speed_kmh
        return self.SERVICE_CIRCLE_MINUTES, self.TRAVEL_SPEED_KMH
