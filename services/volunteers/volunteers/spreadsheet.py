"""A city's volunteer spreadsheet, row by row: its columns (English or Chinese names, in any
order), and each row as validated ``register`` input or a ``RowError`` naming the field.
``importer`` brings a whole file in."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any, TextIO

from pioneer.catalog import Catalog
from pioneer.errors import ValidationError
from pioneer.schemas import validate

from .schemas import VolunteerIn

COLUMNS = {
    "name": "name",
    "姓名": "name",
    "phone": "phone",
    "手机": "phone",
    "手机号": "phone",
    "district": "district",
    "街道": "district",
    "镇街": "district",
    "community": "community",
    "社区": "community",
    "村社": "community",
    "is_party_member": "is_party_member",
    "是否党员": "is_party_member",
    "party_branch": "party_branch",
    "党支部": "party_branch",
    "skills": "skills",
    "技能": "skills",
    "lat": "lat",
    "纬度": "lat",
    "lon": "lon",
    "经度": "lon",
    "availability": "availability",
    "服务时间": "availability",
}
REQUIRED = ("name", "phone", "district", "community")
TRUE = {"1", "true", "yes", "y", "是", "t"}
FALSE = {"", "0", "false", "no", "n", "否", "f"}
SKILL_SEPARATORS = ";|、,，"


class RowError(ValueError):
    """A row that cannot be imported; ``field`` and the message say why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


def _split_skills(text: str) -> list[str]:
    for separator in SKILL_SEPARATORS[1:]:
        text = text.replace(separator, SKILL_SEPARATORS[0])
    return [part.strip() for part in text.split(SKILL_SEPARATORS[0]) if part.strip()]


def _availability(text: str) -> list[dict[str, str]]:
    windows = []
    for index, entry in enumerate(part.strip() for part in text.split("|") if part.strip()):
        rule, at, hours = entry.rpartition("@")
        start, dash, end = hours.partition("-")
        if not at or not dash:
            raise RowError(f"availability.{index}", "expected RRULE@HH:MM-HH:MM")
        windows.append({"rrule": rule.strip(), "start": start.strip(), "end": end.strip()})
    return windows


def _coordinate(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise RowError(name, "not a number") from None


def phone_of(record: dict[str, str]) -> str:
    """The row's phone as ``register`` takes it (spaces and dashes dropped; "" if none)."""
    return record.get("phone", "").strip().replace(" ", "").replace("-", "")


def parse_row(record: dict[str, str], city: str, catalog: Catalog) -> VolunteerIn:
    """A spreadsheet row as validated ``register`` input (``RowError`` naming the field)."""
    for name in REQUIRED:
        if not record.get(name, "").strip():
            raise RowError(name, "required")
    party = record.get("is_party_member", "").strip().lower()
    if party not in TRUE | FALSE:
        raise RowError("is_party_member", "expected yes/no (1/0, true/false, 是/否)")
    data: dict[str, Any] = {
        "name": record["name"],
        "phone": phone_of(record),
        "city": city,
        "district": record["district"],
        "community": record["community"],
        "is_party_member": party in TRUE,
        "skills": _split_skills(record.get("skills", "")),
        "availability": _availability(record.get("availability", "")),
    }
    if record.get("party_branch", "").strip():
        data["party_branch"] = record["party_branch"]
    lat, lon = record.get("lat", "").strip(), record.get("lon", "").strip()
    if lat or lon:
        if not (lat and lon):
            raise RowError("lat" if not lat else "lon", "give both lat and lon, or neither")
        data["location"] = {"lat": _coordinate(lat, "lat"), "lon": _coordinate(lon, "lon")}
    try:
        volunteer = validate(VolunteerIn, data)
    except ValidationError as exc:
        # A rule across fields (repeated skills, a branch without membership) names the row.
        raise RowError("row" if exc.field == "arguments" else exc.field, exc.problem) from None
    try:
        catalog.require_known(city, "skills", volunteer.skills)
    except ValidationError as exc:
        raise RowError(exc.field, exc.problem) from None
    return volunteer


def read_rows(fh: TextIO) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row by canonical column name); the header is line 1."""
    reader = csv.reader(fh)
    try:
        header = next(reader)
    except StopIteration:
        return
    names = [
        COLUMNS.get(h.strip().lstrip("\ufeff").lower(), COLUMNS.get(h.strip())) for h in header
    ]
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise RowError("header", f"missing column(s): {', '.join(missing)}")
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(names):
            yield line, {"__error__": f"{len(values)} values for {len(names)} columns"}
            continue
        yield line, {n: v for n, v in zip(names, values, strict=False) if n}
