"""Notify configuration: the kernel's settings plus the fan-out radius, push timeouts and retries,
the hosts tests may reach over plain http, and the SMS/WeChat adapters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from pioneer.config import KernelSettings

from . import webhook_rules


def _blank_is_none(value: Any) -> Any:
    # ``${SMS_GATEWAY_URL:}`` arrives as an empty string (or None) when unset.
    return None if value in ("", None) else value


def _host_list(value: Any) -> Any:
    # ``${WEBHOOK_PLAIN_HTTP_HOSTS:}``: comma-separated, empty (or None) when unset.
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, list):
        return value
    return [webhook_rules.host_key(str(part)) for part in parts if str(part).strip()]


GatewayUrl = Annotated[
    Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=500)] | None,
    BeforeValidator(_blank_is_none),
]
GatewayKey = Annotated[
    Annotated[str, StringConstraints(min_length=8, max_length=500)] | None,
    BeforeValidator(_blank_is_none),
]
Adapter = Literal["logging", "http"]
Host = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.\-:]{1,253}$")]


# Recipients of a wish's fan-out stored per transaction (``usecases.fanout``): measured.
FANOUT_CHUNK = 5000

# What a claimed batch's lease allows beyond its worst case: recording the outcomes, a pause
# of the process, clocks of two hosts a little apart.
LEASE_MARGIN_S = 30.0


class NotifySettings(KernelSettings):
    """``WISH_RADIUS_M`` (``WISH_RADII`` per city): who hears of a published wish.
    ``WEBHOOK_TIMEOUT_S``: one push delivery's time limit. ``WEBHOOK_PLAIN_HTTP_HOSTS``: hosts
    (tests' local receivers) that webhooks and gateways may reach over plain http, and webhooks
    whatever they resolve to; empty by default. ``DELIVERY_*``: retries with exponential backoff,
    then dead letter; batch and concurrency of the delivery timer. ``SMS_*``/``WECHAT_*``: the
    adapter (``logging`` or ``http``) and, for ``http``, the gateway's ``https`` URL and key.
    Webhooks are signed with each recipient's own secret (``set_preferences``), not a setting."""

    WISH_RADIUS_M: Annotated[int, Field(ge=100, le=50_000)] = 2500
    WISH_RADII: dict[str, Annotated[int, Field(ge=100, le=50_000)]] = {}
    WEBHOOK_TIMEOUT_S: Annotated[float, Field(gt=0, le=60)] = 5.0
    WEBHOOK_PLAIN_HTTP_HOSTS: Annotated[
        list[Host], BeforeValidator(_host_list), Field(max_length=20)
    ] = []
    DELIVERY_MAX_ATTEMPTS: Annotated[int, Field(ge=1, le=50)] = 6
    DELIVERY_BACKOFF_S: Annotated[float, Field(gt=0, le=3600)] = 5.0
    DELIVERY_BACKOFF_MAX_S: Annotated[float, Field(gt=0, le=86_400)] = 3600.0
    DELIVERY_BATCH: Annotated[int, Field(ge=1, le=5000)] = 200
    DELIVERY_CONCURRENCY: Annotated[int, Field(ge=1, le=500)] = 20
    FANOUT_CHUNK: Annotated[int, Field(ge=1, le=50_000)] = FANOUT_CHUNK
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
            url = getattr(self, f"{prefix}_GATEWAY_URL")
            # The operator's own gateway may live inside: its host is not checked, its scheme is.
            problem = url and webhook_rules.url_refusal(url, self.WEBHOOK_PLAIN_HTTP_HOSTS, False)
            if problem:
                raise ValueError(f"{prefix}_GATEWAY_URL: {problem}")
        return self

    def wish_radius_m(self, city: str) -> int:
        """The radius around a published wish within which volunteers hear of it."""
        return self.WISH_RADII.get(city, self.WISH_RADIUS_M)

    @property
    def delivery_lease_s(self) -> float:
        """How long a claimed delivery stays with its sender before another replica may retry
        it: longer than the worst-case batch (every attempt is cut at ``WEBHOOK_TIMEOUT_S``,
        ``DELIVERY_CONCURRENCY`` at a time), so no delivery is sent twice by live senders."""
        rounds = -(-self.DELIVERY_BATCH // self.DELIVERY_CONCURRENCY)
        return rounds * self.WEBHOOK_TIMEOUT_S + LEASE_MARGIN_S
