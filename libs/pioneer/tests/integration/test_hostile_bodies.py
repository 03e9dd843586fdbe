"""Bodies no client library sends, to a real container: each is answered with a contract error
within the bound, and the container keeps serving (``pioneer.testing.hostile``)."""

from __future__ import annotations

import pytest
from widgets import WidgetService

from pioneer.testing import hostile


@pytest.fixture
def widgets(start_service, service_config):
    return start_service(WidgetService, service_config)


@pytest.fixture
def raw(amqp_uri):
    client = hostile.RawRpc(amqp_uri)
    yield client
    client.close()


@pytest.mark.parametrize(
    "label",
    [
        "raw bytes",  # kombu hands the handler bytes; the reply's encoding lookup crashed nameko
        "not JSON",  # kombu dropped it: the caller waited for its timeout
        "nested 10000",  # deeper than the JSON decoder goes: dropped the same way
        "kwargs a list",  # TypeError from the worker, not a contract error
        "args a number",
        "no kwargs",  # nameko's MalformedRequest
    ],
)
def test_a_body_that_is_no_request_is_refused_as_bad_input(widgets, raw, token, label):
    body, is_raw, content_type = next(
        (b, r, c)
        for name, b, r, c in hostile.raw_bodies(["city", "name", "count"])
        if name == label
    )
    reply = raw.send(
        "widgets", "create_widget", body, token("admin"), raw=is_raw, content_type=content_type
    )
    assert not reply.timed_out, label
    assert reply.exc_type == "ValidationError" and reply.message.startswith("body:"), reply
    assert raw.call("widgets", "ping", {}, None).result["service"] == "widgets"


def test_every_raw_body_to_every_method_is_refused_and_the_service_keeps_serving(
    widgets, raw, token, database, service_config
):
    suite = hostile.HostileRpc(
        raw,
        "widgets",
        WidgetService,
        hostile.StateProbe(database),
        [token("admin")],
        skip={"crash", "unserializable"},  # broken on purpose, for the kernel's other tests
    )
    suite.raw_bodies(token("admin"))
    suite.still_serving()
    backend = service_config["DATABASE_URL"].split(":", 1)[0]
    print(hostile.record("widgets", "raw bodies", backend, suite.tally.total))
    assert suite.tally.total == len(suite.methods) * len(hostile.raw_bodies(["x"]))
    assert set(suite.tally.outcomes) <= hostile.CONTRACT | {"ok"}
