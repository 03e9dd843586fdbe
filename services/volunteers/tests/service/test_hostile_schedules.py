"""Availability rules no evaluation could bound: refused at the edge naming the field (register,
a volunteer's own update, the spreadsheet importer), and never available (and quick) when one
is already stored. After each, volunteers still answers ``ping`` within a second."""

from __future__ import annotations

import csv
import json

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import insert, select, text
from volunteers_testdata import LONGSHAN, WEEKENDS, volunteer_data, write_volunteers_csv

from pioneer import cli, clock, ids
from pioneer.db import make_engine, migrate
from pioneer.testing.garbage import (
    HOSTILE_RRULES,
    HOSTILE_WINDOWS,
    NEVER_OCCURRING_RRULES,
    STORED_GARBAGE,
    answers_ping_within,
)
from pioneer.testing.moments import SATURDAY, next_local
from volunteers.models import Volunteer
from volunteers.service import VolunteersService


def refusal(call, *args, **kwargs) -> str:
    with pytest.raises(RemoteError) as refused:
        call(*args, **kwargs)
    assert refused.value.exc_type == "ValidationError"
    return str(refused.value.value)


def test_hostile_availability_is_refused_at_the_edge(volunteers, admin, rpc, token, count_rows):
    me = admin.call("volunteers", "register", volunteer_data())
    own = rpc(token("volunteer", "cixi", sub=me["id"]))
    for window in HOSTILE_WINDOWS:
        availability = [*WEEKENDS, window]
        message = refusal(
            admin.call, "volunteers", "register", volunteer_data(availability=availability)
        )
        assert message.startswith("volunteer.availability.1.rrule:"), message
        message = refusal(
            own.call, "volunteers", "update_volunteer", me["id"], {"availability": availability}
        )
        assert message.startswith("changes.availability.1.rrule:"), message
        answers_ping_within(own, "volunteers")
    assert count_rows("volunteers") == 1  # nothing half-written
    assert own.call("volunteers", "get_volunteer", me["id"])["availability"] == WEEKENDS


def test_availability_stored_earlier_is_never_open_and_costs_nothing(volunteers, admin, database):
    saturday = next_local(SATURDAY, "10:00")
    good = admin.call("volunteers", "register", volunteer_data())
    spoiled = [admin.call("volunteers", "register", volunteer_data()) for _ in range(3)]
    with database.begin() as conn:
        for row in spoiled:
            conn.execute(
                text("UPDATE volunteers SET availability = :hours WHERE id = :id").bindparams(
                    hours=json.dumps(STORED_GARBAGE), id=row["id"]
                )
            )
    for search in (
        {"city": "cixi", "available_at": saturday},
        {"city": "cixi", "skill": "haircut", "available_at": saturday},
        {"city": "cixi", "near": LONGSHAN, "radius_m": 2000, "available_at": saturday},
    ):
        found = admin.call("volunteers", "find_volunteers", **search)["items"]
        assert [v["id"] for v in found] == [good["id"]], search
    answers_ping_within(admin, "volunteers")


def test_the_importer_reports_hostile_availability_as_row_errors(db_url, tmp_path, capsys):
    path = tmp_path / "haining.csv"
    write_volunteers_csv(path, 3, chinese_header=True)
    with open(path, "a", encoding="utf-8", newline="") as fh:
        for n, rule in enumerate(HOSTILE_RRULES):
            phone = f"1390000{n:04d}"
            row = ["坏规则", phone, "硖石街道", "社区", "否", "", "", "", ""]
            csv.writer(fh).writerow(
                [*row, f"FREQ=WEEKLY;BYDAY=SA@08:00-12:00 | {rule}@08:00-09:00"]
            )
    argv = ["import", "volunteers", str(path), "--city", "haining", "--database-url", db_url]
    assert cli.main([*argv, "--quiet"]) == 0
    assert f"3 imported, 0 already registered, {len(HOSTILE_RRULES)} bad" in capsys.readouterr().out
    with open(tmp_path / "haining.csv.errors.csv", encoding="utf-8") as fh:
        report = list(csv.DictReader(fh))
    assert [r["field"] for r in report] == ["availability.1.rrule"] * len(HOSTILE_RRULES)


def test_the_upgrade_drops_entries_no_evaluation_can_read(db_url):
    never = [w for w in HOSTILE_WINDOWS if w["rrule"] in NEVER_OCCURRING_RRULES]
    over = STORED_GARBAGE[-1]
    engine = make_engine(db_url, 2)
    try:
        migrate(engine, VolunteersService.migrations, "0001")
        now = clock.utcnow()
        row = {
            "id": ids.new_id("cixi", "vol"),
            "city": "cixi",
            "name": "老志愿者",
            "phone": "13900001111",
            "district": "龙山镇",
            "community": "方家河头村",
            "is_party_member": False,
            "party_branch": None,
            "skills": [],
            "lat": None,
            "lon": None,
            "geocell": None,
            "availability": [*WEEKENDS, *HOSTILE_WINDOWS, over, 7],
            "status": "active",
            "suspended_until": None,
            "cards": 0,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        with engine.begin() as conn:
            conn.execute(insert(Volunteer.__table__), [row])
        migrate(engine, VolunteersService.migrations)
        with engine.connect() as conn:
            stored = conn.execute(select(Volunteer.__table__.c.availability)).scalar_one()
        assert stored == [*WEEKENDS, *never, over]
    finally:
        engine.dispose()
