"""The hostile-input suite on volunteers (``pioneer.testing.hostile``): generated and raw calls
to every method (volunteers consumes no events)."""

from __future__ import annotations

from volunteers_testdata import volunteer_data

from pioneer import ids
from pioneer.testing import hostile
from pioneer.testing.moments import this_year
from volunteers.service import VolunteersService


def test_hostile_calls(volunteers, admin, token, amqp_uri, database, service_config):
    volunteer = admin.call("volunteers", "register", volunteer_data())
    team = admin.call(
        "volunteers", "create_team", "cixi", {"name": "红马甲", "specialty": "repair"}
    )
    admin.call("volunteers", "join_team", team["id"], volunteer["id"], "activity")
    complaint = admin.call(
        "volunteers", "record_complaint", volunteer["id"], {"reason": "迟到", "source": "hotline"}
    )
    known = [volunteer["id"], team["id"], complaint["id"], ids.new_id("haining", "vol")]
    known += ["organization", "activity", "hotline", str(this_year()), "active", "suspended"]
    tokens = [token("admin"), token("admin"), token("volunteer", sub=volunteer["id"])]
    tokens += [token("dispatcher"), token("ops", "*"), None]
    hostile.run_rpc(
        "volunteers",
        VolunteersService,
        amqp_uri,
        database,
        service_config["DATABASE_URL"],
        tokens,
        known,
    )
