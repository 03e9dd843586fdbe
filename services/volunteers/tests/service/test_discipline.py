"""Discipline: complaints, the ladder, reinstatement (by an admin and by the timer), events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import text
from volunteers_testdata import volunteer_data

from pioneer import ids
from pioneer.testing.fixtures import wait_for


def error_of(call, *args, **kwargs) -> RemoteError:
    with pytest.raises(RemoteError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


def test_the_ladder_warning_yellow_red(volunteers, admin, rpc, token, spy, count_rows):
    watch = spy("volunteers")
    vid = admin.call("volunteers", "register", volunteer_data())["id"]
    dispatcher = rpc(token("dispatcher", "cixi"))

    def complaint(reason: str) -> dict:
        return dispatcher.call(
            "volunteers", "record_complaint", vid, {"reason": reason, "source": "hotline"}
        )

    first = complaint("服务态度差")
    assert first["status"] == "open" and first["volunteer_id"] == vid
    assert first["reason"] == "服务态度差" and first["source"] == "hotline"
    assert first["id"].startswith("cixi-cmp-") and first["created_at"].endswith("+08:00")

    before = datetime.now(UTC)
    upheld = admin.call("volunteers", "uphold_complaint", first["id"])
    assert upheld["status"] == "upheld" and upheld["level"] == "warning"
    volunteer = admin.call("volunteers", "get_volunteer", vid)
    assert volunteer["status"] == "suspended" and volunteer["cards"] == 1
    until = parse(volunteer["suspended_until"])
    assert timedelta(days=30) <= until - before < timedelta(days=30, minutes=1)
    assert (
        error_of(admin.call, "volunteers", "uphold_complaint", first["id"]).exc_type == "Conflict"
    )
    assert (
        error_of(admin.call, "volunteers", "dismiss_complaint", first["id"]).exc_type == "Conflict"
    )

    # Dismissing changes nothing but the complaint.
    dismissed = admin.call("volunteers", "dismiss_complaint", complaint("误会")["id"])
    assert dismissed["status"] == "dismissed" and dismissed["level"] is None
    assert admin.call("volunteers", "get_volunteer", vid) == volunteer

    back = admin.call("volunteers", "reinstate", vid)
    assert back["status"] == "active" and back["suspended_until"] is None and back["cards"] == 1
    assert error_of(admin.call, "volunteers", "reinstate", vid).exc_type == "Conflict"

    yellow = admin.call("volunteers", "uphold_complaint", complaint("爽约")["id"])
    assert yellow["level"] == "yellow_card"
    volunteer = admin.call("volunteers", "get_volunteer", vid)
    assert volunteer["status"] == "suspended" and volunteer["cards"] == 2
    assert parse(volunteer["suspended_until"]) - before >= timedelta(days=90)

    red = admin.call("volunteers", "uphold_complaint", complaint("再次爽约")["id"])
    assert red["level"] == "red_card"
    volunteer = admin.call("volunteers", "get_volunteer", vid)
    assert volunteer["status"] == "removed" and volunteer["cards"] == 3
    assert volunteer["suspended_until"] is None
    # Nothing climbs past removal, and a removal is not a suspension to end.
    late = complaint("之后的投诉")
    assert error_of(admin.call, "volunteers", "uphold_complaint", late["id"]).exc_type == "Conflict"
    assert error_of(admin.call, "volunteers", "reinstate", vid).exc_type == "Conflict"
    assert admin.call("volunteers", "dismiss_complaint", late["id"])["status"] == "dismissed"

    # Events: every change with a growing version, no phone.
    levels = [e["data"]["level"] for e in watch.wait_for("complaint_upheld", count=3)]
    assert levels == ["warning", "yellow_card", "red_card"]
    assert watch.of_type("complaint_upheld")[2]["data"]["cards"] == 3
    suspended = watch.wait_for("volunteer_suspended", count=2)
    removed = watch.wait_for("volunteer_removed")[0]
    reinstated = watch.wait_for("volunteer_reinstated")[0]
    versions = [e["data"]["version"] for e in (suspended[0], reinstated, suspended[1], removed)]
    assert versions == [2, 3, 4, 5]
    assert removed["data"]["status"] == "removed" and removed["data"]["reason"] == "red_card"
    assert suspended[0]["data"]["suspended_until"] is not None
    assert "phone" not in removed["data"]
    assert count_rows("outbox") == 1 + 2 * 3 + 1


def test_discipline_roles(volunteers, admin, rpc, token):
    vid = admin.call("volunteers", "register", volunteer_data())["id"]
    me = rpc(token("volunteer", "cixi", sub=vid))
    reason = {"reason": "x", "source": "station"}
    assert error_of(me.call, "volunteers", "record_complaint", vid, reason).exc_type == "Forbidden"
    complaint = rpc(token("system", "cixi")).call("volunteers", "record_complaint", vid, reason)
    for caller in (rpc(token("dispatcher", "cixi")), rpc(token("admin", "haining")), me):
        for method in ("uphold_complaint", "dismiss_complaint"):
            assert error_of(caller.call, "volunteers", method, complaint["id"]).exc_type == (
                "Forbidden"
            )
        assert error_of(caller.call, "volunteers", "reinstate", vid).exc_type == "Forbidden"
    missing = ids.new_id("cixi", "cmp")
    assert error_of(admin.call, "volunteers", "uphold_complaint", missing).exc_type == "NotFound"
    error = error_of(
        admin.call, "volunteers", "record_complaint", ids.new_id("cixi", "vol"), reason
    )
    assert error.exc_type == "NotFound"


def test_suspensions_end_by_themselves(volunteers, admin, spy, database):
    watch = spy("volunteers")
    due = admin.call("volunteers", "register", volunteer_data())["id"]
    running = admin.call("volunteers", "register", volunteer_data())["id"]
    for vid in (due, running):
        complaint = admin.call(
            "volunteers", "record_complaint", vid, {"reason": "x", "source": "hotline"}
        )
        admin.call("volunteers", "uphold_complaint", complaint["id"])
    # Thirty days pass for one of them.
    past = datetime.now(UTC) - timedelta(minutes=1)
    if database.dialect.name == "sqlite":
        past = past.replace(tzinfo=None)  # stored as naive UTC there
    with database.begin() as conn:
        conn.execute(
            text("UPDATE volunteers SET suspended_until = :t WHERE id = :v"), {"t": past, "v": due}
        )
    event = watch.wait_for("volunteer_reinstated", timeout=15)[0]
    assert event["data"]["volunteer_id"] == due and event["data"]["reason"] == "suspension_ended"
    assert event["data"]["version"] == 3 and event["data"]["status"] == "active"
    wait_for(lambda: admin.call("volunteers", "get_volunteer", due)["status"] == "active")
    assert admin.call("volunteers", "get_volunteer", due)["cards"] == 1
    assert admin.call("volunteers", "get_volunteer", running)["status"] == "suspended"
    assert len(watch.of_type("volunteer_reinstated")) == 1


def test_a_complaint_id_chosen_by_the_caller_records_once(volunteers, admin, count_rows):
    vid = admin.call("volunteers", "register", volunteer_data())["id"]
    other = admin.call("volunteers", "register", volunteer_data(phone="13911112222"))["id"]
    chosen = ids.new_id("cixi", "cmp")
    complaint = {"reason": "迟到", "source": "request:x"}
    first = admin.call("volunteers", "record_complaint", vid, complaint, complaint_id=chosen)
    again = admin.call("volunteers", "record_complaint", vid, complaint, complaint_id=chosen)
    assert first["id"] == again["id"] == chosen and count_rows("complaints") == 1
    taken = error_of(
        admin.call, "volunteers", "record_complaint", other, complaint, complaint_id=chosen
    )
    assert taken.exc_type == "Conflict"
    for bad in (ids.new_id("haining", "cmp"), ids.new_id("cixi", "vol")):
        refused = error_of(
            admin.call, "volunteers", "record_complaint", vid, complaint, complaint_id=bad
        )
        assert refused.exc_type == "ValidationError" and refused.value.startswith("complaint_id")
    assert count_rows("complaints") == 1
