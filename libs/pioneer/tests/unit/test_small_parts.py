import uuid

import pytest
from pydantic import BaseModel

from pioneer import db, ids, logs
from pioneer.catalog import Catalog
from pioneer.errors import ValidationError
from pioneer.events import parse_event
from pioneer.paging import decode_cursor, encode_cursor
from pioneer.schemas import Input, Location, Name, RecurringWindow, Timestamp, validate
from pioneer.testing.moments import iso_from_now


def test_ids_carry_city_and_sort_by_time():
    first, second = ids.new_id("cixi", "st"), ids.new_id("cixi", "st")
    assert ids.is_valid(first) and ids.city_of(first) == "cixi" and ids.kind_of(first) == "st"
    assert first != second
    assert ids.ulid(1000) < ids.ulid(2000)
    assert not ids.is_valid("cixi-st-'; drop")


def test_event_ids_are_uuid7_in_time_order():
    made = [ids.event_uuid() for _ in range(1000)]
    assert len(set(made)) == 1000
    parsed = uuid.UUID(made[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == made[0]
    assert ids.event_uuid(1000) < ids.event_uuid(2000) < ids.event_uuid(2**48 - 1)
    assert parse_event(db.envelope("thing_made", "cixi", "cixi", {})).event_id


def test_cursor_round_trip_and_garbage():
    assert decode_cursor(encode_cursor(["a", 3]), 2) == ["a", 3]
    for garbage in ("!!!", "e30", encode_cursor(["a"]), encode_cursor([{"x": 1}, 2])):
        with pytest.raises(ValidationError, match=r"^cursor"):
            decode_cursor(garbage, 2)


def test_phones_are_masked_everywhere_in_logs():
    assert logs.mask_phone("13812345678") == "138****5678"
    assert logs.mask_text("call 13812345678 or 15900001111") == "call 138****5678 or 159****1111"
    event = logs._mask_processor(
        None,
        None,
        {
            "event": "x",
            "phone": "13812345678",
            "address": "Room 1",
            "nested": {"beneficiary": {"name": "Li"}, "note": "13812345678"},
        },
    )
    assert event["phone"] == "138****5678" and event["address"] == "***"
    assert event["nested"] == {"beneficiary": "***", "note": "138****5678"}


def test_schema_errors_name_the_field():
    class Station(Input):
        name: Name
        location: Location
        opening_hours: list[RecurringWindow]
        at: Timestamp

    good = {
        "name": "x",
        "location": {"lat": 30, "lon": 121},
        "opening_hours": [],
        "at": iso_from_now(),
    }
    assert validate(Station, good).location.lat == 30.0
    for bad, field in [
        ({**good, "location": {"lat": 91, "lon": 0}}, "location.lat"),
        ({**good, "location": {"lat": "30", "lon": 0}}, "location.lat"),
        (
            {**good, "opening_hours": [{"rrule": "FREQ=HOURLY", "start": "09:00", "end": "10:00"}]},
            "opening_hours.0.rrule",
        ),
        (
            {**good, "opening_hours": [{"rrule": "FREQ=DAILY", "start": "25:00", "end": "10:00"}]},
            "opening_hours.0.start",
        ),
        ({**good, "at": iso_from_now()[:19]}, "at"),  # the moment without its offset
        ({**good, "at": 1700000000}, "at"),
        ({**good, "name": "a\x00b"}, "name"),
        ({**good, "extra": 1}, "extra"),
    ]:
        with pytest.raises(ValidationError) as excinfo:
            validate(Station, bad)
        assert excinfo.value.field == field


def test_catalog_is_extendable_per_city():
    catalog = Catalog(
        {"haining": {"building_steward": {"name": "楼道长", "category": "community_care"}}}
    )
    assert catalog.knows("cixi", "haircut") and catalog.knows("haining", "building_steward")
    assert not catalog.knows("cixi", "building_steward")
    assert catalog.unknown("cixi", ["haircut", "juggling"]) == ["juggling"]
    with pytest.raises(ValueError):
        Catalog({"cixi": {"x": {"name": "x", "category": "nope"}}})


def test_results_are_json():
    from pioneer.entrypoints import _jsonable

    class Out(BaseModel):
        n: int

    assert _jsonable({"items": [Out(n=1)], "next": None}) == {"items": [{"n": 1}], "next": None}


def test_a_past_suspension_counts_as_over_in_python_and_in_sql():
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from pioneer import replica

    now = datetime(2026, 11, 25, tzinfo=UTC)  # effective_status takes now as an argument
    cases = {
        "active": ("active", None),
        "served": ("suspended", now - timedelta(seconds=1)),
        "serving": ("suspended", now + timedelta(days=1)),
        "indefinite": ("suspended", None),
        "removed": ("removed", None),
    }
    assert {
        name: replica.effective_status(status, until, now)
        for name, (status, until) in cases.items()
    } == {
        "active": "active",
        "served": "active",
        "serving": "suspended",
        "indefinite": "suspended",
        "removed": "removed",
    }
    engine = sa.create_engine("sqlite://")
    replica.replica_metadata.create_all(engine)
    with engine.begin() as conn:
        for name, (status, until) in cases.items():
            conn.execute(
                sa.insert(replica.volunteer_replica).values(
                    volunteer_id=name,
                    city="cixi",
                    status=status,
                    suspended_until=until,
                    skills=[],
                    version=1,
                    updated_at=now,
                )
            )
        eligible = conn.scalars(
            sa.select(replica.volunteer_replica.c.volunteer_id).where(replica.eligible_at(now))
        ).all()
    assert sorted(eligible) == ["active", "served"]


def test_one_backoff_schedule_doubles_to_its_cap():
    from pioneer.backoff import backoff_s

    assert [backoff_s(n) for n in (0, 1, 2, 3, 10)] == [1.0, 1.0, 2.0, 4.0, 300.0]
    assert backoff_s(2, base_s=0.5, cap_s=30) == 1.0 and backoff_s(10**6, 0.5, 30) == 30.0


def test_phones_however_written_and_identity_cards_are_masked():
    for written in ("+86 138-1234-5678", "0086 13812345678", "138 1234 5678", "138.1234.5678"):
        assert logs.mask_text(f"call {written} now") == "call 138****5678 now", written
    assert logs.mask_text("id 330481199001011234.") == "id 330481********1234."
    assert logs.mask_text("id 33048119900101123X") == "id 330481********123X"
    # Numbers that are neither keep their digits: an order number, a millisecond timestamp.
    for number in ("123456789012345678901", "1733040000123", "20261201"):
        assert logs.mask_text(number) == number


def test_deployment_directories_are_their_owners_alone(tmp_path, monkeypatch):
    import stat

    from pioneer import launcher

    monkeypatch.setenv("PIONEER_VAR", str(tmp_path / "var"))
    made = launcher.private_dir(tmp_path / "var" / "shared" / "log")
    for directory in (tmp_path / "var", made):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_one_process_per_sqlite_file(tmp_path):
    from pioneer.db import DatabaseTaken, hold_sqlite_file

    url = f"sqlite:///{tmp_path}/stations.db"
    first = hold_sqlite_file(url)
    with pytest.raises(DatabaseTaken, match=r"another process already serves .*stations\.db"):
        hold_sqlite_file(url)
    first.close()
    hold_sqlite_file(url).close()  # free again once the first lets go
    assert hold_sqlite_file("postgresql://x@127.0.0.1/x") is None
