"""Batch event handlers (``pioneer.batching``) in a real container on the real broker, on
SQLite and PostgreSQL: bursts are taken in batches, every event is still handled once, and a
bad event is retried and parked alone while the rest of its batch commits."""

from __future__ import annotations

import time
import uuid

import eventlet
import pytest
from kombu import Connection, Queue
from nameko.standalone.events import event_dispatcher
from test_kernel_service import scrape_until
from widgets import WidgetService

from pioneer import db
from pioneer.db import UnitOfWork, make_engine, migrate
from pioneer.dlq import dead_letter_count, list_dead_letters
from pioneer.federation import events_exchange
from pioneer.queues import QUORUM
from pioneer.testing.fixtures import wait_for


@pytest.fixture
def widgets(start_service, service_config):
    WidgetService.batch_sizes.clear()
    return start_service(WidgetService, service_config)


def burst(amqp_uri: str, names: list[str], repeat: list[dict] | None = None) -> list[dict]:
    """Publish a ``slow`` event, then ``names`` (and ``repeat``, envelopes sent again) from ten
    greenthreads at once, as a busy producer would. The envelopes sent, ``slow`` first."""
    dispatch = event_dispatcher({"AMQP_URI": amqp_uri})
    envelopes = [db.envelope("widget_counted", "cixi", "cixi", {"name": "slow"})]
    dispatch("widgets", "widget_counted", envelopes[0])
    envelopes += [db.envelope("widget_counted", "cixi", "cixi", {"name": n}) for n in names]
    pool = eventlet.GreenPool(10)
    for envelope in envelopes[1:] + (repeat or []):
        pool.spawn_n(dispatch, "widgets", "widget_counted", envelope)
    pool.waitall()
    return envelopes


def seen(rpc, token) -> list[str]:
    return rpc(token("ops")).call("widgets", "seen")


COUNTED = "evt-widgets-widget_counted--widgets.on_widgets_counted"


def left_in_queue(amqp_uri: str, queue: str) -> int:
    """Messages in ``queue``; once its consumer has stopped, the unacknowledged are back."""
    with Connection(amqp_uri) as connection:
        return connection.default_channel.queue_declare(queue, passive=True).message_count


def test_a_burst_is_taken_in_batches_and_each_event_handled_once(widgets, rpc, token, amqp_uri):
    names = [f"n{i:03d}" for i in range(200)]
    envelopes = burst(amqp_uri, names)
    burst(amqp_uri, [], repeat=envelopes[1:11])  # ten delivered again, after the first time
    assert wait_for(lambda: len(seen(rpc, token)) == 202, timeout=30)
    assert seen(rpc, token) == sorted([*names, "slow", "slow"])
    assert max(WidgetService.batch_sizes) > 1  # the burst queued behind the slow batch
    scrape_until(
        widgets,
        'pioneer_events_handled_total{handler="on_widgets_counted",outcome="ok",'
        'service="widgets"} 202.0',
        'pioneer_events_handled_total{handler="on_widgets_counted",outcome="duplicate",'
        'service="widgets"} 10.0',
    )
    widgets.stop()  # every message was acknowledged: nothing comes back
    assert left_in_queue(amqp_uri, COUNTED) == 0


def test_a_repeat_inside_one_batch_is_a_duplicate(widgets, rpc, token, amqp_uri):
    one = db.envelope("widget_counted", "cixi", "cixi", {"name": "twice"})
    burst(amqp_uri, [], repeat=[one, dict(one), dict(one)])
    assert wait_for(lambda: seen(rpc, token) == ["slow", "twice"], timeout=10)
    scrape_until(
        widgets,
        'pioneer_events_handled_total{handler="on_widgets_counted",outcome="duplicate",'
        'service="widgets"} 2.0',
    )


def test_a_bad_event_is_retried_and_parked_alone(widgets, rpc, token, amqp_uri):
    names = [f"g{i:02d}" for i in range(50)]
    burst(amqp_uri, [*names[:25], "bad", *names[25:]])
    assert wait_for(lambda: len(seen(rpc, token)) == 51, timeout=20)
    wait_for(lambda: dead_letter_count(amqp_uri, "widgets") == 1, timeout=20)
    parked = list_dead_letters(amqp_uri, "widgets")
    assert parked[0]["attempts"] == 3 and "a bad event in the batch" in parked[0]["error"]
    assert parked[0]["queue"] == COUNTED
    assert sorted(seen(rpc, token)) == sorted([*names, "slow"])
    scrape_until(
        widgets,
        'pioneer_events_failed_total{action="dead_letter",handler="on_widgets_counted",'
        'service="widgets"} 1.0',
    )
    widgets.stop()  # the batch's successes acknowledged, the bad one parked
    assert left_in_queue(amqp_uri, COUNTED) == 0


def test_poison_skipped_and_ignored_events_in_a_batch(widgets, rpc, token, amqp_uri):
    dispatch = event_dispatcher({"AMQP_URI": amqp_uri})
    envelopes = burst(amqp_uri, ["a", "skip", "ignore", "b"])
    dispatch("widgets", "widget_counted", {"not": "an envelope"})
    assert wait_for(lambda: seen(rpc, token) == ["a", "b", "slow"], timeout=10)
    wait_for(lambda: dead_letter_count(amqp_uri, "widgets") == 1, timeout=10)
    assert list_dead_letters(amqp_uri, "widgets")[0]["attempts"] == 1  # no retries for poison
    assert len(envelopes) == 5
    scrape_until(
        widgets,
        'pioneer_events_handled_total{handler="on_widgets_counted",outcome="skipped",'
        'service="widgets"} 1.0',
        'pioneer_events_handled_total{handler="on_widgets_counted",outcome="ignored",'
        'service="widgets"} 1.0',
    )


def test_stopping_mid_burst_loses_nothing(
    widgets, start_service, service_config, rpc, token, amqp_uri
):
    names = [f"s{i:03d}" for i in range(300)]
    burst(amqp_uri, names)
    wait_for(lambda: WidgetService.batch_sizes, timeout=10)
    widgets.stop()  # the slow batch finishes; what waits behind it goes back to the queue
    start_service(WidgetService, service_config)
    assert wait_for(lambda: len(seen(rpc, token)) == 301, timeout=30)
    assert sorted(seen(rpc, token)) == sorted([*names, "slow"])


def test_a_trickle_is_taken_together_after_the_linger(widgets, rpc, token, dispatch_event):
    WidgetService.lingered_batches.clear()
    for n in range(5):  # one at a time, each publish confirmed before the next
        dispatch_event("widgets", "widget_lingered", "cixi", {"name": f"t{n}"})
    assert wait_for(lambda: len(seen(rpc, token)) == 5, timeout=10)
    assert WidgetService.lingered_batches == [5]


def test_a_burst_does_not_wait_a_linger_per_full_batch(widgets, rpc, token, amqp_uri):
    dispatch = event_dispatcher({"AMQP_URI": amqp_uri})
    pool = eventlet.GreenPool(10)
    started = time.monotonic()
    for n in range(60):
        envelope = db.envelope("widget_surged", "cixi", "cixi", {"name": f"u{n:02d}"})
        pool.spawn_n(dispatch, "widgets", "widget_surged", envelope)
    pool.waitall()
    # Six batches of ten: one linger (2 s) for the first, then each full batch goes at once
    # (a linger each would take 12 s).
    assert wait_for(lambda: len(seen(rpc, token)) == 60, timeout=20)
    assert time.monotonic() - started < 6


def test_peers_only_takes_federated_copies_and_the_broker_keeps_own_events_away(
    widgets, rpc, token, amqp_uri, dispatch_event
):
    # This deployment's own events, as its relay publishes them: the broker routes none of
    # them to the peers-only queue.
    for n, origin in enumerate(["cixi", "haining"]):
        dispatch_event(
            "widgets", "widget_federated", "cixi", {"name": f"own{n}"}, origin_city=origin
        )
    # Copies forwarded by RabbitMQ's federation plugin, which marks each one; the last is a
    # copy of an own event coming back (federation with more than one hop).
    for n, origin in enumerate(["ningbo", "shaoxing", "cixi"]):
        dispatch_event(
            "widgets",
            "widget_federated",
            origin,
            {"name": f"{origin}{n}"},
            origin_city=origin,
            federated_from="ningbo",
        )
    assert wait_for(lambda: seen(rpc, token) == ["ningbo0", "shaoxing1"], timeout=10)
    # Only the three marked copies reached the handler: two handled, the own one skipped.
    scrape_until(
        widgets,
        'pioneer_events_handled_total{handler="on_peer_widgets",outcome="skipped",'
        'service="widgets"} 1.0',
        'pioneer_events_handled_total{handler="on_peer_widgets",outcome="ok",'
        'service="widgets"} 2.0',
    )


def test_a_queue_made_peers_only_loses_its_direct_binding(
    start_service, service_config, amqp_uri, vhost, rabbit_admin
):
    name = "evt-widgets-widget_federated--widgets.on_peer_widgets"
    with Connection(amqp_uri) as connection:  # as an earlier release bound it
        queue = Queue(
            name,
            events_exchange("widgets"),
            "widget_federated",
            durable=True,
            queue_arguments=QUORUM,
        )
        queue(connection.channel()).declare()
    assert ("widgets.events", {}) in routes(rabbit_admin.bindings(vhost, name))
    start_service(WidgetService, service_config)
    assert routes(rabbit_admin.bindings(vhost, name)) == [
        ("", {}),  # the default exchange's
        # (The management API shows the void that matches by presence as "undefined".)
        ("widgets.events.peers", {"x-match": "any-with-x", "x-received-from": "undefined"}),
    ]


def routes(bindings: list[dict]) -> list[tuple[str, dict]]:
    return sorted((b["source"], b["arguments"]) for b in bindings)


def test_first_times_records_each_event_once(db_url):
    engine = make_engine(db_url, 2)
    try:
        migrate(engine, WidgetService.migrations)
        a, b, c = (str(uuid.uuid4()) for _ in range(3))
        with UnitOfWork(engine, ["cixi"]) as uow:
            assert uow.first_times([a, b, a], "h") == {a, b}
        with UnitOfWork(engine, ["cixi"]) as uow:
            assert uow.first_times([a, c], "h") == {c}
            assert uow.first_times([a], "other") == {a}  # per handler
        with pytest.raises(RuntimeError), UnitOfWork(engine, ["cixi"]) as uow:
            assert uow.first_times([str(uuid.uuid4())], "h")
            uow.emit("widget_created", "cixi", {"name": "rolled back"})
            raise RuntimeError("nothing of this unit of work is written")
        with engine.connect() as conn:
            assert conn.execute(db.processed_events.select()).all().__len__() == 4
            assert conn.execute(db.outbox.select()).all() == []
    finally:
        engine.dispose()
