"""The hostile-input suite on points (``pioneer.testing.hostile``): generated and raw calls to
every method, forged and malformed envelopes to every consumer."""

from __future__ import annotations

from pioneer import ids
from pioneer.testing import hostile
from pioneer.testing.moments import this_year
from points.service import PointsService


def test_hostile_calls(points, admin, token, enrol, amqp_uri, database, service_config):
    volunteer_id = enrol()
    admin.call("points", "adjust", volunteer_id, 50, "期初")
    item = admin.call("points", "add_catalog_item", "cixi", {"name": "水杯", "cost": 5, "stock": 9})
    done = admin.call("points", "redeem", volunteer_id, item["id"], 1, "first")
    known = [volunteer_id, item["id"], done["id"], ids.new_id("haining", "vol")]
    known += ["all", str(this_year()), f"{this_year()}-01", "first"]
    tokens = [token("admin"), token("admin"), token("volunteer", sub=volunteer_id)]
    tokens += [token("ops", "*"), token("system", "haining"), None]
    hostile.run_rpc(
        "points", PointsService, amqp_uri, database, service_config["DATABASE_URL"], tokens, known
    )


def test_hostile_events(points, amqp_uri, database, service_config):
    hostile.run_events("points", points, amqp_uri, database, service_config["DATABASE_URL"])
