"""Garbage to every method: only the contract's errors come back, nothing is written, and the
service keeps serving."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from volunteers_testdata import volunteer_data

from pioneer.testing.garbage import BAD_CREDENTIALS, garbage_calls, send_garbage
from pioneer.testing.moments import SATURDAY, next_local

TABLES = ["volunteers", "volunteer_skills", "teams", "team_members", "commitments", "complaints"]


def test_garbage_to_every_method(volunteers, admin, rpc, token, count_rows):
    vid = admin.call("volunteers", "register", volunteer_data())["id"]
    team = admin.call("volunteers", "create_team", "cixi", {"name": "队", "specialty": "repair"})
    complaint = admin.call(
        "volunteers", "record_complaint", vid, {"reason": "x", "source": "hotline"}
    )
    valid = {
        "register": {"volunteer": volunteer_data()},
        "get_volunteer": {"volunteer_id": vid},
        "update_volunteer": {
            "volunteer_id": vid,
            "changes": {"name": "新名", "skills": ["repair"]},
        },
        "find_volunteers": {
            "city": "cixi",
            "skill": "repair",
            "near": {"lat": 30.2, "lon": 121.4},
            "radius_m": 1000,
            "available_at": next_local(SATURDAY, "10:00"),
            "status": "active",
            "limit": 10,
            "cursor": None,
        },
        "create_team": {"city": "cixi", "team": {"name": "新队", "specialty": "haircut"}},
        "join_team": {"team_id": team["id"], "volunteer_id": vid, "relation": "activity"},
        "leave_team": {"team_id": team["id"], "volunteer_id": vid},
        "list_members": {"team_id": team["id"], "limit": 10},
        "make_commitment": {"volunteer_id": vid, "commitment": {"year": 2026, "text": "承诺"}},
        "list_commitments": {"city": "cixi", "year": 2026, "limit": 10},
        "record_complaint": {"volunteer_id": vid, "complaint": {"reason": "r", "source": "s"}},
        "uphold_complaint": {"complaint_id": complaint["id"]},
        "dismiss_complaint": {"complaint_id": complaint["id"]},
        "reinstate": {"volunteer_id": vid},
    }
    optional_none = {"skill", "near", "radius_m", "available_at", "cursor"}
    before = {table: count_rows(table) for table in TABLES}
    outbox = count_rows("outbox")

    calls = garbage_calls(valid, optional_none, {"changes"})
    # Reads may find some odd values acceptable (a 1.5 m radius); writes must refuse them all.
    reads = {"get_volunteer", "find_volunteers", "list_members", "list_commitments"}
    seen = send_garbage(admin, "volunteers", calls, reads)
    assert "ValidationError" in seen

    # Garbage credentials.
    for authorization in BAD_CREDENTIALS:
        with pytest.raises(RemoteError) as excinfo:
            rpc(authorization).call("volunteers", "get_volunteer", vid)
        assert excinfo.value.exc_type == "Unauthorized"

    assert {table: count_rows(table) for table in TABLES} == before
    assert count_rows("outbox") == outbox
    # Still serving, and the real thing still works.
    assert admin.call("volunteers", "ping")["service"] == "volunteers"
    assert admin.call("volunteers", "update_volunteer", vid, {"name": "还在"})["name"] == "还在"
    assert rpc(token("ops", "cixi")).call("volunteers", "list_commitments", "cixi", 2026)


def test_models_match_migrations(db_url):
    from pioneer.db import kernel_metadata
    from pioneer.testing.schema import schema_drift
    from volunteers.models import Base
    from volunteers.service import VolunteersService

    assert (
        schema_drift(db_url, VolunteersService.migrations, [Base.metadata, kernel_metadata]) == []
    )
