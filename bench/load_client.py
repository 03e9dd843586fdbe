"""One process of ``make bench``'s load generator: nameko's RPC protocol spoken directly.

``python -m bench.load_client SPEC`` reads a JSON spec (``amqp_uri``, ``authorization``,
``calls`` as ``[service, method, args, kwargs]``, ``inflight``, ``start_at`` in Unix seconds,
``timeout_s``), connects with plain kombu (no eventlet, no ``ClusterRpcProxy``), and from
``start_at`` keeps ``inflight`` calls outstanding until every call is answered. It publishes to
``nameko-rpc`` with the routing key ``service.method``, a ``reply_to`` queue named as nameko
names one (so the broker's ``client`` user may declare it), a correlation id and the token in
the ``nameko.authorization`` header, exactly as nameko's proxy would. It prints one JSON
object: latencies, errors by type, timeouts, wall seconds and its own CPU seconds.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import uuid
from typing import Any

from kombu import Connection, Consumer, Exchange, Producer, Queue


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Drive ``spec["calls"]`` with ``spec["inflight"]`` outstanding; what it measured."""
    calls = spec["calls"]
    inflight = max(1, int(spec["inflight"]))
    headers = {"nameko.authorization": spec["authorization"]} if spec.get("authorization") else {}
    pending: dict[str, float] = {}
    latencies: list[float] = []
    errors: dict[str, int] = {}

    def on_reply(body: Any, message: Any) -> None:
        began = pending.pop(message.properties.get("correlation_id"), None)
        if began is None:
            return
        latencies.append(time.perf_counter() - began)
        error = body.get("error") if isinstance(body, dict) else None
        if error:
            kind = str(error.get("exc_type"))
            errors[kind] = errors.get(kind, 0) + 1

    with Connection(spec["amqp_uri"]) as connection:
        channel = connection.channel()
        exchange = Exchange("nameko-rpc", type="topic", durable=True)
        reply_key = str(uuid.uuid4())
        queue = Queue(
            f"rpc.reply-bench_load-{reply_key}",
            exchange=exchange,
            routing_key=reply_key,
            exclusive=True,
            auto_delete=True,
        )
        consumer = Consumer(channel, [queue], callbacks=[on_reply], accept=["json"], no_ack=True)
        consumer.consume()
        producer = Producer(channel, exchange=exchange, serializer="json")

        def publish(index: int) -> None:
            service, method, args, kwargs = calls[index]
            correlation_id = uuid.uuid4().hex
            pending[correlation_id] = time.perf_counter()
            producer.publish(
                {"args": args, "kwargs": kwargs},
                routing_key=f"{service}.{method}",
                reply_to=reply_key,
                correlation_id=correlation_id,
                headers=headers,
            )

        time.sleep(max(0.0, spec["start_at"] - time.time()))
        cpu_before = _cpu_seconds()
        began = time.perf_counter()
        sent = 0
        timeouts = 0
        while sent < len(calls) and sent < inflight:
            publish(sent)
            sent += 1
        while pending:
            try:
                connection.drain_events(timeout=spec["timeout_s"])
            except TimeoutError:
                # Nothing answered for timeout_s: the outstanding and the unsent calls fail.
                timeouts = len(pending) + len(calls) - sent
                break
            while sent < len(calls) and len(pending) < inflight:
                publish(sent)
                sent += 1
        seconds = time.perf_counter() - began
        cpu = _cpu_seconds() - cpu_before
    return {
        "latencies": latencies,
        "errors": errors,
        "timeouts": timeouts,
        "seconds": seconds,
        "cpu_s": cpu,
    }


if __name__ == "__main__":
    with open(sys.argv[1]) as spec_file:
        json.dump(run(json.load(spec_file)), sys.stdout)
