"""An in-memory ``NotifyStore`` for the use-case tests: the same methods over dicts, the same
answers (new rows only, version-guarded replica, claimed attempts only), no database; and what
those tests share (settings, events, a log that keeps its lines)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from notify import usecases
from notify.domain import FAILED, INBOX, PENDING, SENT, Prefs
from notify.settings import NotifySettings
from pioneer import ids
from pioneer.catalog import Catalog
from pioneer.config import validate_settings
from pioneer.db import envelope
from pioneer.event_contract import VolunteerChanged
from pioneer.events import Event, parse_event, read_data
from pioneer.standing import effective_status


def _copy(row: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(**vars(row))


class FakeNotifyStore:
    """``notifications`` by id, ``preferences`` by recipient, the replica and its skill index,
    and ``holds`` by (request, volunteer)."""

    def __init__(self) -> None:
        self.notifications: dict[str, SimpleNamespace] = {}
        self.preferences_by_id: dict[str, SimpleNamespace] = {}
        self.volunteers: dict[str, SimpleNamespace] = {}
        self.skills: dict[str, set[str]] = {}  # volunteer id -> indexed skills
        self.holds: dict[tuple[str, str], SimpleNamespace] = {}

    # --- seeding, for the tests -----------------------------------------------------------------

    def enrol(
        self,
        city: str = "cixi",
        status: str = "active",
        skills: tuple[str, ...] = ("elderly_care",),
        location: dict[str, float] | None = None,
        suspended_until: datetime | None = None,
        version: int = 1,
    ) -> str:
        """A volunteer in the replica and the directory, as the volunteers events leave it."""
        volunteer_id = ids.new_id(city, "vol")
        self.volunteers[volunteer_id] = SimpleNamespace(
            volunteer_id=volunteer_id,
            city=city,
            status=status,
            suspended_until=suspended_until,
            skills=list(skills),
            lat=location["lat"] if location else None,
            lon=location["lon"] if location else None,
            version=version,
        )
        self.reindex([volunteer_id])
        return volunteer_id

    def rows_of(self, recipient_id: str, channel: str | None = None) -> list[SimpleNamespace]:
        """The recipient's notifications (on one channel), in the order they were stored."""
        return [
            n
            for n in self.notifications.values()
            if n.recipient_id == recipient_id and (channel is None or n.channel == channel)
        ]

    # --- notifications --------------------------------------------------------------------------

    def insert_new(self, rows: list[dict[str, Any]]) -> list[Any]:
        taken = {
            (n.source_event_id, n.recipient_id, n.channel) for n in self.notifications.values()
        }
        inserted = []
        for row in rows:
            key = (row["source_event_id"], row["recipient_id"], row["channel"])
            if key in taken:
                continue
            taken.add(key)
            self.notifications[row["id"]] = SimpleNamespace(**row)
            inserted.append(
                SimpleNamespace(
                    id=row["id"],
                    recipient_id=row["recipient_id"],
                    channel=row["channel"],
                    kind=row["kind"],
                )
            )
        return inserted

    def _inbox(self, recipient_id: str) -> list[SimpleNamespace]:
        return sorted(self.rows_of(recipient_id, INBOX), key=lambda n: n.id)

    def inbox_page(self, recipient_id, unread_only, before_id, count) -> list[Any]:
        rows = [
            n
            for n in reversed(self._inbox(recipient_id))
            if (not unread_only or not n.read) and (before_id is None or n.id < before_id)
        ]
        return rows[:count]

    def mark_read(self, recipient_id: str, notification_ids: list[str], at: datetime) -> int:
        marked = 0
        for row in self._inbox(recipient_id):
            if row.id in notification_ids and not row.read:
                row.read, row.read_at, marked = True, at, marked + 1
        return marked

    def unread_count(self, recipient_id: str) -> int:
        return sum(1 for n in self._inbox(recipient_id) if not n.read)

    # --- preferences ----------------------------------------------------------------------------

    def preferences(self, recipient_id: str, for_update: bool = False) -> Any | None:
        return self.preferences_by_id.get(recipient_id)  # one test, one thread: no lock

    def put_preferences(self, values: dict[str, Any]) -> None:
        self.preferences_by_id[values["recipient_id"]] = SimpleNamespace(**values)

    def preferences_of(self, recipient_ids) -> dict[str, Prefs]:
        found = {}
        for recipient_id in recipient_ids:
            row = self.preferences_by_id.get(recipient_id)
            if row is not None:
                found[recipient_id] = Prefs(list(row.channels), row.quiet_start, row.quiet_end)
        return found

    def webhook_targets(self, recipient_ids) -> dict[str, tuple[str | None, str | None]]:
        return {
            r: (self.preferences_by_id[r].webhook_url, self.preferences_by_id[r].webhook_secret)
            for r in set(recipient_ids)
            if r in self.preferences_by_id
        }

    # --- the volunteer directory ----------------------------------------------------------------

    def volunteers_near(self, city, skill, lat, lon, radius_m, now, batch) -> Iterator[list[Any]]:
        # Every indexed volunteer with the skill is a candidate: the use case measures distance.
        rows = []
        for volunteer_id, skills in self.skills.items():
            v = self.volunteers[volunteer_id]
            if v.city != city or skill not in skills:
                continue
            if effective_status(v.status, v.suspended_until, now) != "active":
                continue
            prefs = self.preferences_by_id.get(volunteer_id)
            rows.append(
                SimpleNamespace(
                    volunteer_id=volunteer_id,
                    lat=v.lat,
                    lon=v.lon,
                    channels=prefs.channels if prefs else None,
                    quiet_start=prefs.quiet_start if prefs else None,
                    quiet_end=prefs.quiet_end if prefs else None,
                )
            )
        for start in range(0, len(rows), batch):
            yield rows[start : start + batch]

    def apply_volunteer(self, event: Event) -> bool:
        data = read_data(VolunteerChanged, event)
        held = self.volunteers.get(data.volunteer_id)
        if held is not None and held.version >= data.version:
            return False
        self.volunteers[data.volunteer_id] = SimpleNamespace(
            volunteer_id=data.volunteer_id,
            city=data.city,
            status=data.status,
            suspended_until=data.suspended_until,
            skills=list(data.skills),
            lat=data.location.lat if data.location else None,
            lon=data.location.lon if data.location else None,
            version=data.version,
        )
        return True

    def reindex(self, volunteer_ids: list[str]) -> None:
        for volunteer_id in volunteer_ids:
            self.skills.pop(volunteer_id, None)
            v = self.volunteers.get(volunteer_id)
            if v is not None and v.status != "removed" and v.lat is not None:
                self.skills[volunteer_id] = set(v.skills)

    # --- offers ---------------------------------------------------------------------------------

    def lock_request(self, request_id: str) -> None:
        return None  # one test, one thread

    def offer_holds(self, request_id: str) -> list[Any]:
        return [h for (r, _), h in self.holds.items() if r == request_id]

    def close_offers(self, request_id: str, volunteer_ids: list[str], at: datetime) -> None:
        for volunteer_id in volunteer_ids:
            hold = self.holds.get((request_id, volunteer_id))
            if hold is not None:
                hold.status, hold.updated_at = "closed", at

    def add_offers(self, request_id, volunteer_ids, version, urgency, at) -> None:
        for volunteer_id in volunteer_ids:
            assert (request_id, volunteer_id) not in self.holds, "the primary key"
            self.holds[(request_id, volunteer_id)] = SimpleNamespace(
                volunteer_id=volunteer_id, offered_version=version, status="open", urgency=urgency
            )

    # --- push deliveries ------------------------------------------------------------------------

    def due_deliveries(self, now: datetime, count: int) -> list[str]:
        due = [
            n
            for n in self.notifications.values()
            if n.status == PENDING and n.due_at is not None and n.due_at <= now
        ]
        return [n.id for n in sorted(due, key=lambda n: n.due_at)][:count]

    def claim_deliveries(self, notification_ids, now, lease_until) -> list[Any]:
        claimed = []
        for notification_id in notification_ids:
            row = self.notifications[notification_id]
            if row.status == PENDING and row.due_at <= now:
                row.due_at, row.attempts = lease_until, row.attempts + 1
                claimed.append(_copy(row))  # as RETURNING: the row as claimed
        return claimed

    def _claimed(self, row: Any) -> SimpleNamespace | None:
        stored = self.notifications.get(row.id)
        if stored is not None and stored.status == PENDING and stored.attempts == row.attempts:
            return stored
        return None

    def mark_sent(self, row: Any, at: datetime) -> bool:
        stored = self._claimed(row)
        if stored is None:
            return False
        stored.status, stored.sent_at, stored.due_at, stored.last_error = SENT, at, None, None
        return True

    def retry_later(self, row: Any, due_at: datetime, error: str) -> None:
        stored = self._claimed(row)
        if stored is not None:
            stored.due_at, stored.last_error = due_at, error

    def dead_letter(self, row: Any, error: str) -> bool:
        stored = self._claimed(row)
        if stored is None:
            return False
        stored.status, stored.due_at, stored.last_error = FAILED, None, error
        return True

    def failed_page(self, city: str, after_id: str | None, count: int) -> list[Any]:
        rows = [
            n
            for _, n in sorted(self.notifications.items())
            if n.status == FAILED and n.city == city and (after_id is None or n.id > after_id)
        ]
        return rows[:count]

    def replay(self, city: str, notification_ids: list[str], now: datetime) -> list[str]:
        replayed = []
        for notification_id in sorted(set(notification_ids)):
            row = self.notifications.get(notification_id)
            if row is not None and row.city == city and row.status == FAILED:
                row.status, row.attempts, row.due_at, row.last_error = PENDING, 0, now, None
                replayed.append(notification_id)
        return replayed


# --- what the use-case tests share --------------------------------------------------------------

CATALOG = Catalog()
CITIES = ("cixi", "haining", "jiaxing")
SETTINGS = validate_settings(
    NotifySettings,
    {
        "AMQP_URI": "amqp://guest:guest@localhost:5672/",
        "CITIES": "cixi,haining,jiaxing",
        "DATABASE_URL": "sqlite:///x.db",
        "JWT_SECRET": "x" * 32,
        "DELIVERY_MAX_ATTEMPTS": 3,
        "DELIVERY_BACKOFF_S": 10,
        "DELIVERY_BACKOFF_MAX_S": 15,
    },
    "notify",
)


class Log:
    """Keeps what was logged."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def info(self, event: str, **fields) -> None:
        self.lines.append((event, fields))

    warning = info


def event(event_type: str, city: str, data: dict, event_id: str | None = None) -> Event:
    """An event as a peer publishes it (``event_id`` fixed for a redelivery)."""
    env = envelope(event_type, city, city, data)
    if event_id:
        env["event_id"] = event_id
    return parse_event(env)


def redeem(uow: Any, data: dict) -> int:
    """``points_redeemed`` handled, in the unit of work an event handler opens."""
    with uow:
        return usecases.points_redeemed(uow, event("points_redeemed", data["city"], data), CITIES)
