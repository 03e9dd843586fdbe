"""The notify part of ``make bench``: a fan-out to ``--fanout`` inboxes (10,000 by default) and
the inbox at 1,000,000 stored notifications.

1. ``--fanout`` volunteers of Cixi, all with the skill ``elderly_care`` and located within 2 km of
   one point, enter notify's directory. The first ``BY_EVENTS`` (10,000) are registered through
   ``volunteer_registered`` events (published on the bench vhost as the volunteers service
   would), and the bench waits until notify's replica holds all of them: that measures the
   directory's intake. Any beyond are bulk-written into notify's database, because at the
   intake's rate (about 700 events a second) 100,000 would take minutes of the run for no
   new figure: through the very code notify's handlers run for those events
   (``pioneer.replica.apply_volunteer_events`` and ``NotifyStore.reindex``), in transactions
   of ``SEED_CHUNK`` volunteers, so the directory is what the events would have left.
2. One ``wish_published`` at that point is dispatched; the clock runs from the dispatch until
   the last inbox row of that event is visible in notify's database (polled every 20 ms).
   Target: all within 10 s. notify stores a fan-out in parts of ``FANOUT_CHUNK`` recipients,
   one transaction each, and announces each part with one ``notification_sent``: the result
   counts those events (the parts, so the transactions) and their ``count`` (each row once).
3. 1,000,000 notifications are bulk-seeded straight into notify's ``notifications`` table (the
   service's own table, through its model; 20,000 recipients with 50 each, ids in time order as
   the service makes them, a fifth read), then ``inbox`` is called over RPC for random
   recipients, newest first, a page of 20, half of the calls ``unread_only``: with 10 clients
   for throughput and with one client for latency. Target: p99 < 20 ms with one client.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from nameko.standalone.events import event_dispatcher
from sqlalchemy import create_engine, func, select

from pioneer import bulk, clock, db, ids
from pioneer.testing.fixtures import volunteer_event

from .measure import Result

if TYPE_CHECKING:
    from .harness import Bench

CENTRE = {"lat": 30.1690, "lon": 121.2660}  # Zhangqi town, Cixi
SPREAD_M = 2000
SKILL = "elderly_care"
SEED_TIMEOUT_S = 300.0
FANOUT_TIMEOUT_S = 120.0
RECIPIENTS = 20_000
SEED_CHUNK = 20_000
BY_EVENTS = 10_000  # volunteers registered through events; the rest bulk-written
TARGET_S = 10.0
SINGLE_CLIENT_CALLS = 500

TARGETS: list[tuple[str, str, str, float]] = [
    ("notify.inbox p99 < 20 ms at 1,000,000 (1 client)", "notify.inbox (1 client)", "p99", 20),
]


def _point(rng: random.Random) -> dict[str, float]:
    distance = SPREAD_M * math.sqrt(rng.random())
    angle = rng.uniform(0, 2 * math.pi)
    return {
        "lat": CENTRE["lat"] + distance * math.cos(angle) / 111_195,
        "lon": CENTRE["lon"]
        + distance * math.sin(angle) / (111_195 * math.cos(math.radians(CENTRE["lat"]))),
    }


def _count(engine: Any, statement: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(statement).scalar_one()


def seed_directory_by_events(
    bench: Bench, count: int, rng: random.Random
) -> tuple[list[str], float]:
    """``count`` matching volunteers through ``volunteer_registered``; their ids and the seconds
    until notify's replica held them all."""
    from pioneer.replica import volunteer_replica

    engine = create_engine(bench.deployment.database_url("notify"))
    # Published as the volunteers service (only it may publish to volunteers.events).
    dispatch = event_dispatcher({"AMQP_URI": bench.deployment.amqp_uri(role="volunteers")})
    volunteers = [ids.new_id("cixi", "vol") for _ in range(count)]
    # Earlier parts of a full run (volunteers' register) have put others into the replica.
    held = select(func.count()).select_from(volunteer_replica)
    expected = _count(engine, held) + count
    started = time.monotonic()
    try:
        for volunteer_id in volunteers:
            data = volunteer_event(volunteer_id, skills=[SKILL, "errands"], location=_point(rng))
            dispatch(
                "volunteers",
                "volunteer_registered",
                db.envelope("volunteer_registered", "cixi", "cixi", data),
            )
        while _count(engine, held) < expected:
            if time.monotonic() - started > SEED_TIMEOUT_S:
                raise RuntimeError("notify's directory did not receive the volunteers' events")
            time.sleep(0.2)
    finally:
        engine.dispose()
    return volunteers, time.monotonic() - started


def seed_directory_in_bulk(bench: Bench, count: int, rng: random.Random) -> tuple[list[str], float]:
    """``count`` more matching volunteers written into notify's directory as its handlers of
    ``volunteer_registered`` write them (the replica, then its skill index), ``SEED_CHUNK`` to a
    transaction; their ids and the seconds it took."""
    from sqlalchemy.orm import Session

    from notify.store import NotifyStore
    from pioneer.events import parse_event
    from pioneer.replica import apply_volunteer_events

    engine = db.make_engine(bench.deployment.database_url("notify"), 2)
    volunteers = [ids.new_id("cixi", "vol") for _ in range(count)]
    started = time.monotonic()
    try:
        for start in range(0, count, SEED_CHUNK):
            events = [
                parse_event(
                    db.envelope(
                        "volunteer_registered",
                        "cixi",
                        "cixi",
                        volunteer_event(v, skills=[SKILL, "errands"], location=_point(rng)),
                    )
                )
                for v in volunteers[start : start + SEED_CHUNK]
            ]
            with Session(engine) as session, session.begin():
                NotifyStore(session).reindex(apply_volunteer_events(session, events))
    finally:
        engine.dispose()
    return volunteers, time.monotonic() - started


def fan_out(bench: Bench, expected: int) -> tuple[float, int, int]:
    """Seconds from dispatching one ``wish_published`` to its ``expected``-th inbox row; then
    the ``notification_sent`` events of that wish (one per part, so per transaction) and the
    rows they announce, once all have reached notify's outbox."""
    from notify.models import Notification

    table = Notification.__table__
    engine = create_engine(bench.deployment.database_url("notify"))
    data = {
        "wish_id": ids.new_id("cixi", "wish"),
        "city": "cixi",
        "status": "published",
        "title": "独居老人需要陪伴",
        "category": SKILL,
        "location": CENTRE,
        "deadline": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
        "version": 2,
    }
    envelope = db.envelope("wish_published", "cixi", "cixi", data)
    stored = select(func.count()).where(
        table.c.source_event_id == envelope["event_id"], table.c.channel == "inbox"
    )
    try:
        started = time.monotonic()
        wishes_uri = bench.deployment.amqp_uri(role="wishes")
        event_dispatcher({"AMQP_URI": wishes_uri})("wishes", "wish_published", envelope)
        while _count(engine, stored) < expected:
            if time.monotonic() - started > FANOUT_TIMEOUT_S:
                raise RuntimeError(f"fewer than {expected} inbox rows after {FANOUT_TIMEOUT_S} s")
            time.sleep(0.02)
        elapsed = time.monotonic() - started
        parts, announced = _announced(engine, envelope["event_id"])
        while announced < expected and time.monotonic() - started < FANOUT_TIMEOUT_S:
            time.sleep(0.1)  # the last part's event commits with its rows; others may lag
            parts, announced = _announced(engine, envelope["event_id"])
        return elapsed, parts, announced
    finally:
        engine.dispose()


def _announced(engine: Any, source_event_id: str) -> tuple[int, int]:
    """The ``notification_sent`` events in notify's outbox for ``source_event_id``'s inbox rows,
    and the rows they count."""
    from pioneer.db import outbox

    with engine.connect() as conn:
        payloads = conn.execute(
            select(outbox.c.payload).where(outbox.c.event_type == "notification_sent")
        ).scalars()
        counts = [
            p["data"]["count"]
            for p in payloads
            if p["data"].get("source_event_id") == source_event_id
            and p["data"].get("channel") == "inbox"
        ]
    return len(counts), sum(counts)


def seed_notifications(bench: Bench, total: int, rng: random.Random) -> tuple[list[str], float]:
    """``total`` inbox notifications over ``RECIPIENTS`` recipients, written into notify's own
    table in chunks; the recipients and the seconds it took."""
    from notify.models import Notification

    table = Notification.__table__
    engine = create_engine(bench.deployment.database_url("notify"))
    recipients = [ids.new_id("cixi", "vol") for _ in range(RECIPIENTS)]
    per = max(total // RECIPIENTS, 1)
    start_ms = int((time.time() - 90 * 86_400) * 1000)  # three months of notifications
    now = clock.utcnow()
    deadline = clock.local(now + timedelta(days=3)).strftime("%Y-%m-%d")  # as the body says it
    started = time.monotonic()
    try:
        rows: list[dict[str, Any]] = []
        made = 0
        for n in range(per):
            for recipient in recipients:
                made += 1
                rows.append(
                    {
                        "id": f"cixi-ntf-{ids.ulid(start_ms + made * 7)}",
                        "source_event_id": f"seed-{n}",
                        "recipient_id": recipient,
                        "city": "cixi",
                        "kind": "wish_published",
                        "subject_id": f"cixi-wish-seed{n}",
                        "title": "新的微心愿：想要一副老花镜",
                        "body": f"居家养老，距您约 1.2 公里，截止 {deadline} 18:00。打开应用认领。",
                        "channel": "inbox",
                        "urgent": False,
                        "status": "stored",
                        "read": rng.random() < 0.2,
                        "read_at": None,
                        "created_at": now,
                        "due_at": None,
                        "held_until": None,
                        "attempts": 0,
                        "last_error": None,
                        "sent_at": None,
                    }
                )
                if len(rows) >= SEED_CHUNK:
                    with engine.begin() as conn:
                        bulk.insert_rows(conn, table, rows)
                    rows = []
        if rows:
            with engine.begin() as conn:
                bulk.insert_rows(conn, table, rows)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")  # what an operator's bulk load would end with
    finally:
        engine.dispose()
    return recipients, time.monotonic() - started


def bench_notify(bench: Bench, args: argparse.Namespace, results: list[Result]) -> dict[str, Any]:
    """Fan-out to ``--fanout`` inboxes, then ``inbox`` at ``--notifications`` stored ones."""
    rng = random.Random(20261127)
    by_events = min(args.fanout, BY_EVENTS)
    print(f"  registering {by_events:,} volunteers in notify's directory by events", flush=True)
    _, seeded_s = seed_directory_by_events(bench, by_events, rng)
    print(f"  directory holds {by_events:,} volunteers after {seeded_s:.1f} s", flush=True)
    bulk_s = 0.0
    if args.fanout > by_events:
        _, bulk_s = seed_directory_in_bulk(bench, args.fanout - by_events, rng)
        print(f"  {args.fanout - by_events:,} more written in bulk in {bulk_s:.1f} s", flush=True)
    fanout_s, parts, announced = fan_out(bench, args.fanout)
    print(
        f"  wish_published -> {args.fanout:,} inboxes in {fanout_s:.2f} s"
        f" ({parts} transactions, {announced:,} rows announced)",
        flush=True,
    )

    print(f"  seeding {args.notifications:,} notifications into notify's table", flush=True)
    recipients, stored_s = seed_notifications(bench, args.notifications, rng)
    print(f"  seeded in {stored_s:.1f} s", flush=True)
    reader = bench.clients(bench.token("admin", "cixi"))
    pid = bench.pids("notify")
    try:

        def read(cluster: Any, i: int) -> None:
            cluster.notify.inbox(
                recipient_id=rng.choice(recipients), unread_only=i % 2 == 1, limit=20
            )

        results.append(reader.run("notify.inbox", read, args.calls, server_pid=pid))
        results.append(
            reader.run("notify.inbox (1 client)", read, SINGLE_CLIENT_CALLS, 1, server_pid=pid)
        )
        results.append(
            bench.raw().run(
                "notify.inbox (raw)", read, args.calls * 2, bench.token("admin", "cixi")
            )
        )
    finally:
        reader.close()
    return {
        "directory_by_events": {"volunteers": by_events, "seconds": round(seeded_s, 2)},
        "directory_in_bulk": {"volunteers": args.fanout - by_events, "seconds": round(bulk_s, 2)},
        "fan_out": {
            "recipients": args.fanout,
            "seconds": round(fanout_s, 3),
            "transactions": parts,
            "rows_announced": announced,
            "target_s": TARGET_S,
            "met": fanout_s < TARGET_S,
        },
        "seeded_notifications": {"rows": args.notifications, "seconds": round(stored_s, 1)},
        "recipients_sample": recipients[:20],
    }
