"""Garbage to every stations method: only the contract's errors come back, nothing is written,
and the service keeps serving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError
from stations_testdata import FANGJIAHETOU, station_data

from pioneer.testing.garbage import BAD_CREDENTIALS, garbage_calls, send_garbage

TABLES = [
    "stations",
    "station_services",
    "posts",
    "post_claims",
    "activities",
    "checkins",
    "outbox",
]


def test_garbage_to_every_method(stations, admin, rpc, token, enrol, count_rows):
    station = admin.call("stations", "create_station", station_data())
    post = admin.call(
        "stations", "add_post", station["id"], {"title": "岗", "category": "haircut", "capacity": 1}
    )
    starts = datetime.now(UTC) + timedelta(hours=1)
    activity_in = {
        "title": "义剪",
        "category": "haircut",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "points": 5,
        "capacity": 10,
    }
    activity = admin.call("stations", "create_activity", station["id"], activity_in)
    code = admin.call("stations", "issue_checkin_code", activity["id"])["code"]
    volunteer_id = enrol()
    valid = {
        "create_station": {"station": station_data(name="另一个驿站")},
        "get_station": {"station_id": station["id"]},
        "update_station": {
            "station_id": station["id"],
            "changes": {"name": "新名字", "services": ["haircut"]},
        },
        "list_stations": {
            "city": "cixi",
            "district": "龙山镇",
            "service": "haircut",
            "open_at": "2026-11-28T10:00:00+08:00",
            "limit": 10,
            "cursor": None,
        },
        "search_nearby": {
            "location": dict(FANGJIAHETOU),
            "radius_m": 1000,
            "service": "haircut",
            "open_at": "2026-11-28T10:00:00+08:00",
            "limit": 10,
        },
        "add_post": {
            "station_id": station["id"],
            "post": {"title": "新岗", "category": "haircut", "capacity": 3},
        },
        "claim_post": {"post_id": post["id"], "volunteer_id": volunteer_id},
        "release_post": {"post_id": post["id"], "volunteer_id": volunteer_id},
        "list_posts": {"station_id": station["id"], "limit": 10, "cursor": None},
        "create_activity": {"station_id": station["id"], "activity": activity_in},
        "issue_checkin_code": {"activity_id": activity["id"], "valid_minutes": 30},
        "check_in": {"code": code, "volunteer_id": volunteer_id},
    }
    before = {table: count_rows(table) for table in TABLES}
    calls = garbage_calls(
        valid,
        optional={"district", "service", "open_at", "cursor", "city"},
        all_optional_objects={"changes"},
    )
    # Reads may accept an odd filter (an injection string is just a district nobody has).
    reads = {"get_station", "list_stations", "search_nearby", "list_posts"}
    seen = send_garbage(admin, "stations", calls, reads)
    assert "ValidationError" in seen
    for authorization in BAD_CREDENTIALS:
        with pytest.raises(RemoteError) as refused:
            rpc(authorization).call("stations", "get_station", station["id"])
        assert refused.value.exc_type == "Unauthorized"

    assert {table: count_rows(table) for table in TABLES} == before
    # Still serving, and the real thing still works.
    assert admin.call("stations", "ping")["service"] == "stations"
    assert admin.call("stations", "claim_post", post["id"], volunteer_id)["claimed"] == 1
    assert admin.call("stations", "check_in", code, volunteer_id)["points"] == 5
    ops = rpc(token("ops", "cixi"))
    assert ops.call("stations", "get_station", station["id"])["name"] == station["name"]


def test_models_match_migrations(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from pioneer.db import kernel_metadata, make_engine, migrate
    from pioneer.replica import replica_metadata
    from stations.models import Base
    from stations.service import StationsService

    engine = make_engine(db_url, 2)
    try:
        migrate(engine, StationsService.migrations)
        with engine.connect() as conn:
            diffs = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}),
                [Base.metadata, kernel_metadata, replica_metadata],
            )
    finally:
        engine.dispose()
    assert diffs == []
