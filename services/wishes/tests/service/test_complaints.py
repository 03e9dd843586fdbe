"""``complain``: a complaint about a request's assigned volunteer is recorded in the volunteers
service, where ``uphold_complaint`` decides it; when volunteers is down it is kept and delivered
once it is back, exactly once."""

from __future__ import annotations

import eventlet
import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import text
from wishes_testdata import FANGJIAHETOU, request_data

from pioneer.testing.databases import create_postgres_database, drop_postgres_database
from pioneer.testing.fixtures import base_config, wait_for
from volunteers.service import VolunteersService
from wishes.service import WishesService

VOLUNTEER = {
    "name": "张师傅",
    "phone": "13700001234",
    "city": "cixi",
    "district": "龙山镇",
    "community": "方家河头村",
    "is_party_member": True,
    "skills": ["repair"],
    "location": dict(FANGJIAHETOU),
}


@pytest.fixture
def volunteers_config(db_url, tmp_path, amqp_uri, secret):
    if db_url.startswith("sqlite"):
        yield base_config(amqp_uri, f"sqlite:///{tmp_path}/volunteers.db", secret)
        return
    url = create_postgres_database()
    yield base_config(amqp_uri, url, secret)
    drop_postgres_database(url)


@pytest.fixture
def both(service_config, volunteers_config, start_service):
    # Wishes first: its replica queues are bound before volunteers publishes anything.
    wishes = start_service(WishesService, {**service_config, "RPC_TIMEOUT_S": 1})
    volunteers = start_service(VolunteersService, volunteers_config)
    return wishes, volunteers


def accepted_request(admin, database):
    """A volunteer registered in volunteers, known to wishes' replica, assigned a request."""
    volunteer_id = admin.call("volunteers", "register", VOLUNTEER)["id"]

    def known() -> bool:
        with database.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM replica_skills WHERE volunteer_id = :v"),
                {"v": volunteer_id},
            ).scalar()

    wait_for(known)
    raised = admin.call("wishes", "raise_request", request_data())
    assert raised["offered_to"] == volunteer_id
    admin.call("wishes", "accept_request", raised["id"], volunteer_id)
    return raised["id"], volunteer_id


def test_a_complaint_is_recorded_in_volunteers_and_upheld_there(both, admin, database, spy):
    watch = spy("wishes")
    request_id, volunteer_id = accepted_request(admin, database)
    filed = admin.call("wishes", "complain", request_id, {"reason": "态度很差"})
    assert filed["complaint_id"].startswith("cixi-cmp-")
    [event] = watch.wait_for("complaint_filed")
    assert event["data"]["complaint_id"] == filed["complaint_id"]
    assert event["data"]["volunteer_id"] == volunteer_id
    upheld = admin.call("volunteers", "uphold_complaint", filed["complaint_id"])
    assert upheld["status"] == "upheld" and upheld["volunteer_id"] == volunteer_id
    assert upheld["source"] == f"request:{request_id}"
    with database.connect() as conn:
        assert conn.execute(text("SELECT status FROM complaint_deliveries")).scalar() == (
            "delivered"
        )


def test_a_complaint_waits_while_volunteers_is_down(
    both, admin, database, start_service, volunteers_config
):
    _, volunteers = both
    request_id, _ = accepted_request(admin, database)
    with eventlet.Timeout(20):
        volunteers.stop()
    filed = admin.call("wishes", "complain", request_id, {"reason": "没有按时到"})
    with database.connect() as conn:
        pending = conn.execute(text("SELECT status, attempts FROM complaint_deliveries")).one()
    assert pending.status == "pending" and pending.attempts >= 1
    start_service(VolunteersService, volunteers_config)  # back
    upheld = wait_for(lambda: _uphold(admin, filed["complaint_id"]), timeout=30)
    assert upheld["status"] == "upheld"

    def delivered() -> bool:
        with database.connect() as conn:
            return conn.execute(text("SELECT status FROM complaint_deliveries")).scalar() == (
                "delivered"
            )

    wait_for(delivered, timeout=20)
    # The call queued while volunteers was down and the retries recorded it once.
    with eventlet.Timeout(5):
        again = admin.call(
            "volunteers",
            "record_complaint",
            upheld["volunteer_id"],
            {"reason": "x", "source": "test"},
            complaint_id=filed["complaint_id"],
        )
    assert again["id"] == filed["complaint_id"] and again["status"] == "upheld"


def _uphold(admin, complaint_id):
    try:
        return admin.call("volunteers", "uphold_complaint", complaint_id)
    except RemoteError as exc:
        if exc.exc_type == "NotFound":
            return None
        raise
