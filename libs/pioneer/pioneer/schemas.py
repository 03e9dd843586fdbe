"""Pydantic building blocks for every service's contract schemas.

Input models are strict: a string where a number belongs, a number posing as a date, an unknown
field or an over-long text is rejected and the error names the field. Results are produced
with ``model_dump(mode="json")`` so only JSON reaches the wire.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
)
from pydantic import ValidationError as PydanticValidationError

from . import clock, ids
from .errors import ValidationError
from .paging import MAX_LIMIT
from .schedule import ScheduleError, normalise_rrule, parse_hhmm

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _require_str(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string with an offset")
    return value


class Input(BaseModel):
    """Base of every contract input: strict types, unknown fields rejected."""

    model_config = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    """Base of every contract result."""

    model_config = ConfigDict(from_attributes=True)


CityName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
RecordId = Annotated[str, StringConstraints(pattern=ids.ID_PATTERN)]
SubjectId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")
]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(_no_control_chars)
]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_control_chars)
]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=512)]
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _within_range(value: datetime) -> datetime:
    # Near the ends of ``datetime`` the shift to UTC or to Asia/Shanghai overflows, in
    # arithmetic, in the database driver or in the reply: refuse such values at the door.
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("must be between 2000-01-01 and 2200-01-01")
    return value


Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_require_str), Strict(False), AfterValidator(_within_range)
]
LocalTime = Annotated[
    datetime,
    PlainSerializer(lambda v: clock.iso(v), return_type=str, when_used="always"),
]


class Location(Input):
    """A WGS-84 point."""

    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class LocationOut(Output):
    lat: float
    lon: float


def _check_hhmm(value: str) -> str:
    try:
        parse_hhmm(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None
    return value


def _check_rrule(value: str) -> str:
    try:
        return normalise_rrule(value)
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None


HHMM = Annotated[str, StringConstraints(min_length=5, max_length=5), AfterValidator(_check_hhmm)]
RRule = Annotated[
    str, StringConstraints(min_length=1, max_length=256), AfterValidator(_check_rrule)
]


class RecurringWindow(Input):
    """An opening-hours or availability entry: days by RRULE, hours by start and end.

    The rule is RFC 5545's, from DTSTART 2000-01-03: FREQ DAILY, WEEKLY, MONTHLY or YEARLY,
    INTERVAL 1-1000, UNTIL in local time, BYDAY, BYMONTHDAY, BYYEARDAY, BYMONTH, BYSETPOS and
    WKST; no COUNT, BYWEEKNO or time parts; and it must occur within eight years of today.
    """

    rrule: RRule
    start: HHMM
    end: HHMM


class RecurringWindowOut(Output):
    rrule: str
    start: str
    end: str


Schedule = Annotated[list[RecurringWindow], Field(max_length=20)]

T = TypeVar("T")


class Page(Output, Generic[T]):
    """A page of a list: ``{"items": [...], "next_cursor": str | null}``."""

    items: list[T]
    next_cursor: str | None = None


def field_path(loc: tuple[Any, ...]) -> str:
    """``("station", "opening_hours", 0, "rrule")`` -> ``"station.opening_hours.0.rrule"``."""
    return ".".join(str(part) for part in loc if not str(part).startswith("function-"))


def to_contract_error(exc: PydanticValidationError, prefix: str = "") -> ValidationError:
    """The first pydantic error as the contract's ``ValidationError`` naming the field."""
    first = exc.errors(include_url=False, include_input=False)[0]
    path = field_path(tuple(first["loc"]))
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "missing":
        message = "required"
    return ValidationError(path or "arguments", message[:200])


def validate(model: type[BaseModel], data: Any, field: str = "") -> Any:
    """Validate ``data`` against ``model``; a failure is a ``ValidationError`` naming the field."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise to_contract_error(exc, field) from None


Model = TypeVar("Model", bound=BaseModel)


def from_row(model: type[Model], row: Any, /, **values: Any) -> Model:
    """``model`` built from a row: each of its fields from the row's attribute of that name,
    unless ``values`` gives it (a renamed, reshaped or withheld field). The presenters' one
    way of copying rows into results and events; a field the model lacks never rides along."""
    wanted = [name for name in model.model_fields if name not in values]
    columns = getattr(row, "_mapping", None)  # a database row: its columns, not tuple methods
    if columns is not None:
        data = {name: columns[name] for name in wanted if name in columns}
    else:
        data = {name: getattr(row, name) for name in wanted if hasattr(row, name)}
    return model.model_validate({**data, **values})


def location_of(row: Any) -> dict[str, float] | None:
    """A row's ``lat``/``lon`` as the contract's location (none where the row has no place)."""
    return None if row.lat is None else {"lat": row.lat, "lon": row.lon}
