"""Service configuration: nameko YAML with ``${ENV:default}``, validated by pydantic at start-up.

A bad value stops the service before it touches the broker or the database, with a message
naming the key (``stations config: CITIES.1: ...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError

from .schemas import field_path


class ConfigError(Exception):
    """A configuration value that cannot be used; the message names the key."""


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


City = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,31}$")]


class ServiceCodeInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    category: str


def default_pool_size(max_workers: int) -> int:
    """A service process's database pool unless ``DB_POOL_SIZE`` says: one connection per
    worker plus the relay, timers and health checks (the engine allows as many again in
    overflow)."""
    return max_workers + 4


class KernelSettings(BaseModel):
    """Settings every service reads; services extend it with their own."""

    model_config = ConfigDict(extra="allow")

    AMQP_URI: Annotated[str, StringConstraints(pattern=r"^(py)?amqps?://")]
    DEPLOYMENT: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = "shared"
    CITIES: Annotated[list[City], BeforeValidator(_comma_list), Field(min_length=1)]
    DATABASE_URL: Annotated[str, StringConstraints(pattern=r"^(sqlite|postgresql(\+psycopg2)?)://")]
    DB_POOL_SIZE: Annotated[int, Field(ge=1, le=500)] | None = None
    JWT_SECRET: Annotated[str, StringConstraints(min_length=16)]
    JWT_LEEWAY_S: Annotated[int, Field(ge=0, le=300)] = 10
    # The longest a token may live, by role (seconds); see ``auth.DEFAULT_MAX_TTL_S``.
    TOKEN_MAX_TTL_S: dict[
        Literal["admin", "dispatcher", "station_manager", "volunteer", "system", "ops"],
        Annotated[int, Field(ge=60, le=366 * 86400)],
    ] = {}
    WEB_SERVER_ADDRESS: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9.\-:\[\]]+:\d{1,5}$")
    ] = "127.0.0.1:8000"
    max_workers: Annotated[int, Field(ge=1, le=1000)] = 10
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    EVENT_RETRY_DELAYS_S: Annotated[
        list[Annotated[int, Field(ge=1, le=86400)]], Field(max_length=10)
    ] = [1, 10, 60]
    OUTBOX_POLL_S: Annotated[float, Field(gt=0, le=60)] = 1.0
    OUTBOX_RETENTION_H: Annotated[int, Field(ge=1, le=24 * 90)] = 24
    RPC_TIMEOUT_S: Annotated[float, Field(gt=0, le=120)] = 5.0
    SERVICE_CODES: dict[City, dict[str, ServiceCodeInfo]] = {}

    @field_validator("CITIES")
    @classmethod
    def _unique_cities(cls, cities: list[str]) -> list[str]:
        if len(set(cities)) != len(cities):
            raise ValueError("cities must be unique")
        return cities

    @property
    def token_rules(self) -> Any:
        """What the services accept: tokens this deployment issued, within the roles' lifetimes."""
        from .auth import DEFAULT_MAX_TTL_S, TokenRules

        return TokenRules(self.DEPLOYMENT, {**DEFAULT_MAX_TTL_S, **self.TOKEN_MAX_TTL_S})

    @property
    def pool_size(self) -> int:
        """Connections: one per worker plus the relay, timers and health checks."""
        return self.DB_POOL_SIZE or default_pool_size(self.max_workers)

    @property
    def http_port(self) -> int:
        return int(self.WEB_SERVER_ADDRESS.rsplit(":", 1)[1])


def validate_settings(
    model: type[KernelSettings], config: dict[str, Any], service: str
) -> KernelSettings:
    """Validate a nameko config dict; raise ``ConfigError`` naming the first bad key."""
    try:
        return model.model_validate(config)
    except PydanticValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        key = field_path(tuple(first["loc"])) or "config"
        raise ConfigError(f"{service} config: {key}: {first['msg']}") from None


def load_yaml_config(path: str | Path) -> dict[str, Any]:
    """Read a nameko config file, expanding ``${ENV:default}`` as ``nameko run`` does."""
    from nameko.cli.main import setup_yaml_parser
    from nameko.exceptions import ConfigurationError

    setup_yaml_parser()
    try:
        with open(path) as fh:
            config = yaml.safe_load(fh)
    except (yaml.YAMLError, ConfigurationError) as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(f"{path}: {reason}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: not a mapping")
    return config
