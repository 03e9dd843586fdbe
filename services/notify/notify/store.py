"""The notify database, as the use cases need it: every statement of the service lives here.

A ``NotifyStore`` is built over a unit of work's session (writes) or a read connection
(``uow.reading()``); both execute the same Core statements. Rows come back as SQLAlchemy rows
(attribute access); writes take plain values. The statements on hot paths are built once.

- notifications: one row per (source event, recipient, channel), inserted in bulk with
  ``ON CONFLICT DO NOTHING`` on that unique key, so a repeated event adds nothing; the inbox
  reads, the read state, and push deliveries (due, claimed under a lease, sent, retried,
  dead-lettered, replayed);
- preferences (with each webhook recipient's signing secret);
- the volunteer directory: the kernel's replica (version-guarded) and its per-skill geo index
  (``pioneer.replica_skills``), rebuilt in the same transaction as every replica change, so
  "eligible volunteers of this city with this skill within the circle" is a few index range
  seeks;
- the offers notify told volunteers of (``offer_holds``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, false, func, select, text, update
from sqlalchemy.orm import Session

from pioneer import bulk, replica_skills
from pioneer.db import conflict_insert
from pioneer.events import Event
from pioneer.replica import apply_newer, eligible_at, volunteer_replica

from .domain import FAILED, INBOX, PENDING, SENT, Prefs
from .models import Notification, OfferHold, Preferences

notifications_t = Notification.__table__
preferences_t = Preferences.__table__
holds_t = OfferHold.__table__
replica_t = volunteer_replica
LOOKUP_CHUNK = 500

_INBOX_COLUMNS = [
    notifications_t.c.id,
    notifications_t.c.recipient_id,
    notifications_t.c.kind,
    notifications_t.c.subject_id,
    notifications_t.c.title,
    notifications_t.c.body,
    notifications_t.c.channel,
    notifications_t.c.created_at,
    notifications_t.c.read,
]
_UNREAD = notifications_t.c.read == false()
# Built once: the reads of every preferences call and every volunteer event.
_PREFERENCES_OF = select(preferences_t).where(
    preferences_t.c.recipient_id == bindparam("recipient_id")
)


@functools.cache
def _nearby_query(cells: int) -> Any:
    """Located volunteers of ``city`` with ``skill`` in ``cells`` geocell ranges, eligible at
    ``now``, with their stored preferences (if any); built once per number of ranges."""
    near = replica_skills.near(cells, in_city=True)
    return (
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
        .where(eligible_at(bindparam("now", type_=replica_t.c.suspended_until.type)))
    )


def _own_inbox(recipient_id: str) -> tuple[Any, ...]:
    return (notifications_t.c.recipient_id == recipient_id, notifications_t.c.channel == INBOX)


class NotifyStore:
    """Notifications and deliveries, preferences, the volunteer directory and offer holds."""

    def __init__(self, db: Any) -> None:
        self.db = db  # a Session (unit of work) or a Connection (reads)

    # --- notifications --------------------------------------------------------------------------

    def insert_new(self, rows: list[dict[str, Any]]) -> list[Any]:
        """Insert the rows whose (source event, recipient, channel) is new; the inserted ones'
        ``(id, recipient_id, channel, kind)``. Duplicates are skipped by the database; a
        fan-out's thousands go through a COPY (``bulk.insert_new``)."""
        return bulk.insert_new(
            self.db,
            notifications_t,
            rows,
            unique=("source_event_id", "recipient_id", "channel"),
            returning=(
                notifications_t.c.id,
                notifications_t.c.recipient_id,
                notifications_t.c.channel,
                notifications_t.c.kind,
            ),
        )

    def inbox_page(
        self, recipient_id: str, unread_only: bool, before_id: str | None, count: int
    ) -> list[Any]:
        """Up to ``count`` inbox rows of the recipient before ``before_id``, newest first."""
        query = select(*_INBOX_COLUMNS).where(*_own_inbox(recipient_id))
        if unread_only:
            query = query.where(_UNREAD)
        if before_id:
            query = query.where(notifications_t.c.id < before_id)
        query = query.order_by(notifications_t.c.id.desc()).limit(count)
        return self.db.execute(query).all()

    def mark_read(self, recipient_id: str, notification_ids: list[str], at: datetime) -> int:
        """Mark the recipient's unread inbox rows among ``notification_ids`` read; how many.
        One conditional update: concurrent marks count each notification once."""
        return self.db.execute(
            update(notifications_t)
            .where(
                *_own_inbox(recipient_id),
                _UNREAD,
                notifications_t.c.id.in_(sorted(set(notification_ids))),
            )
            .values(read=True, read_at=at)
        ).rowcount

    def unread_count(self, recipient_id: str) -> int:
        """How many of the recipient's inbox rows are unread."""
        return self.db.execute(
            select(func.count()).where(*_own_inbox(recipient_id), _UNREAD)
        ).scalar_one()

    # --- preferences ----------------------------------------------------------------------------

    def preferences(self, recipient_id: str, for_update: bool = False) -> Any | None:
        """The recipient's stored preferences row, if any; ``for_update`` locks it (PostgreSQL)
        until the transaction ends, so two changes decide its secret one after the other."""
        query = _PREFERENCES_OF.with_for_update() if for_update else _PREFERENCES_OF
        return self.db.execute(query, {"recipient_id": recipient_id}).first()

    def put_preferences(self, values: dict[str, Any]) -> None:
        """Insert or replace a recipient's preferences (one upsert: concurrent first writes
        leave one row, the last one's)."""
        statement = conflict_insert(self.db, preferences_t).values(**values)
        self.db.execute(
            statement.on_conflict_do_update(
                index_elements=[preferences_t.c.recipient_id],
                set_={k: statement.excluded[k] for k in values if k != "recipient_id"},
            )
        )

    def preferences_of(self, recipient_ids: Iterable[str]) -> dict[str, Prefs]:
        """What decides the deliveries of these recipients, for those that stored preferences
        (primary-key lookups, in chunks)."""
        wanted = list(dict.fromkeys(recipient_ids))
        found: dict[str, Prefs] = {}
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            for row in self.db.execute(
                select(
                    preferences_t.c.recipient_id,
                    preferences_t.c.channels,
                    preferences_t.c.quiet_start,
                    preferences_t.c.quiet_end,
                ).where(preferences_t.c.recipient_id.in_(chunk))
            ):
                found[row.recipient_id] = Prefs(
                    list(row.channels or []), row.quiet_start, row.quiet_end
                )
        return found

    def webhook_targets(
        self, recipient_ids: Iterable[str]
    ) -> dict[str, tuple[str | None, str | None]]:
        """``(webhook_url, webhook_secret)`` each of these recipients configured."""
        wanted = sorted(set(recipient_ids))
        if not wanted:
            return {}
        rows = self.db.execute(
            select(
                preferences_t.c.recipient_id,
                preferences_t.c.webhook_url,
                preferences_t.c.webhook_secret,
            ).where(preferences_t.c.recipient_id.in_(wanted))
        )
        return {row.recipient_id: (row.webhook_url, row.webhook_secret) for row in rows}

    # --- the volunteer directory ----------------------------------------------------------------

    def volunteers_near(
        self, city: str, skill: str, lat: float, lon: float, radius_m: float, now: datetime
    ) -> list[Any]:
        """``(volunteer_id, lat, lon, channels, quiet_start, quiet_end)`` of the eligible
        volunteers of ``city`` with ``skill`` in the geocells covering the circle (the exact
        distance is the caller's); the preference columns are null for those without any."""
        cells, values = replica_skills.circle(skill, lat, lon, radius_m, city)
        return self.db.execute(_nearby_query(cells), {**values, "now": now}).all()

    def apply_volunteer(self, event: Event) -> bool:
        """Fold a volunteers event into the replica if it is newer than what is held; whether
        it was. The held version is read locked (PostgreSQL), so two events of one volunteer
        handled at once on their separate queues decide "newer" one after the other."""
        return apply_newer(self.db, event)[1]

    def reindex(self, volunteer_ids: list[str]) -> None:
        """Make the skill index say what the replica now holds about ``volunteer_ids``."""
        replica_skills.rebuild(self.db, volunteer_ids)

    # --- offers ---------------------------------------------------------------------------------

    def lock_request(self, request_id: str) -> None:
        """Decide one request's events one after another (SQLite writers already are): two
        dispatches handled at once must both see the offers the other made."""
        bind = self.db.get_bind() if isinstance(self.db, Session) else self.db
        if bind.dialect.name == "postgresql":
            self.db.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:request_id))"),
                {"request_id": request_id},
            )

    def offer_holds(self, request_id: str) -> list[Any]:
        """``(volunteer_id, offered_version, status)`` of every offer held for the request."""
        return self.db.execute(
            select(holds_t.c.volunteer_id, holds_t.c.offered_version, holds_t.c.status).where(
                holds_t.c.request_id == request_id
            )
        ).all()

    def close_offers(self, request_id: str, volunteer_ids: list[str], at: datetime) -> None:
        """End the offers of ``volunteer_ids`` for the request."""
        self.db.execute(
            update(holds_t)
            .where(holds_t.c.request_id == request_id, holds_t.c.volunteer_id.in_(volunteer_ids))
            .values(status="closed", updated_at=at)
        )

    def add_offers(
        self, request_id: str, volunteer_ids: list[str], version: int, urgency: str, at: datetime
    ) -> None:
        """Hold new open offers of the request (of its ``version``) to ``volunteer_ids``."""
        self.db.execute(
            holds_t.insert(),
            [
                {
                    "request_id": request_id,
                    "volunteer_id": volunteer_id,
                    "offered_version": version,
                    "status": "open",
                    "urgency": urgency[:16],
                    "updated_at": at,
                }
                for volunteer_id in volunteer_ids
            ],
        )

    # --- push deliveries ------------------------------------------------------------------------

    def due_deliveries(self, now: datetime, count: int) -> list[str]:
        """The ids of up to ``count`` pending push deliveries due by ``now``, in due order."""
        return (
            self.db.execute(
                select(notifications_t.c.id)
                .where(notifications_t.c.status == PENDING, notifications_t.c.due_at <= now)
                .order_by(notifications_t.c.due_at)
                .limit(count)
            )
            .scalars()
            .all()
        )

    def claim_deliveries(
        self, notification_ids: list[str], now: datetime, lease_until: datetime
    ) -> list[Any]:
        """Claim those still pending and due: their ``due_at`` moves to the lease's end and the
        attempt is counted, so another sender (a replica's timer) sees them as not due until
        then and a crash mid-send only delays the retry. The claimed rows, whole."""
        return self.db.execute(
            update(notifications_t)
            .where(
                notifications_t.c.id.in_(notification_ids),
                notifications_t.c.status == PENDING,
                notifications_t.c.due_at <= now,
            )
            .values(due_at=lease_until, attempts=notifications_t.c.attempts + 1)
            .returning(*notifications_t.c)
        ).all()

    def _claimed(self, row: Any) -> tuple[Any, ...]:
        # Only the attempt this sender claimed: a replay meanwhile starts afresh.
        return (
            notifications_t.c.id == row.id,
            notifications_t.c.status == PENDING,
            notifications_t.c.attempts == row.attempts,
        )

    def mark_sent(self, row: Any, at: datetime) -> bool:
        """Record the claimed attempt ``row`` as sent; False if it is no longer this sender's."""
        return bool(
            self.db.execute(
                update(notifications_t)
                .where(*self._claimed(row))
                .values(status=SENT, sent_at=at, due_at=None, last_error=None)
            ).rowcount
        )

    def retry_later(self, row: Any, due_at: datetime, error: str) -> None:
        """Make the claimed attempt ``row`` due again at ``due_at``, with its error."""
        self.db.execute(
            update(notifications_t)
            .where(*self._claimed(row))
            .values(due_at=due_at, last_error=error)
        )

    def dead_letter(self, row: Any, error: str) -> bool:
        """Mark the claimed attempt ``row`` failed; False if it is no longer this sender's."""
        return bool(
            self.db.execute(
                update(notifications_t)
                .where(*self._claimed(row))
                .values(status=FAILED, due_at=None, last_error=error)
            ).rowcount
        )

    def failed_page(self, city: str, after_id: str | None, count: int) -> list[Any]:
        """Up to ``count`` dead-lettered deliveries of ``city`` after ``after_id``, in id order."""
        query = select(notifications_t).where(
            notifications_t.c.status == FAILED, notifications_t.c.city == city
        )
        if after_id:
            query = query.where(notifications_t.c.id > after_id)
        return self.db.execute(query.order_by(notifications_t.c.id).limit(count)).all()

    def replay(self, city: str, notification_ids: list[str], now: datetime) -> list[str]:
        """Make the dead-lettered deliveries of ``city`` among ``notification_ids`` pending from
        the first attempt, due now; their ids."""
        return (
            self.db.execute(
                update(notifications_t)
                .where(
                    notifications_t.c.id.in_(sorted(set(notification_ids))),
                    notifications_t.c.city == city,
                    notifications_t.c.status == FAILED,
                )
                .values(status=PENDING, attempts=0, due_at=now, last_error=None)
                .returning(notifications_t.c.id)
            )
            .scalars()
            .all()
        )
