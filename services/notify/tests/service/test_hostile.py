"""The hostile-input suite on notify (``pioneer.testing.hostile``): generated and raw calls to
every method, forged and malformed envelopes to every consumer."""

from __future__ import annotations

from notify.service import NotifyService
from pioneer import ids
from pioneer.testing import hostile


def test_hostile_calls(notify, admin, token, enrol, amqp_uri, database, notify_config):
    volunteer_id = enrol(skills=["repair"])
    admin.call(
        "notify", "set_preferences", volunteer_id, {"channels": ["inbox"], "quiet_hours": None}
    )
    known = [volunteer_id, "admins:cixi", ids.new_id("cixi", "ntf"), "inbox", "webhook", "sms"]
    tokens = [token("admin"), token("admin"), token("volunteer", sub=volunteer_id)]
    tokens += [token("ops", "*"), token("system"), None]
    hostile.run_rpc(
        "notify", NotifyService, amqp_uri, database, notify_config["DATABASE_URL"], tokens, known
    )


def test_hostile_events(notify, amqp_uri, database, notify_config):
    hostile.run_events("notify", notify, amqp_uri, database, notify_config["DATABASE_URL"])
