"""Spatial index without a spatial database: a Morton (Z-order) cell per point.

Every located record stores ``geocell``, the interleaved bits of its quantised longitude and
latitude (26 bits each, about 0.3 m), in an indexed BIGINT column. A radius query covers the
circle's bounding box with at most ``max_cells`` cells at the finest level that allows it; each
cell is one contiguous range of ``geocell`` values, so the database answers with a few index
range scans, and only the candidates found are checked with the exact great-circle distance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, or_

BITS = 26
_SCALE = 1 << BITS
EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180


def _spread(v: int) -> int:
    """Put the 32 bits of ``v`` on the even bit positions of a 64-bit integer."""
    v &= 0xFFFFFFFF
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    v = (v | (v << 1)) & 0x5555555555555555
    return v


def _quantise(lat: float, lon: float) -> tuple[int, int]:
    x = int((lon + 180.0) / 360.0 * _SCALE)
    y = int((lat + 90.0) / 180.0 * _SCALE)
    return min(max(x, 0), _SCALE - 1), min(max(y, 0), _SCALE - 1)


def geocell(lat: float, lon: float) -> int:
    """The 52-bit Morton code of a point."""
    x, y = _quantise(lat, lon)
    return _spread(x) | (_spread(y) << 1)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Nearby:
    """A candidate inside the circle: its distance (to 0.1 m), its key and the row itself."""

    distance_m: float
    key: str
    row: Any


def rank_nearby(
    candidates: Iterable[Any],
    lat: float,
    lon: float,
    radius_m: float,
    *,
    key: Callable[[Any], str] = lambda row: row.id,
    keep: Callable[[Any], bool] | None = None,
    after: tuple[float, str] | None = None,
    limit: int | None = None,
) -> list[Nearby]:
    """The candidates (rows with ``lat`` and ``lon``) inside the circle, nearest first, ties by
    key: each key once (at its nearest), only rows ``keep`` accepts, only past ``after`` in
    ``(distance, key)`` order (a cursor), at most ``limit``. Unlocated rows are skipped."""
    chosen: dict[str, Nearby] = {}
    for row in candidates:
        if row.lat is None or row.lon is None:
            continue
        distance = round(distance_m(lat, lon, row.lat, row.lon), 1)
        if distance > radius_m:
            continue
        name = key(row)
        if after is not None and (distance, name) <= after:
            continue
        known = chosen.get(name)
        if known is not None and known.distance_m <= distance:
            continue
        if keep is not None and not keep(row):
            continue
        chosen[name] = Nearby(distance, name, row)
    ranked = sorted(chosen.values(), key=lambda item: (item.distance_m, item.key))
    return ranked if limit is None else ranked[:limit]


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, min_lon, max_lat, max_lon) of the circle, clamped to valid coordinates."""
    dlat = radius_m / _M_PER_DEG_LAT
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(radius_m / (_M_PER_DEG_LAT * cos_lat), 180.0)
    return (
        max(lat - dlat, -90.0),
        max(lon - dlon, -180.0),
        min(lat + dlat, 90.0),
        min(lon + dlon, 180.0),
    )


def covering_ranges(
    lat: float, lon: float, radius_m: float, max_cells: int = 16
) -> list[tuple[int, int]]:
    """Half-open ``geocell`` ranges ``[lo, hi)`` that together contain every point of the circle."""
    min_lat, min_lon, max_lat, max_lon = bounding_box(lat, lon, radius_m)
    x0, y0 = _quantise(min_lat, min_lon)
    x1, y1 = _quantise(max_lat, max_lon)
    level = BITS
    while level > 0:
        shift = BITS - level
        count = ((x1 >> shift) - (x0 >> shift) + 1) * ((y1 >> shift) - (y0 >> shift) + 1)
        if count <= max_cells:
            break
        level -= 1
    shift = BITS - level
    width = 1 << (2 * shift)
    starts = sorted(
        (_spread(cx) | (_spread(cy) << 1)) << (2 * shift)
        for cx in range(x0 >> shift, (x1 >> shift) + 1)
        for cy in range(y0 >> shift, (y1 >> shift) + 1)
    )
    ranges: list[tuple[int, int]] = []
    for start in starts:
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], start + width)
        else:
            ranges.append((start, start + width))
    return ranges


def within_cells(column: Any, ranges: list[tuple[Any, Any]], *conditions: Any) -> Any:
    """SQL: ``column`` (a geocell) in one of ``ranges``, each range ANDed with ``conditions``.

    The equality conditions (city, skill, service...) sit inside every range so that each range
    is one seek on a ``(conditions..., geocell)`` index whatever the planner knows: with them
    outside, SQLite without statistics reads every row matching the conditions instead.
    ``ranges`` may hold bound parameters (``cell_parameters``) for a statement built once.
    """
    return or_(*(and_(*conditions, column >= lo, column < hi) for lo, hi in ranges))


def cell_parameters(count: int) -> list[tuple[Any, Any]]:
    """``count`` ranges as bound parameters ``lo0``/``hi0``..., for ``within_cells`` in a
    statement built once per number of ranges (see ``bind_cells``)."""
    return [(bindparam(f"lo{n}"), bindparam(f"hi{n}")) for n in range(count)]


def bind_cells(ranges: list[tuple[int, int]]) -> dict[str, int]:
    """The values of ``cell_parameters(len(ranges))`` for ``ranges``."""
    values: dict[str, int] = {}
    for n, (lo, hi) in enumerate(ranges):
        values[f"lo{n}"], values[f"hi{n}"] = lo, hi
    return values
