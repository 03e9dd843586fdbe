"""Stations' use cases on a fake unit of work and store: the rules that need stored records,
what is written, what is emitted, and that a refusal writes nothing. No broker, no database."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from stations_fakes import FakeStationsStore
from stations_testdata import FANGJIAHETOU, station_data

from pioneer import clock, ids
from pioneer.catalog import Catalog
from pioneer.db import envelope
from pioneer.errors import Conflict, NotFound, Suspended, ValidationError, WrongCity
from pioneer.events import parse_event
from pioneer.testing.fakes import FakeUnitOfWork
from pioneer.testing.moments import SATURDAY, WEDNESDAY, iso_from_now, next_local
from stations import usecases
from stations.schemas import ActivityIn, PostIn, StationChanges, StationIn

CATALOG = Catalog()
KEYS, KEY_ID = {"k1": "a-key-of-enough-length-for-hmac"}, "k1"
CITIES = ("cixi", "haining", "jiaxing")


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakeStationsStore(), CITIES)


def a_station(uow, **overrides):
    return usecases.create_station(
        uow, CATALOG, StationIn.model_validate(station_data(**overrides))
    )


def a_post(uow, capacity=2):
    station = a_station(uow)
    post = PostIn.model_validate({"title": "义剪", "category": "haircut", "capacity": capacity})
    return usecases.add_post(uow, CATALOG, station.id, post)


def an_activity(uow, **overrides):
    station = a_station(uow)
    data = {
        "title": "周末义剪",
        "category": "haircut",
        "starts_at": iso_from_now(hours=-1),
        "ends_at": iso_from_now(hours=2),
        "points": 8,
        "capacity": 2,
        **overrides,
    }
    return usecases.create_activity(uow, CATALOG, station.id, ActivityIn.model_validate(data))


def volunteer(uow, status="active", city="cixi"):
    volunteer_id = ids.new_id(city, "vol")
    uow.store.enrol(volunteer_id, status, clock.utcnow() + timedelta(days=30))
    return volunteer_id


def test_a_station_is_created_indexed_and_announced(uow):
    made = a_station(uow)
    assert made.meets_standard and made.id.startswith("cixi-st-")
    assert usecases.get_station(uow, made.id) == made
    [event] = uow.of_type("station_created")
    assert event["data"]["station_id"] == made.id and event["data"]["version"] == 1


def test_an_unknown_service_code_writes_nothing(uow):
    with pytest.raises(ValidationError) as refused:
        a_station(uow, services=["haircut", "juggling"])
    assert refused.value.field == "station.services.1"
    assert uow.store.stations == {} and uow.events == []


def test_an_update_merges_the_standard_and_bumps_the_version(uow):
    made = a_station(uow)
    changes = StationChanges.model_validate({"standard": {"system": False}, "name": "新名"})
    updated = usecases.update_station(uow, CATALOG, made.id, changes)
    assert updated.name == "新名" and not updated.meets_standard and updated.standard.venue
    [event] = uow.of_type("station_updated")
    assert event["data"]["version"] == 2 and event["data"]["name"] == "新名"
    with pytest.raises(NotFound):
        usecases.update_station(uow, CATALOG, ids.new_id("cixi", "st"), changes)


def test_list_and_nearby_filter_by_opening_hours(uow):
    weekend = [{"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "08:00", "end": "17:00"}]
    open_ids = {a_station(uow, opening_hours=weekend).id for _ in range(3)}
    closed = a_station(uow, opening_hours=[])
    moment = datetime.fromisoformat(next_local(SATURDAY, "10:00"))
    found, cursor = [], None
    while True:
        page = usecases.list_stations(uow, "cixi", None, None, moment, 2, cursor)
        found += [s.id for s in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert set(found) == open_ids
    lat, lon = FANGJIAHETOU["lat"], FANGJIAHETOU["lon"]
    nearby = usecases.search_nearby(uow, lat, lon, 1000, None, None, 20)
    assert closed.id in {s.id for s in nearby.items}
    wednesday = datetime.fromisoformat(next_local(WEDNESDAY, "10:00"))
    assert usecases.search_nearby(uow, lat, lon, 1000, None, wednesday, 20).items == []


def test_claims_respect_capacity_once_per_volunteer_and_eligibility(uow):
    post = a_post(uow, capacity=2)
    first, second, third = volunteer(uow), volunteer(uow), volunteer(uow)
    assert usecases.claim_post(uow, post.id, first).claimed == 1
    with pytest.raises(Conflict, match="already holds"):
        usecases.claim_post(uow, post.id, first)
    assert usecases.claim_post(uow, post.id, second).claimed == 2
    with pytest.raises(Conflict, match="full"):
        usecases.claim_post(uow, post.id, third)
    assert (post.id, third) not in uow.store.claims  # the refused claim left nothing behind
    with pytest.raises(Suspended):
        usecases.claim_post(uow, post.id, volunteer(uow, status="suspended"))
    with pytest.raises(NotFound):
        usecases.claim_post(uow, post.id, ids.new_id("cixi", "vol"))
    released = usecases.release_post(uow, post.id, first)
    assert released.claimed == 1 and released.available == 1
    with pytest.raises(Conflict, match="does not hold"):
        usecases.release_post(uow, post.id, first)
    assert [e["data"]["claimed"] for e in uow.of_type("post_claimed")] == [1, 2]
    assert [e["data"]["claimed"] for e in uow.of_type("post_released")] == [1]


def test_a_replica_station_takes_no_posts(uow):
    foreign = ids.new_id("ningbo", "st")
    usecases.replicate_station(uow, _station_event(foreign, version=1))
    post = PostIn.model_validate({"title": "x", "category": "haircut", "capacity": 1})
    with pytest.raises(WrongCity):
        usecases.add_post(uow, CATALOG, foreign, post)
    with pytest.raises(WrongCity):
        usecases.list_posts(uow, foreign, 10, None)


def test_replicas_apply_only_newer_versions(uow):
    foreign = ids.new_id("ningbo", "st")
    usecases.replicate_station(uow, _station_event(foreign, version=3, name="newer"))
    usecases.replicate_station(uow, _station_event(foreign, version=2, name="older"))
    assert usecases.get_station(uow, foreign).name == "newer"


def _station_event(station_id, version, name="宁波驿站"):
    data = {
        "station_id": station_id,
        "city": "ningbo",
        "name": name,
        "district": "海曙区",
        "address": "x",
        "location": FANGJIAHETOU,
        "kind": "market",
        "services": ["haircut"],
        "opening_hours": [],
        "standard": dict.fromkeys(["venue", "identity", "team", "projects", "system"], True),
        "meets_standard": True,
        "version": version,
    }
    return parse_event(envelope("station_updated", "ningbo", "ningbo", data))


def test_check_in_with_a_genuine_code_once_while_there_is_room(uow):
    activity = an_activity(uow, capacity=2)
    code = usecases.issue_checkin_code(uow, KEYS, KEY_ID, activity.id, 30).code
    first, second, third = volunteer(uow), volunteer(uow, city="haining"), volunteer(uow)
    checked = usecases.check_in(uow, KEYS, CITIES, code, first)
    assert checked.points == 8 and checked.hours == 3.0
    with pytest.raises(Conflict, match="already checked in"):
        usecases.check_in(uow, KEYS, CITIES, code, first)
    usecases.check_in(uow, KEYS, CITIES, code, second)  # a volunteer of another city
    with pytest.raises(Conflict, match="full"):
        usecases.check_in(uow, KEYS, CITIES, code, third)
    assert (activity.id, third) not in uow.store.checkins
    [_, second_event] = uow.of_type("volunteer_checked_in")
    assert second_event["data"]["volunteer_city"] == "haining"
    forged = code[:-2] + ("AA" if not code.endswith("AA") else "BB")
    with pytest.raises(ValidationError, match="signature"):
        usecases.check_in(uow, KEYS, CITIES, forged, third)
    with pytest.raises(WrongCity):
        usecases.check_in(uow, KEYS, ("haining",), code, third)


def test_no_code_for_an_activity_that_has_ended(uow):
    ended = an_activity(uow, starts_at=iso_from_now(hours=-3), ends_at=iso_from_now(hours=-1))
    with pytest.raises(Conflict, match="ended"):
        usecases.issue_checkin_code(uow, KEYS, KEY_ID, ended.id, 30)
    with pytest.raises(NotFound):
        usecases.issue_checkin_code(uow, KEYS, KEY_ID, ids.new_id("cixi", "act"), 30)
