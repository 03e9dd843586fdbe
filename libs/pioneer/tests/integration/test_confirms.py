"""Pipelined publisher confirms on the real broker: a batch is confirmed whole or fails whole."""

from __future__ import annotations

import pytest
from kombu import Connection, Exchange, Queue

from pioneer.confirms import OutgoingMessage, PipelinedPublisher, PublishNotConfirmed

EXCHANGE = Exchange("widgets.events", type="topic", durable=True)


def _bound_queue(amqp_uri: str, name: str, **arguments) -> Queue:
    queue = Queue(name, EXCHANGE, routing_key="#", durable=True, queue_arguments=arguments)
    with Connection(amqp_uri) as conn:
        queue(conn.default_channel).declare()
    return queue


def _drain(amqp_uri: str, queue: Queue) -> list[dict]:
    got = []
    with Connection(amqp_uri) as conn:
        simple = conn.SimpleQueue(queue)
        while True:
            try:
                message = simple.get(timeout=1)
            except simple.Empty:
                break
            got.append(message.payload)
            message.ack()
        simple.close()
    return got


def test_a_batch_is_sent_then_confirmed_in_one_wait_and_arrives_in_order(amqp_uri):
    queue = _bound_queue(amqp_uri, "confirmed")
    publisher = PipelinedPublisher(amqp_uri, EXCHANGE)
    try:
        batch = [OutgoingMessage({"n": n}, "widget_made", {"x-n": n}) for n in range(300)]
        assert publisher.publish(batch) == 300
        assert publisher.publish([OutgoingMessage({"n": 300}, "widget_made")]) == 1
    finally:
        publisher.close()
    assert [m["n"] for m in _drain(amqp_uri, queue)] == list(range(301))


def test_a_batch_the_broker_refuses_in_part_fails_whole_and_the_next_one_goes_through(amqp_uri):
    # A full queue that rejects publishes makes the broker nack what it cannot take.
    queue = _bound_queue(amqp_uri, "full", **{"x-max-length": 2, "x-overflow": "reject-publish"})
    publisher = PipelinedPublisher(amqp_uri, EXCHANGE)
    try:
        with pytest.raises(PublishNotConfirmed, match="refused 3 of 5"):
            publisher.publish(OutgoingMessage({"n": n}, "widget_made") for n in range(5))
        assert [m["n"] for m in _drain(amqp_uri, queue)] == [0, 1]
        # A new connection for the next batch, which the broker now takes.
        assert publisher.publish([OutgoingMessage({"n": 9}, "widget_made")]) == 1
    finally:
        publisher.close()
    assert [m["n"] for m in _drain(amqp_uri, queue)] == [9]
