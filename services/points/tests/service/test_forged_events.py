"""Events checked like input: whatever a broker client or a peer sends, points credits only what
the event contract, the city's rules and the event's origin allow; the rest is parked with its
reason and changes nothing."""

from __future__ import annotations

from nameko.standalone.events import event_dispatcher
from points_testdata import checkin

from pioneer import db, ids
from pioneer.dlq import list_dead_letters
from pioneer.testing.fixtures import volunteer_event, wait_for


def parked(amqp_uri: str, event_id: str) -> list[dict]:
    return [m for m in list_dead_letters(amqp_uri, "points") if m["event_id"] == event_id]


def test_a_forged_check_in_mints_nothing(points, admin, enrol, dispatch_event, amqp_uri):
    volunteer_id = enrol()
    reasons = {}
    for label, data in {
        "two billion points": checkin(volunteer_id, points=2_000_000_000),
        "more than an activity may give": checkin(volunteer_id, points=10_001),
        "a volunteer of another city than it says": {
            **checkin(volunteer_id),
            "volunteer_city": "haining",
        },
        "negative hours": checkin(volunteer_id, hours=-3),
    }.items():
        sent = dispatch_event("stations", "volunteer_checked_in", "cixi", data)
        [message] = wait_for(lambda sent=sent: parked(amqp_uri, sent["event_id"]))
        reasons[label] = message["error"]
    assert "points" in reasons["two billion points"]
    assert "less than or equal to 10000" in reasons["more than an activity may give"]
    assert admin.call("points", "balance", volunteer_id)["balance"] == 0
    # The genuine thing still counts.
    dispatch_event("stations", "volunteer_checked_in", "cixi", checkin(volunteer_id, points=8))
    wait_for(lambda: admin.call("points", "balance", volunteer_id)["balance"] == 8)


def test_an_event_published_here_from_a_city_not_served_here_is_parked(
    points, admin, enrol, amqp_uri
):
    """Only this deployment's services publish on its broker, for its own cities; a peer's
    events arrive as federated copies. One that claims a peer's origin without being one is
    forged."""
    volunteer_id = enrol()
    forged = db.envelope("volunteer_checked_in", "cixi", "ningbo", checkin(volunteer_id, 5))
    event_dispatcher({"AMQP_URI": amqp_uri})("stations", "volunteer_checked_in", forged)
    [message] = wait_for(lambda: parked(amqp_uri, forged["event_id"]))
    assert "does not serve" in message["error"] and message["attempts"] == 1
    mislabelled = db.envelope("volunteer_removed", "cixi", "cixi", checkin(volunteer_id, 5))
    event_dispatcher({"AMQP_URI": amqp_uri})("stations", "volunteer_checked_in", mislabelled)
    [message] = wait_for(lambda: parked(amqp_uri, mislabelled["event_id"]))
    assert "on the queue of 'volunteer_checked_in'" in message["error"]
    assert admin.call("points", "balance", volunteer_id)["balance"] == 0


def test_a_version_out_of_reach_cannot_lock_a_volunteer_out(
    points, admin, enrol, dispatch_event, amqp_uri, database
):
    volunteer_id = enrol()
    forged = dispatch_event(
        "volunteers",
        "volunteer_removed",
        "cixi",
        volunteer_event(volunteer_id, status="removed", version=2**31 - 1),
    )
    [message] = wait_for(lambda: parked(amqp_uri, forged["event_id"]))
    assert "jumps more than" in message["error"]
    # The next genuine change still applies: the volunteer was never locked out.
    enrol(volunteer_id, version=2)
    dispatch_event("stations", "volunteer_checked_in", "cixi", checkin(volunteer_id, points=3))
    wait_for(lambda: admin.call("points", "balance", volunteer_id)["balance"] == 3)
    assert ids.city_of(volunteer_id) == "cixi"
