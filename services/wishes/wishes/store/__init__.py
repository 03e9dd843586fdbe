"""The wishes database as the use cases need it: every SQL statement of the service lives in
this package, one module per sub-domain (wishes, requests and their dispatch, complaints).

A ``WishesStore`` is built over a unit of work's session (writes) or a read connection
(``uow.reading()``); both execute the same Core statements. Rows come back as SQLAlchemy rows
(attribute access); writes take plain values. Status changes are conditional updates whose
``WHERE`` is built from the domain's transition tables, so the database applies the rule the
domain declares and its tests check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pioneer.replica import VolunteerState, require_eligible

from .complaints import ComplaintRecords
from .requests import RequestRecords
from .wishes import WishRecords


class WishesStore(WishRecords, RequestRecords, ComplaintRecords):
    """Wishes, service requests with their offers and dispatch index, complaints on their way
    to volunteers, and the volunteer replica's eligibility check."""

    def __init__(self, db: Any) -> None:
        self.db = db  # a Session (unit of work) or a Connection (reads)

    def eligible_volunteer(self, volunteer_id: str, now: datetime) -> VolunteerState:
        """The volunteer if known and neither suspended nor removed (``NotFound``/``Suspended``)."""
        return require_eligible(self.db, volunteer_id, now)


__all__ = ["WishesStore"]
