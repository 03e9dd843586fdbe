"""Events as the kernel handles them: the envelope every event travels in, reading an event's
data (``read_data``), and the message no retry can fix. The data of each event type is the
event contract (``pioneer.event_contract``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

D = TypeVar("D", bound=BaseModel)


class PoisonMessage(Exception):
    """A message no retry can fix (not an event envelope, or data its type does not allow):
    parked in the dead-letter queue at once, with this as its reason."""


class Event(BaseModel):
    """The envelope every event travels in."""

    model_config = ConfigDict(extra="allow")

    event_id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    origin_city: str = Field(min_length=1, max_length=32)
    city: str = Field(min_length=1, max_length=32)
    occurred_at: datetime
    version: int = 1
    data: dict[str, Any]


def parse_event(payload: Any) -> Event:
    """Validate an incoming envelope (``ValueError`` if it is not one)."""
    return Event.model_validate(payload)


def read_data(model: type[D], event: Event) -> D:
    """``event.data`` as ``model``; ``PoisonMessage`` naming the field if it is not one, or if
    the record it is about is of another city than the envelope says."""
    try:
        data = model.model_validate(event.data)
    except PydanticValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "data"
        raise PoisonMessage(f"{event.type}: data.{where}: {first['msg']}") from None
    city = getattr(data, "city", event.city)
    if city != event.city:
        raise PoisonMessage(
            f"{event.type}: data.city {city!r} is not the envelope's {event.city!r}"
        )
    return data


# The header RabbitMQ's federation plugin adds to every copy it forwards from a peer.
FEDERATED_HEADER = "x-received-from"


def origin_problem(body: Any, federated: bool, cities: list[str], event_type: str) -> str | None:
    """Why a message cannot be what it says it is, or None. A deployment publishes events of
    its own cities only (``origin_city`` served here), and peers' events reach it only as
    federated copies, each about a record of the peer's own city (its home deployment is the
    one that writes it, so ``city`` is ``origin_city``); an event's type is the one its queue
    is bound for."""
    if not isinstance(body, dict):
        return None  # not an envelope at all: parsing parks it
    kind, origin = body.get("type"), body.get("origin_city")
    if not isinstance(kind, str) or not isinstance(origin, str):
        return None  # likewise
    if kind != event_type:
        return f"a {kind[:64]!r} event on the queue of {event_type!r}"
    if not federated and origin not in cities:
        return f"published here but from {origin[:32]!r}, a city this deployment does not serve"
    if federated and body.get("city") != origin:
        return (
            f"a peer's copy from {origin[:32]!r} about a record of {str(body.get('city'))[:32]!r}"
        )
    return None


def own_copy(body: Any, federated: bool, cities: list[str]) -> bool:
    """A federated copy of this deployment's own event coming back (more than one hop)."""
    return federated and isinstance(body, dict) and body.get("origin_city") in cities


# How far one event may move a record's version past the one held. Versions grow by one per
# change, so a jump beyond this is no genuine history but a forged version out of reach
# (every later genuine event would look older): such an event is parked, not applied.
MAX_VERSION_STEP = 1000


def require_reachable(version: int, held: int | None, what: str) -> None:
    """``PoisonMessage`` unless ``version`` is within ``MAX_VERSION_STEP`` of the held one."""
    if version > (held or 0) + MAX_VERSION_STEP:
        raise PoisonMessage(
            f"{what} version {version} jumps more than {MAX_VERSION_STEP} past {held or 0}"
        )


class EventData(BaseModel):
    """Base of event data models: tolerant of fields added by newer producers."""

    model_config = ConfigDict(extra="ignore")
