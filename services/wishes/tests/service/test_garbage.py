"""Garbage to every wishes method: only the contract's errors come back, nothing is written,
and the service keeps serving."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import text
from wishes_testdata import FANGJIAHETOU, request_data, wish_data

from pioneer.testing.garbage import BAD_CREDENTIALS, garbage_calls, send_garbage

TABLES = [
    "wishes",
    "service_requests",
    "request_offers",
    "replica_skills",
    "complaint_deliveries",
    "outbox",
    "volunteer_replica",
]


def test_garbage_to_every_method(wishes, admin, rpc, token, enrol, count_rows, database):
    volunteer_id = enrol(skills=["repair"], location=dict(FANGJIAHETOU))

    def published():
        wish = admin.call("wishes", "submit_wish", wish_data())
        return admin.call("wishes", "review_wish", wish["id"], True)["id"]

    claimed = published()
    admin.call("wishes", "claim_wish", claimed, volunteer_id)
    closed = published()
    admin.call("wishes", "claim_wish", closed, volunteer_id)
    admin.call("wishes", "fulfill_wish", closed, volunteer_id, {"note": "好了"})
    admin.call("wishes", "confirm_wish", closed, {"rating": 5, "feedback": ""})
    open_wish = published()
    # A request done and rated (every change refused), and one offered to the volunteer.
    rated = admin.call("wishes", "raise_request", request_data())["id"]
    admin.call("wishes", "accept_request", rated, volunteer_id)
    admin.call("wishes", "complete_request", rated, volunteer_id, {"note": "好"})
    admin.call("wishes", "rate_request", rated, {"rating": 5, "feedback": ""})
    cancelled = admin.call("wishes", "raise_request", request_data())["id"]
    admin.call("wishes", "cancel_request", cancelled, "重复")
    # Each valid call targets a wish whose state refuses it, so a garbage value that passes
    # validation (free text such as an injection string) still cannot change anything.
    valid = {
        "submit_wish": {"wish": wish_data()},
        "review_wish": {"wish_id": open_wish, "approve": True, "reason": "理由"},
        "claim_wish": {"wish_id": claimed, "volunteer_id": volunteer_id},
        "release_wish": {"wish_id": closed, "volunteer_id": volunteer_id},
        "fulfill_wish": {
            "wish_id": closed,
            "volunteer_id": volunteer_id,
            "fulfillment": {"note": "完成"},
        },
        "confirm_wish": {"wish_id": closed, "confirmation": {"rating": 4, "feedback": "好"}},
        "cancel_wish": {"wish_id": closed, "reason": "不要了"},
        "get_wish": {"wish_id": claimed},
        "raise_request": {"request": request_data()},
        "accept_request": {"request_id": rated, "volunteer_id": volunteer_id},
        "decline_request": {"request_id": rated, "volunteer_id": volunteer_id},
        "complete_request": {
            "request_id": rated,
            "volunteer_id": volunteer_id,
            "completion": {"note": "完成"},
        },
        "rate_request": {"request_id": rated, "rating": {"rating": 4, "feedback": "好"}},
        "cancel_request": {"request_id": rated, "reason": "不要了"},
        "get_request": {"request_id": rated},
        "complain": {"request_id": cancelled, "complaint": {"reason": "差"}},
        "list_requests": {"city": "cixi", "status": "closed", "limit": 10, "cursor": None},
        "list_wishes": {
            "city": "cixi",
            "status": "published",
            "category": "elderly_care",
            "near": dict(FANGJIAHETOU),
            "radius_m": 1000,
            "limit": 10,
            "cursor": None,
        },
    }

    def snapshot():
        with database.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, status, version FROM wishes UNION ALL"
                    " SELECT id, status, version FROM service_requests ORDER BY id"
                )
            ).all()
        return [tuple(r) for r in rows], {table: count_rows(table) for table in TABLES}

    before = snapshot()
    calls = garbage_calls(
        valid, optional={"reason", "status", "category", "near", "radius_m", "cursor"}
    )
    reads = {"get_wish", "list_wishes", "get_request", "list_requests"}
    seen = send_garbage(admin, "wishes", calls, reads)
    assert "ValidationError" in seen and "Conflict" in seen
    for authorization in BAD_CREDENTIALS:
        with pytest.raises(RemoteError) as refused:
            rpc(authorization).call("wishes", "get_wish", claimed)
        assert refused.value.exc_type == "Unauthorized"

    assert snapshot() == before
    # Still serving, and the real thing still works.
    assert admin.call("wishes", "ping")["service"] == "wishes"
    assert admin.call("wishes", "claim_wish", open_wish, volunteer_id)["status"] == "claimed"
    assert rpc(token("ops", "cixi")).call("wishes", "get_wish", open_wish)["beneficiary"] is None
    assert admin.call("wishes", "raise_request", request_data())["status"] == "dispatched"


def test_models_match_migrations(db_url):
    from pioneer.db import kernel_metadata
    from pioneer.replica import replica_metadata
    from pioneer.replica_skills import skills_metadata
    from pioneer.testing.schema import schema_drift
    from wishes.models import Base
    from wishes.service import WishesService

    assert (
        schema_drift(
            db_url,
            WishesService.migrations,
            [Base.metadata, kernel_metadata, replica_metadata, skills_metadata],
        )
        == []
    )
