"""The statements about complaints on their way to the volunteers service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from pioneer.db import row_of

from .. import domain
from ..models import ComplaintDelivery

complaints_t = ComplaintDelivery.__table__
_PENDING = complaints_t.c.status == domain.COMPLAINT_PENDING


class ComplaintRecords:
    """Complaints kept here until volunteers has recorded them."""

    db: Any

    def add_complaint(self, values: dict[str, Any]) -> Any:
        """Keep a complaint; the row as written."""
        self.db.execute(insert(complaints_t).values(**values))
        return row_of(values, complaints_t)

    def complaints_due(self, now: datetime, count: int) -> list[Any]:
        """Up to ``count`` pending complaints whose next attempt is due, the longest waiting
        first."""
        query = (
            select(complaints_t)
            .where(_PENDING, complaints_t.c.next_attempt_at <= now)
            .order_by(complaints_t.c.next_attempt_at)
            .limit(count)
        )
        return self.db.execute(query).all()

    def claim_complaints(
        self, complaint_ids: list[str], now: datetime, lease_until: datetime
    ) -> list[Any]:
        """Claim those still pending and due: their next attempt moves to the lease's end, so
        another replica's timer leaves them alone while this one delivers them (a crash only
        delays the retry). The claimed rows."""
        return self.db.execute(
            update(complaints_t)
            .where(
                complaints_t.c.complaint_id.in_(complaint_ids),
                _PENDING,
                complaints_t.c.next_attempt_at <= now,
            )
            .values(next_attempt_at=lease_until)
            .returning(*complaints_t.c)
        ).all()

    def complaint_delivered(self, complaint_id: str, now: datetime) -> None:
        """Volunteers has recorded it (a complaint delivered already stays as it was)."""
        self.db.execute(
            update(complaints_t)
            .where(complaints_t.c.complaint_id == complaint_id, _PENDING)
            .values(
                status=domain.COMPLAINT_DELIVERED,
                attempts=complaints_t.c.attempts + 1,
                delivered_at=now,
                last_error=None,
            )
        )

    def complaint_failed(
        self, complaint_id: str, attempts: int, next_attempt_at: datetime, error: str
    ) -> None:
        """An attempt failed: count it, say why, and when to try again."""
        self.db.execute(
            update(complaints_t)
            .where(complaints_t.c.complaint_id == complaint_id, _PENDING)
            .values(attempts=attempts, next_attempt_at=next_attempt_at, last_error=error)
        )
