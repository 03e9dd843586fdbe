"""The kernel end to end inside a real container, on the real broker, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import urllib.request

import eventlet
import pytest
from nameko.exceptions import RemoteError
from widgets import Base, WidgetService

from pioneer import auth
from pioneer.db import UnitOfWork, make_engine, migrate
from pioneer.dlq import dead_letter_count, list_dead_letters, replay_dead_letters
from pioneer.testing.fixtures import http_port, wait_for


@pytest.fixture
def widgets(start_service, service_config):
    return start_service(WidgetService, service_config)


def remote_error(excinfo) -> tuple[str, str]:
    return excinfo.value.exc_type, str(excinfo.value.value)


def test_call_emits_event_through_outbox_to_handler(widgets, rpc, token):
    client = rpc(token("admin"))
    created = client.call("widgets", "create_widget", "cixi", "lamp", count=3)
    assert created["name"] == "lamp" and created["id"].startswith("cixi-wdg-")
    assert client.call("widgets", "get_widget", created["id"])["count"] == 3
    assert wait_for(lambda: client.call("widgets", "seen") == ["lamp"])


@pytest.mark.parametrize(
    "args, kwargs, field",
    [
        (("cixi", 123), {}, "name"),  # number for a string
        (("cixi", "x"), {"count": "3"}, "count"),  # string for a number
        (("cixi", "x"), {"count": True}, "count"),  # bool for a number
        (("cixi", "x" * 10_000), {}, "name"),  # huge string
        (("cixi",), {}, "name"),  # missing
        (("cixi", "x"), {"colour": "red"}, "colour"),  # unknown argument
        (("cixi", "x", 1, 2), {}, "arguments"),  # too many positional
        (("cixi", "x"), {"city": "cixi"}, "city"),  # given twice
        (("Cixi'; DROP TABLE widgets;--", "x"), {}, "city"),  # injection in a constrained field
        ((None, None), {}, "city"),
        (([], {}), {}, "city"),
    ],
)
def test_bad_arguments_are_validation_errors_naming_the_field(
    widgets, rpc, token, args, kwargs, field
):
    client = rpc(token("admin"))
    with pytest.raises(RemoteError) as excinfo:
        client.call("widgets", "create_widget", *args, **kwargs)
    exc_type, message = remote_error(excinfo)
    assert exc_type == "ValidationError"
    assert message.startswith(field)
    assert client.call("widgets", "seen") == []  # nothing written, still serving


def test_injection_text_is_stored_verbatim(widgets, rpc, token):
    client = rpc(token("admin"))
    name = "x'); DROP TABLE widgets; --"
    created = client.call("widgets", "create_widget", "cixi", name)
    assert client.call("widgets", "get_widget", created["id"])["name"] == name


def test_guard_rejects_missing_invalid_expired_and_wrong_role(widgets, rpc, token, secret):
    cases = [
        (None, "Unauthorized"),
        ("Token abc", "Unauthorized"),
        ("Bearer not-a-jwt", "Unauthorized"),
        (
            "Bearer "
            + auth.issue_token("another-secret-of-a-sufficient-length-32b", "x", "cixi", ["admin"]),
            "Unauthorized",
        ),
        ("Bearer " + auth.issue_token(secret, "x", "cixi", ["admin"], ttl_s=-60), "Unauthorized"),
        ("Bearer " + auth.issue_token(secret, "x", "cixi", ["wizard"]), "Unauthorized"),
        (token("volunteer"), "Forbidden"),
        (token("ops"), "Forbidden"),
    ]
    for authorization, expected in cases:
        with pytest.raises(RemoteError) as excinfo:
            rpc(authorization).call("widgets", "create_widget", "cixi", "lamp")
        assert excinfo.value.exc_type == expected, authorization


def test_wrong_city_names_the_city(widgets, rpc, token):
    with pytest.raises(RemoteError) as excinfo:
        rpc(token("admin", city="*")).call("widgets", "create_widget", "ningbo", "lamp")
    assert excinfo.value.exc_type == "WrongCity"
    assert "ningbo" in str(excinfo.value.value)


def test_ping_needs_no_token(widgets, rpc):
    assert rpc().call("widgets", "ping") == {
        "service": "widgets",
        "cities": ["cixi", "haining", "jiaxing"],
        "version": "1.0.0",
        "deployment": "test",
    }


def test_same_event_twice_is_handled_once(widgets, rpc, token, dispatch_event):
    client = rpc(token("admin"))
    envelope = dispatch_event(
        "widgets", "widget_created", "cixi", {"widget_id": "w", "name": "twice"}
    )
    dispatch_event(
        "widgets",
        "widget_created",
        "cixi",
        {"widget_id": "w", "name": "twice"},
        event_id=envelope["event_id"],
    )
    assert wait_for(lambda: client.call("widgets", "seen") == ["twice"])
    scrape_until(
        widgets,
        'pioneer_events_handled_total{handler="on_widget_created",outcome="duplicate",'
        'service="widgets"} 1.0',
    )


def test_failing_handler_is_retried_then_dead_lettered_then_replayed(
    widgets, rpc, token, dispatch_event, amqp_uri
):
    client = rpc(token("admin"))
    client.call("widgets", "set_failing", True)
    envelope = dispatch_event(
        "widgets", "widget_created", "cixi", {"widget_id": "w", "name": "stubborn"}
    )
    # Two retries one second apart (test config), then parked.
    wait_for(lambda: dead_letter_count(amqp_uri, "widgets") == 1, timeout=20)
    parked = list_dead_letters(amqp_uri, "widgets")
    assert parked[0]["event_id"] == envelope["event_id"]
    assert parked[0]["attempts"] == 3 and "failing on purpose" in parked[0]["error"]
    assert parked[0]["queue"] == "evt-widgets-widget_created--widgets.on_widget_created"
    assert dead_letter_count(amqp_uri, "widgets") == 1  # listing does not consume
    scrape_until(
        widgets,
        'pioneer_events_failed_total{action="retry",handler="on_widget_created",service="widgets"} 2.0',
        'pioneer_events_failed_total{action="dead_letter",handler="on_widget_created",service="widgets"} 1.0',
    )

    client.call("widgets", "set_failing", False)
    assert replay_dead_letters(amqp_uri, "widgets") == 1
    assert wait_for(lambda: client.call("widgets", "seen") == ["stubborn"])
    assert dead_letter_count(amqp_uri, "widgets") == 0


def test_event_retry_and_dead_letter_queues_are_quorum_queues_and_rpc_stays_classic(
    widgets, rpc, token, dispatch_event, amqp_uri, rabbit_admin, vhost
):
    # Through a retry (the retry queue is declared when first used) to the dead-letter queue.
    rpc(token("admin")).call("widgets", "set_failing", True)
    dispatch_event("widgets", "widget_created", "cixi", {"widget_id": "w", "name": "quorum"})
    wait_for(lambda: dead_letter_count(amqp_uri, "widgets") == 1, timeout=20)
    types = {queue["name"]: queue.get("type") for queue in rabbit_admin.queues(vhost)}
    durable = [name for name in types if name.startswith(("evt-", "widgets.retry.", "widgets.dlq"))]
    assert "evt-widgets-widget_created--widgets.on_widget_created" in durable
    assert any(name.startswith("widgets.retry.") for name in durable)
    assert {types[name] for name in durable} == {"quorum"}
    assert types["rpc-widgets"] == "classic"
    retry = next(n for n in durable if n.startswith("widgets.retry."))
    arguments = rabbit_admin.queue(vhost, retry)["arguments"]
    assert arguments["x-dead-letter-strategy"] == "at-least-once"


def test_poison_message_is_parked_without_retries(widgets, amqp_uri):
    from nameko.standalone.events import event_dispatcher

    event_dispatcher({"AMQP_URI": amqp_uri})("widgets", "widget_created", {"not": "an envelope"})
    wait_for(lambda: dead_letter_count(amqp_uri, "widgets") == 1, timeout=10)
    parked = list_dead_letters(amqp_uri, "widgets")
    assert parked[0]["attempts"] == 1 and "not an event envelope" in parked[0]["error"]


def test_outbox_rows_written_while_down_are_published_at_start(
    start_service, service_config, rpc, token
):
    engine = make_engine(service_config["DATABASE_URL"], 2)
    migrate(engine, WidgetService.migrations)
    with UnitOfWork(engine, ["cixi"]) as uow:
        uow.emit("widget_created", "cixi", {"widget_id": "w", "name": "waiting"})
    engine.dispose()
    start_service(WidgetService, service_config)
    assert wait_for(lambda: rpc(token("ops")).call("widgets", "seen") == ["waiting"])


def test_crash_is_counted_as_error_and_service_keeps_serving(widgets, rpc, token):
    client = rpc(token("ops"))
    with pytest.raises(RemoteError) as excinfo:
        client.call("widgets", "crash")
    assert excinfo.value.exc_type == "RuntimeError"
    assert client.call("widgets", "ping")["service"] == "widgets"
    scrape_until(
        widgets, 'pioneer_rpc_requests_total{method="crash",outcome="error",service="widgets"} 1.0'
    )


def test_replies_are_answered_without_confirms_and_unencodable_results_fail_cleanly(
    widgets, rpc, token
):
    client = rpc(token("ops"))
    with pytest.raises(RemoteError) as excinfo:
        client.call("widgets", "unserializable")
    assert excinfo.value.exc_type == "UnserializableValueError"
    # Replies and errors keep flowing on the same connection afterwards.
    assert [client.call("widgets", "ping")["service"] for _ in range(20)] == ["widgets"] * 20
    with pytest.raises(RemoteError) as excinfo:
        client.call("widgets", "get_widget", widget_id="cixi-wdg-01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert excinfo.value.exc_type == "NotFound"


def test_metrics_and_health_over_http(widgets, rpc, token):
    client = rpc(token("admin"))
    with pytest.raises(RemoteError):
        client.call("widgets", "get_widget", "cixi-wdg-01ARZ3NDEKTSV4RRFFQ69G5FAV")
    client.call("widgets", "create_widget", "cixi", "lamp")
    scrape_until(
        widgets,
        'pioneer_rpc_requests_total{method="get_widget",outcome="NotFound",service="widgets"} 1.0',
        'pioneer_rpc_requests_total{method="create_widget",outcome="ok",service="widgets"} 1.0',
        'pioneer_rpc_duration_seconds_bucket{le="0.25",method="create_widget",service="widgets"} 1.0',
        'pioneer_outbox_backlog{service="widgets"}',
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port(widgets)}/health") as response:
        health = json.loads(response.read())
    assert response.status == 200
    assert health["status"] == "ok" and health["checks"]["database"] == "ok"


def test_concurrent_calls_are_served_in_parallel(widgets, rpc, token):
    client = rpc(token("admin"))
    replies = [client.call_async("widgets", "create_widget", "haining", f"w{i}") for i in range(60)]
    names = sorted(r.result()["name"] for r in replies)
    assert names == sorted(f"w{i}" for i in range(60))
    assert wait_for(lambda: len(client.call("widgets", "seen")) == 60)


def scrape(container) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port(container)}/metrics") as response:
        return response.read().decode()


def scrape_until(container, *lines: str) -> str:
    """Metrics once they show ``lines`` (nameko replies before the worker's metrics are recorded)."""
    return wait_for(
        lambda: next((m for m in [scrape(container)] if all(line in m for line in lines)), None)
    )


def test_psycopg2_is_cooperative_under_eventlet(postgres_url):
    import time

    import psycopg2

    def sleep_in_database():
        conn = psycopg2.connect(postgres_url)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_sleep(0.3)")
        conn.close()

    started = time.monotonic()
    pool = eventlet.GreenPool()
    for _ in range(5):
        pool.spawn(sleep_in_database)
    pool.waitall()
    assert time.monotonic() - started < 1.0  # five 0.3 s sleeps overlapped


def test_models_match_migrations(db_url):
    from pioneer.db import kernel_metadata
    from pioneer.testing.schema import schema_drift

    assert schema_drift(db_url, WidgetService.migrations, [Base.metadata, kernel_metadata]) == []


def test_an_internal_error_reaches_the_caller_without_its_text(widgets, rpc, token):
    with pytest.raises(RemoteError) as excinfo:
        rpc(token("ops")).call("widgets", "crash")
    assert excinfo.value.exc_type == "RuntimeError"
    assert "a bug" not in str(excinfo.value.value)
    assert "internal error; the service's log has it under call id widgets.crash." in str(
        excinfo.value.value
    )


def test_database_errors_carry_no_parameters_and_sqlite_files_are_private(db_url, tmp_path):
    import stat

    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    engine = make_engine(db_url, 2)
    try:
        person = {"p": "13812345678", "name": "李梅", "address": "南关厢社区 3 幢"}
        with engine.begin() as conn:
            conn.execute(
                text("CREATE TABLE people (phone VARCHAR(20) PRIMARY KEY, name TEXT, address TEXT)")
            )
            conn.execute(text("INSERT INTO people VALUES (:p, :name, :address)"), person)
        with pytest.raises(IntegrityError) as excinfo, engine.begin() as conn:
            conn.execute(text("INSERT INTO people VALUES (:p, :name, :address)"), person)
        # The statement's parameters stay out of the error (PostgreSQL's own detail may name
        # the key, which the logs mask as a phone).
        assert "李梅" not in str(excinfo.value) and "南关厢" not in str(excinfo.value)
        if db_url.startswith("sqlite"):
            database = db_url.split("///", 1)[1]
            assert stat.S_IMODE(os.stat(database).st_mode) == 0o600
    finally:
        engine.dispose()
