"""The hostile-input suite on wishes (``pioneer.testing.hostile``): generated and raw calls to
every method, forged and malformed envelopes to every consumer."""

from __future__ import annotations

from wishes_testdata import FANGJIAHETOU, request_data, wish_data

from pioneer import ids
from pioneer.testing import hostile
from wishes.service import WishesService


def test_hostile_calls(wishes, admin, token, enrol, amqp_uri, database, service_config):
    volunteer_id = enrol(skills=["repair"], location=dict(FANGJIAHETOU))
    submitted = admin.call("wishes", "submit_wish", wish_data())
    published = admin.call("wishes", "submit_wish", wish_data())
    admin.call("wishes", "review_wish", published["id"], True)
    request = admin.call("wishes", "raise_request", request_data())
    known = [volunteer_id, submitted["id"], published["id"], request["id"]]
    known += [ids.new_id("haining", "wish"), "published", "submitted", "dispatched", "urgent"]
    tokens = [token("admin"), token("admin"), token("dispatcher")]
    tokens += [token("volunteer", sub=volunteer_id), token("ops", "*"), None]
    hostile.run_rpc(
        "wishes", WishesService, amqp_uri, database, service_config["DATABASE_URL"], tokens, known
    )


def test_hostile_events(wishes, amqp_uri, database, service_config):
    hostile.run_events("wishes", wishes, amqp_uri, database, service_config["DATABASE_URL"])
