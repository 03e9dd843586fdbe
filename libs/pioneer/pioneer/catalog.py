"""The service-code catalog shared by stations, volunteers and wishes.

Codes are the field's own service items (Cixi's stations, Jiaxing's 96345 teams, Ningbo's
micro-wishes), grouped in eight categories. A city may add codes in configuration
(``SERVICE_CODES: {haining: {code: {name, category}}}``); a code unknown to the record's city is
a ``ValidationError`` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ValidationError

CATEGORIES: dict[str, str] = {
    "life_services": "生活服务",
    "repair_maintenance": "维修服务",
    "medical_health": "医疗卫生",
    "community_care": "社会关爱",
    "legal_policy": "法律政策",
    "education_culture": "文化教育",
    "public_safety": "平安守护",
    "environment_tourism": "环境文旅",
}


@dataclass(frozen=True)
class ServiceCode:
    """One service item: its code, Chinese name and category."""

    code: str
    name: str
    category: str


_BASE: list[tuple[str, str, str]] = [
    ("haircut", "理发", "life_services"),
    ("knife_sharpening", "磨菜刀", "life_services"),
    ("key_cutting", "配钥匙", "life_services"),
    ("tailoring", "缝补衣物", "life_services"),
    ("housekeeping", "家政帮扶", "life_services"),
    ("errands", "代办代购", "life_services"),
    ("repair", "家电维修", "repair_maintenance"),
    ("plumbing_electrical", "水电维修", "repair_maintenance"),
    ("painting", "补墙刷漆", "repair_maintenance"),
    ("bicycle_repair", "自行车维修", "repair_maintenance"),
    ("free_clinic", "义诊", "medical_health"),
    ("medical", "医疗护理", "medical_health"),
    ("health_check", "健康检测", "medical_health"),
    ("mental_health", "心理疏导", "medical_health"),
    ("elderly_care", "居家养老", "community_care"),
    ("child_care", "关爱儿童", "community_care"),
    ("disability_support", "助残服务", "community_care"),
    ("social_care", "社会关爱", "community_care"),
    ("charity_sale", "爱心义卖", "community_care"),
    ("legal_aid", "法律援助", "legal_policy"),
    ("policy_talk", "政策宣讲", "legal_policy"),
    ("mediation", "矛盾调解", "legal_policy"),
    ("tutoring", "课业辅导", "education_culture"),
    ("culture_arts", "红色文艺", "education_culture"),
    ("digital_help", "智能手机教学", "education_culture"),
    ("reading", "读书分享", "education_culture"),
    ("patrol", "平安巡防", "public_safety"),
    ("traffic_guide", "文明交通劝导", "public_safety"),
    ("fire_safety", "消防宣传", "public_safety"),
    ("environment", "环境保护", "environment_tourism"),
    ("garbage_sorting", "垃圾分类指导", "environment_tourism"),
    ("tourist_info", "旅游咨询", "environment_tourism"),
]

BASE_CATALOG: dict[str, ServiceCode] = {
    code: ServiceCode(code, name, cat) for code, name, cat in _BASE
}


class Catalog:
    """The base catalog plus each city's own additions."""

    def __init__(self, city_extras: dict[str, dict[str, dict[str, str]]] | None = None) -> None:
        self._extras: dict[str, dict[str, ServiceCode]] = {}
        for city, codes in (city_extras or {}).items():
            self._extras[city] = {}
            for code, info in codes.items():
                category = info.get("category", "")
                if category not in CATEGORIES:
                    raise ValueError(f"SERVICE_CODES.{city}.{code}: unknown category {category!r}")
                self._extras[city][code] = ServiceCode(code, info.get("name", code), category)

    def codes_for(self, city: str) -> dict[str, ServiceCode]:
        """Every code valid in ``city``."""
        return {**BASE_CATALOG, **self._extras.get(city, {})}

    def knows(self, city: str, code: str) -> bool:
        """Whether ``code`` is a service item in ``city``."""
        return code in BASE_CATALOG or code in self._extras.get(city, {})

    def unknown(self, city: str, codes: list[str]) -> list[str]:
        """The codes of ``codes`` that ``city`` does not know, in order."""
        return [c for c in codes if not self.knows(city, c)]

    def require_known(self, city: str, field: str, codes: str | list[str]) -> None:
        """``ValidationError`` naming the field (``station.services.1`` for an item of a list,
        ``post.category`` for one code) unless ``city`` knows every code."""
        items = [(field, codes)] if isinstance(codes, str) else enumerate(codes)
        for where, code in items:
            if not self.knows(city, code):
                name = where if isinstance(codes, str) else f"{field}.{where}"
                raise ValidationError(name, f"unknown service code {code!r}")
