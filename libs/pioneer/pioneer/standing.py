"""A volunteer's standing as every service reads it: the rule "a suspension is over once its
``suspended_until`` has passed", in plain Python (the volunteers service's timer, every
replica's eligibility check and their SQL use this one statement of it)."""

from __future__ import annotations

from datetime import datetime

ACTIVE, SUSPENDED, REMOVED = "active", "suspended", "removed"


def effective_status(status: str, suspended_until: datetime | None, now: datetime) -> str:
    """``suspended`` turns ``active`` once ``suspended_until`` has passed."""
    if status == SUSPENDED and suspended_until is not None and suspended_until <= now:
        return ACTIVE
    return status
