"""Test data for the volunteers tests (imported by test modules; fixtures live in conftest)."""

from __future__ import annotations

import itertools
import random
from typing import Any

# Xiashi street, Haining-ish coordinates are not needed: the tests use Cixi's Longshan town.
LONGSHAN = {"lat": 30.2113, "lon": 121.4398}
WEEKENDS = [{"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "08:00", "end": "17:00"}]
_serial = itertools.count(random.randrange(10_000_000, 80_000_000))


def new_phone() -> str:
    """A fresh, valid mainland mobile number."""
    return f"139{next(_serial):08d}"


def volunteer_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "王建国",
        "phone": new_phone(),
        "city": "cixi",
        "district": "龙山镇",
        "community": "方家河头村",
        "is_party_member": True,
        "party_branch": "方家河头村党支部",
        "skills": ["haircut", "repair"],
        "location": dict(LONGSHAN),
        "availability": list(WEEKENDS),
    }
    data.update(overrides)
    return data


def masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


# Haining: about 30 km across; the synthetic city is a square of that size around its centre.
HAINING_CENTRE = (30.51, 120.68)
SKILL_POOL = [
    "haircut",
    "repair",
    "plumbing_electrical",
    "elderly_care",
    "medical",
    "legal_aid",
    "tutoring",
    "patrol",
    "culture_arts",
    "policy_talk",
    "environment",
    "tourist_info",
    "errands",
    "housekeeping",
    "digital_help",
    "mediation",
]


def synthetic_volunteers(count: int, city: str = "haining", seed: int = 7) -> list[dict[str, Any]]:
    """``count`` plausible volunteer rows for direct insertion (a city at full size)."""
    from datetime import UTC, datetime, timedelta

    from pioneer import geo, ids

    rng = random.Random(seed)
    now = datetime.now(UTC)
    lat0, lon0 = HAINING_CENTRE
    rows = []
    for i in range(count):
        located = rng.random() < 0.95
        lat = lat0 + rng.uniform(-0.135, 0.135) if located else None
        lon = lon0 + rng.uniform(-0.155, 0.155) if located else None
        rows.append(
            {
                "id": f"{city}-vol-{ids.ulid()}",
                "city": city,
                "name": f"志愿者{i}",
                "phone": f"13{i:09d}",
                "district": "硖石街道",
                "community": f"社区{i % 200}",
                "is_party_member": i % 3 == 0,
                "party_branch": None,
                "skills": rng.sample(SKILL_POOL, rng.randint(1, 3)),
                "availability": WEEKENDS if i % 2 else [],
                "lat": lat,
                "lon": lon,
                "geocell": geo.geocell(lat, lon) if located else None,
                "status": "suspended" if i % 20 == 0 else "active",
                "suspended_until": now + timedelta(days=30) if i % 20 == 0 else None,
                "cards": 1 if i % 20 == 0 else 0,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def write_volunteers_csv(path, count: int, seed: int = 11, chinese_header: bool = False) -> None:
    """A city's spreadsheet of ``count`` good rows (phones 137xxxxxxxx, unique)."""
    import csv

    rng = random.Random(seed)
    lat0, lon0 = HAINING_CENTRE
    header = (
        ["姓名", "手机", "街道", "社区", "是否党员", "党支部", "技能", "纬度", "经度", "服务时间"]
        if chinese_header
        else [
            "name",
            "phone",
            "district",
            "community",
            "is_party_member",
            "party_branch",
            "skills",
            "lat",
            "lon",
            "availability",
        ]
    )
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(count):
            party = i % 3 == 0
            writer.writerow(
                [
                    f"志愿者{i}",
                    f"137{i:08d}",
                    "硖石街道",
                    f"社区{i % 200}",
                    "是" if party else "否",
                    "硖石街道党工委" if party else "",
                    "、".join(rng.sample(SKILL_POOL, rng.randint(1, 3))),
                    f"{lat0 + rng.uniform(-0.13, 0.13):.6f}",
                    f"{lon0 + rng.uniform(-0.15, 0.15):.6f}",
                    "FREQ=WEEKLY;BYDAY=SA,SU@08:00-12:00" if i % 2 else "",
                ]
            )
