"""Garbage to every points method: only the contract's errors come back, nothing is written,
and the service keeps serving. Also: the models agree with the migrations."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import text

from pioneer import ids
from pioneer.testing.garbage import BAD_CREDENTIALS, garbage_calls, send_garbage

TABLES = [
    "ledger_entries",
    "balances",
    "totals",
    "catalog_items",
    "redemptions",
    "team_members",
    "peer_entries",
    "outbox",
    "volunteer_replica",
]


def test_garbage_to_every_method(points, admin, rpc, token, enrol, count_rows, database):
    volunteer_id = enrol()
    admin.call("points", "adjust", volunteer_id, 50, "期初")
    empty = admin.call(
        "points", "add_catalog_item", "cixi", {"name": "售罄", "cost": 5, "stock": 0}
    )
    item = admin.call("points", "add_catalog_item", "cixi", {"name": "水杯", "cost": 5, "stock": 9})
    done = admin.call("points", "redeem", volunteer_id, item["id"], 1, "first")
    admin.call("points", "reverse_redemption", done["id"], "取消")
    unknown = ids.new_id("cixi", "vol")
    # Each valid call is one the current state refuses (an unknown volunteer, an empty stock, a
    # reversed redemption, another city's catalog), so a garbage value that passes validation
    # (free text such as an injection string) still cannot change anything.
    valid = {
        "balance": {"volunteer_id": volunteer_id},
        "history": {"volunteer_id": volunteer_id, "limit": 10, "cursor": None},
        "leaderboard": {"city": "cixi", "period": "2026", "team_id": None, "limit": 10},
        "annual_report": {"city": "cixi", "year": 2026, "limit": 10, "cursor": None},
        "adjust": {"volunteer_id": unknown, "delta": 5, "reason": "补录"},
        "add_catalog_item": {
            "city": "haining",
            "item": {"name": "电影票", "cost": 10, "stock": 3},
        },
        "catalog": {"city": "cixi", "limit": 10, "cursor": None},
        "redeem": {
            "volunteer_id": volunteer_id,
            "item_id": empty["id"],
            "quantity": 1,
            "idempotency_key": "second",
        },
        "reverse_redemption": {"redemption_id": done["id"], "reason": "再来"},
    }

    def snapshot():
        with database.connect() as conn:
            sums = conn.execute(
                text(
                    "SELECT sum(balance), sum(spent), (SELECT sum(stock) FROM catalog_items)"
                    " FROM balances"
                )
            ).one()
        return tuple(sums), {table: count_rows(table) for table in TABLES}

    before = snapshot()
    calls = garbage_calls(valid, optional={"city", "team_id", "cursor"})
    reads = {"balance", "history", "leaderboard", "annual_report", "catalog"}
    seen = send_garbage(admin, "points", calls, reads)
    assert {"ValidationError", "Conflict", "NotFound"} <= seen
    for authorization in BAD_CREDENTIALS:
        with pytest.raises(RemoteError) as refused:
            rpc(authorization).call("points", "balance", volunteer_id)
        assert refused.value.exc_type == "Unauthorized"

    assert snapshot() == before
    # Still serving, and the real thing still works.
    assert admin.call("points", "ping")["service"] == "points"
    assert admin.call("points", "redeem", volunteer_id, item["id"], 2, "third")["balance"] == 40
    assert rpc(token("ops", "cixi")).call("points", "balance", volunteer_id)["balance"] == 40


def test_models_match_migrations(db_url):
    from pioneer.db import kernel_metadata
    from pioneer.replica import replica_metadata
    from pioneer.testing.schema import schema_drift
    from points.models import Base
    from points.service import PointsService

    assert (
        schema_drift(
            db_url, PointsService.migrations, [Base.metadata, kernel_metadata, replica_metadata]
        )
        == []
    )
