"""``StationsStore`` in memory, for the use-case tests (``tests/unit/test_usecases.py``).

It keeps the same rows as the real store, as ``SimpleNamespace`` objects, and answers the same
questions; the rules the real store leaves to the database (a volunteer holds a post once,
capacity) are kept the same way here.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pioneer.replica import VolunteerState, eligible


class FakeStationsStore:
    def __init__(self) -> None:
        self.stations: dict[str, SimpleNamespace] = {}
        self.posts: dict[str, SimpleNamespace] = {}
        self.claims: dict[tuple[str, str], str] = {}  # (post, volunteer) -> volunteer's city
        self.activities: dict[str, SimpleNamespace] = {}
        self.checkins: dict[tuple[str, str], dict[str, Any]] = {}
        self.volunteers: dict[str, VolunteerState] = {}

    def enrol(self, volunteer_id: str, status: str = "active", until: datetime | None = None):
        """Put a volunteer in the replica, as volunteers' events would."""
        city = volunteer_id.split("-", 1)[0]
        self.volunteers[volunteer_id] = VolunteerState(volunteer_id, city, status, until, [])

    # stations
    def station(self, station_id: str, for_update: bool = False) -> Any | None:
        return self.stations.get(station_id)

    def stations_among(self, station_ids: list[str]) -> dict[str, Any]:
        return {i: self.stations[i] for i in station_ids if i in self.stations}

    def add_station(self, values: dict[str, Any]) -> None:
        self.stations[values["id"]] = SimpleNamespace(**values)

    def change_station(self, station_id: str, values: dict[str, Any], reindex: bool) -> None:
        vars(self.stations[station_id]).update(values)

    def station_page(self, city, district, service, after_id, count) -> list[Any]:
        rows = [
            s
            for _, s in sorted(self.stations.items())
            if (city is None or s.city == city)
            and (district is None or s.district == district)
            and (service is None or service in s.services)
            and (after_id is None or s.id > after_id)
        ]
        return rows[:count]

    def stations_in_cells(self, ranges, service, with_hours) -> list[Any]:
        # Every station is a candidate: ranking measures the distance exactly.
        return [s for s in self.stations.values() if service is None or service in s.services]

    def replica_version(self, station_id: str) -> int | None:
        row = self.stations.get(station_id)
        return None if row is None else row.version

    def put_replica(self, values: dict[str, Any], exists: bool) -> None:
        if exists:
            self.change_station(values["id"], values, reindex=True)
        else:
            self.add_station(values)

    # posts
    def post(self, post_id: str) -> Any | None:
        return self.posts.get(post_id)

    def add_post(self, values: dict[str, Any]) -> None:
        self.posts[values["id"]] = SimpleNamespace(**values)

    def posts_page(self, station_id: str, after_id: str | None, count: int) -> list[Any]:
        rows = [
            p
            for _, p in sorted(self.posts.items())
            if p.station_id == station_id and (after_id is None or p.id > after_id)
        ]
        return rows[:count]

    def add_claim(self, post_id: str, volunteer_id: str, city: str, at: datetime) -> bool:
        if (post_id, volunteer_id) in self.claims:
            return False
        self.claims[(post_id, volunteer_id)] = city
        return True

    def take_place(self, post_id: str) -> int | None:
        post = self.posts[post_id]
        if post.claimed >= post.capacity:
            return None
        post.claimed += 1
        return post.claimed

    def remove_claim(self, post_id: str, volunteer_id: str) -> str | None:
        return self.claims.pop((post_id, volunteer_id), None)

    def give_place_back(self, post_id: str) -> int:
        self.posts[post_id].claimed -= 1
        return self.posts[post_id].claimed

    # activities
    def activity(self, activity_id: str) -> Any | None:
        return self.activities.get(activity_id)

    def add_activity(self, values: dict[str, Any]) -> None:
        self.activities[values["id"]] = SimpleNamespace(**values)

    def add_checkin(self, values: dict[str, Any]) -> bool:
        key = (values["activity_id"], values["volunteer_id"])
        if key in self.checkins:
            return False
        self.checkins[key] = values
        return True

    def take_seat(self, activity_id: str) -> bool:
        activity = self.activities[activity_id]
        if activity.checked_in >= activity.capacity:
            return False
        activity.checked_in += 1
        return True

    # the volunteer replica
    def eligible_volunteer(self, volunteer_id: str, now: datetime) -> VolunteerState:
        return eligible(self.volunteers.get(volunteer_id), volunteer_id, now)
