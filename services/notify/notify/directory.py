"""Notify's volunteer directory: the kernel's replica (fed by volunteers' events, version-guarded)
plus ``directory_skills``, one row per skill of each located volunteer with its geocell, kept in
the same transaction as every replica change.

"Eligible volunteers of this city with this skill within the circle" is then a few index range
scans on ``(city, skill, geocell)``, a primary-key join to the replica for the status and the
recipient's preferences, and an exact distance check in Python.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, union_all

from pioneer import geo
from pioneer.replica import eligible_at, rebuild_skill_index, volunteer_replica

from . import domain
from .models import DirectorySkill, Preferences
from .store import Prefs

skills_t = DirectorySkill.__table__
replica_t = volunteer_replica
preferences_t = Preferences.__table__


def rebuild(session: Any, volunteer_ids: list[str]) -> None:
    """Make ``directory_skills`` say what the replica now holds about ``volunteer_ids``."""
    rebuild_skill_index(session, skills_t, volunteer_ids)


def nearby_with_skill(
    session: Any, city: str, skill: str, lat: float, lon: float, radius_m: float, now: datetime
) -> tuple[list[tuple[str, float]], dict[str, Prefs]]:
    """Eligible volunteers of ``city`` with ``skill`` within ``radius_m`` of the point, with
    their distance, and the stored preferences of those that have any."""
    cell = skills_t.c.geocell
    # One index range seek per covering cell on (city, skill, geocell), not a scan of every
    # volunteer of the city with the skill.
    parts = [
        select(skills_t.c.volunteer_id, skills_t.c.lat, skills_t.c.lon).where(
            skills_t.c.city == city, skills_t.c.skill == skill, cell >= lo, cell < hi
        )
        for lo, hi in geo.covering_ranges(lat, lon, radius_m)
    ]
    near = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("near")
    eligible = eligible_at(now)
    query = (
        select(
            near.c.volunteer_id,
            near.c.lat,
            near.c.lon,
            preferences_t.c.channels,
            preferences_t.c.quiet_start,
            preferences_t.c.quiet_end,
        )
        .join(replica_t, replica_t.c.volunteer_id == near.c.volunteer_id)
        .outerjoin(preferences_t, preferences_t.c.recipient_id == near.c.volunteer_id)
        .where(eligible)
    )
    rows = session.execute(query).all()
    chosen = domain.within_circle(
        ((r.volunteer_id, r.lat, r.lon) for r in rows), lat, lon, radius_m
    )
    prefs = {
        r.volunteer_id: Prefs(list(r.channels or []), r.quiet_start, r.quiet_end)
        for r in rows
        if r.channels is not None
    }
    return chosen, prefs
