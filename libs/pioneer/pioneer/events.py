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
    """``event.data`` as ``model``; ``PoisonMessage`` naming the field if it is not one."""
    try:
        return model.model_validate(event.data)
    except PydanticValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "data"
        raise PoisonMessage(f"{event.type}: data.{where}: {first['msg']}") from None


class EventData(BaseModel):
    """Base of event data models: tolerant of fields added by newer producers."""

    model_config = ConfigDict(extra="ignore")
