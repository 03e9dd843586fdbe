"""Test data for the wishes tests (imported by test modules; fixtures live in conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

# Fangjiahetou village, Longshan town, Cixi.
FANGJIAHETOU = {"lat": 30.2113, "lon": 121.4398}
BENEFICIARY = {"name": "王阿婆", "phone": "13812345678", "address": "龙山镇方家河头村12号"}


def deadline_in(days: float = 7) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def wish_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "city": "cixi",
        "title": "想要一台收音机",
        "description": "独居老人，想听越剧",
        "category": "elderly_care",
        "beneficiary": dict(BENEFICIARY),
        "location": dict(FANGJIAHETOU),
        "deadline": deadline_in(),
    }
    data.update(overrides)
    return data


def request_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "city": "cixi",
        "service": "repair",
        "description": "电视机没有图像",
        "location": dict(FANGJIAHETOU),
        "address": "龙山镇方家河头村8号",
        "requester": {"name": "李大伯", "phone": "13900001111"},
        "urgency": "normal",
    }
    data.update(overrides)
    return data
