"""Notify configuration: the kernel's settings plus the fan-out radius, webhook signing and
delivery retries, and the SMS/WeChat adapters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from pioneer.config import KernelSettings


def _blank_is_none(value: Any) -> Any:
    # ``${SMS_GATEWAY_URL:}`` arrives as an empty string (or None) when unset.
    return None if value in ("", None) else value


GatewayUrl = Annotated[
    Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=500)] | None,
    BeforeValidator(_blank_is_none),
]
GatewayKey = Annotated[
    Annotated[str, StringConstraints(min_length=8, max_length=500)] | None,
    BeforeValidator(_blank_is_none),
]
Adapter = Literal["logging", "http"]


class NotifySettings(KernelSettings):
    """``WISH_RADIUS_M`` (``WISH_RADII`` per city): who hears of a published wish.
    ``WEBHOOK_SECRET``: the HMAC-SHA256 key of webhook signatures. ``WEBHOOK_TIMEOUT_S``: one
    push delivery's time limit. ``DELIVERY_*``: retries with exponential backoff, then dead
    letter; batch and concurrency of the delivery timer. ``SMS_*``/``WECHAT_*``: the adapter
    (``logging`` or ``http``) and, for ``http``, the gateway's URL and key."""

    WISH_RADIUS_M: Annotated[int, Field(ge=100, le=50_000)] = 2500
    WISH_RADII: dict[str, Annotated[int, Field(ge=100, le=50_000)]] = {}
    WEBHOOK_SECRET: Annotated[str, StringConstraints(min_length=16, max_length=500)]
    WEBHOOK_TIMEOUT_S: Annotated[float, Field(gt=0, le=60)] = 5.0
    DELIVERY_MAX_ATTEMPTS: Annotated[int, Field(ge=1, le=50)] = 6
    DELIVERY_BACKOFF_S: Annotated[float, Field(gt=0, le=3600)] = 5.0
    DELIVERY_BACKOFF_MAX_S: Annotated[float, Field(gt=0, le=86_400)] = 3600.0
    DELIVERY_BATCH: Annotated[int, Field(ge=1, le=5000)] = 200
    DELIVERY_CONCURRENCY: Annotated[int, Field(ge=1, le=500)] = 20
    SMS_ADAPTER: Adapter = "logging"
    SMS_GATEWAY_URL: GatewayUrl = None
    SMS_GATEWAY_KEY: GatewayKey = None
    WECHAT_ADAPTER: Adapter = "logging"
    WECHAT_GATEWAY_URL: GatewayUrl = None
    WECHAT_GATEWAY_KEY: GatewayKey = None

    @model_validator(mode="after")
    def _gateways_configured(self) -> NotifySettings:
        for prefix in ("SMS", "WECHAT"):
            if getattr(self, f"{prefix}_ADAPTER") == "http":
                for part in ("URL", "KEY"):
                    if not getattr(self, f"{prefix}_GATEWAY_{part}"):
                        raise ValueError(f"{prefix}_GATEWAY_{part} is required by the http adapter")
        return self

    def wish_radius_m(self, city: str) -> int:
        """The radius around a published wish within which volunteers hear of it."""
        return self.WISH_RADII.get(city, self.WISH_RADIUS_M)

    @property
    def delivery_lease_s(self) -> float:
        """How long a claimed delivery stays with its sender before another may retry it."""
        return self.WEBHOOK_TIMEOUT_S * 2 + 30
