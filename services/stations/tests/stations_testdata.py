"""Test data for the stations tests (imported by test modules; fixtures live in conftest)."""

from __future__ import annotations

from typing import Any

SHANGHAI_OFFSET = "+08:00"
# Fangjiahetou village, Longshan town, Cixi: "Tue and Thu afternoons and weekends".
FANGJIAHETOU = {"lat": 30.2113, "lon": 121.4398}


def station_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "龙山方家河头号",
        "city": "cixi",
        "district": "龙山镇",
        "address": "方家河头村游客中心旁",
        "location": dict(FANGJIAHETOU),
        "kind": "scenic_spot",
        "services": ["haircut", "knife_sharpening", "key_cutting", "free_clinic", "tourist_info"],
        "opening_hours": [
            {"rrule": "FREQ=WEEKLY;BYDAY=TU,TH", "start": "13:30", "end": "17:00"},
            {"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "08:00", "end": "17:00"},
        ],
        "standard": {
            "venue": True,
            "identity": True,
            "team": True,
            "projects": True,
            "system": True,
        },
    }
    data.update(overrides)
    return data
