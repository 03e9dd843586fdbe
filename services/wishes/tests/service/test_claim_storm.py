"""A claim storm: many volunteers, each with its own connection and token, claim one freshly
published wish at the same moment. Exactly one wins; every other gets ``Conflict``."""

from __future__ import annotations

import eventlet
from nameko.exceptions import RemoteError
from sqlalchemy import text
from wishes_testdata import wish_data

from pioneer import ids
from pioneer.testing.client import RpcClient
from pioneer.testing.fixtures import volunteer_event, wait_for

CALLERS = 150


def test_exactly_one_of_many_concurrent_claims_wins(
    wishes, admin, amqp_uri, token, dispatch_event, database, spy
):
    watch = spy("wishes")
    volunteers = [ids.new_id("cixi", "vol") for _ in range(CALLERS)]
    for volunteer_id in volunteers:
        dispatch_event("volunteers", "volunteer_registered", "cixi", volunteer_event(volunteer_id))

    def replicated() -> bool:
        with database.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM volunteer_replica")).scalar() == CALLERS

    wait_for(replicated, timeout=30)
    wish = admin.call("wishes", "submit_wish", wish_data())
    admin.call("wishes", "review_wish", wish["id"], True)

    # One client per volunteer (its own connection and token), all released at once.
    clients = list(
        eventlet.GreenPool(50).imap(
            lambda v: RpcClient(amqp_uri, token("volunteer", "cixi", sub=v), timeout=60),
            volunteers,
        )
    )
    start = eventlet.event.Event()

    def claim(pair):
        client, volunteer_id = pair
        start.wait()
        try:
            return client.call("wishes", "claim_wish", wish["id"], volunteer_id)
        except RemoteError as exc:
            return exc.exc_type

    try:
        pool = eventlet.GreenPool(CALLERS)
        results = pool.imap(claim, zip(clients, volunteers, strict=True))
        eventlet.sleep(0.1)  # every caller is waiting at the start line
        start.send(True)
        outcomes = list(results)
    finally:
        for client in clients:
            client.close()

    won = [o for o in outcomes if isinstance(o, dict)]
    assert len(won) == 1, outcomes[:5]
    assert sorted(o for o in outcomes if not isinstance(o, dict)) == ["Conflict"] * (CALLERS - 1)
    winner = won[0]["claimed_by"]
    assert won[0]["status"] == "claimed" and winner in volunteers
    assert admin.call("wishes", "get_wish", wish["id"])["claimed_by"] == winner
    with database.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM outbox WHERE event_type = 'wish_claimed'")
            ).scalar()
            == 1
        )
    [event] = watch.wait_for("wish_claimed")
    assert event["data"]["volunteer_id"] == winner and event["data"]["version"] == 3
