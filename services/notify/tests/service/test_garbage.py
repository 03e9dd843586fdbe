"""Garbage to every notify method: only the contract's errors come back, nothing is written,
and the service keeps serving. And the models match the migrations."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from notify_testdata import FANGJIAHETOU, points_data
from sqlalchemy import text

from pioneer.testing.fixtures import wait_for
from pioneer.testing.garbage import BAD_CREDENTIALS, garbage_calls, send_garbage

TABLES = ["notifications", "preferences", "offer_holds", "replica_skills", "outbox"]


def test_garbage_to_every_method(notify, admin, rpc, enrol, dispatch_event, count_rows, database):
    volunteer_id = enrol(skills=["repair"], location=dict(FANGJIAHETOU))
    dispatch_event("points", "points_redeemed", "cixi", points_data(volunteer_id))
    (note,) = wait_for(lambda: admin.call("notify", "inbox", volunteer_id)["items"])
    valid = {
        "inbox": {"recipient_id": volunteer_id, "unread_only": True, "limit": 10, "cursor": None},
        "mark_read": {"recipient_id": volunteer_id, "notification_ids": [note["id"]]},
        "set_preferences": {
            "recipient_id": volunteer_id,
            "preferences": {
                "channels": ["webhook", "sms"],
                "quiet_hours": {"start": "22:00", "end": "07:00"},
                "webhook_url": "https://example.org/hook",
            },
        },
        "get_preferences": {"recipient_id": volunteer_id},
        "failed_deliveries": {"city": "cixi", "limit": 10, "cursor": None},
        "replay_deliveries": {"city": "cixi", "notification_ids": [note["id"]]},
    }

    def snapshot():
        with database.connect() as conn:
            notes = conn.execute(
                text("SELECT id, status, read, attempts FROM notifications ORDER BY id")
            ).all()
            prefs = conn.execute(text("SELECT * FROM preferences ORDER BY recipient_id")).all()
        return (
            [tuple(r) for r in notes],
            [tuple(r) for r in prefs],
            {table: count_rows(table) for table in TABLES},
        )

    before = snapshot()
    calls = garbage_calls(valid, optional={"cursor", "quiet_hours", "webhook_url"})
    seen = send_garbage(admin, "notify", calls, {"inbox", "get_preferences", "failed_deliveries"})
    assert seen == {"ValidationError"}
    for authorization in BAD_CREDENTIALS:
        with pytest.raises(RemoteError) as refused:
            rpc(authorization).call("notify", "inbox", volunteer_id)
        assert refused.value.exc_type == "Unauthorized"
    # Field-level rules that types alone do not catch name their field.
    for preferences, field in (
        ({"channels": ["webhook"]}, "preferences.webhook_url"),
        ({"channels": ["inbox", "inbox"]}, "preferences.channels"),
        (
            {"channels": [], "quiet_hours": {"start": "22:00", "end": "22:00"}},
            "preferences.quiet_hours",
        ),
        (
            {"channels": [], "quiet_hours": {"start": "25:00", "end": "07:00"}},
            "preferences.quiet_hours.start",
        ),
        ({"channels": [], "webhook_url": "ftp://example.org/x"}, "preferences.webhook_url"),
        (
            {"channels": [], "webhook_url": "https://user:pw@example.org/x"},
            "preferences.webhook_url",
        ),
    ):
        with pytest.raises(RemoteError) as refused:
            admin.call("notify", "set_preferences", volunteer_id, preferences)
        assert refused.value.exc_type == "ValidationError"
        assert refused.value.value.startswith(field), refused.value.value

    assert snapshot() == before
    # Still serving, and the real thing still works.
    assert admin.call("notify", "ping")["service"] == "notify"
    assert admin.call("notify", "mark_read", volunteer_id, [note["id"]])["marked"] == 1


def test_models_match_migrations(db_url):
    from notify.models import Base
    from notify.service import NotifyService
    from pioneer.db import kernel_metadata
    from pioneer.replica import replica_metadata
    from pioneer.replica_skills import skills_metadata
    from pioneer.testing.schema import schema_drift

    assert (
        schema_drift(
            db_url,
            NotifyService.migrations,
            [Base.metadata, kernel_metadata, replica_metadata, skills_metadata],
        )
        == []
    )
