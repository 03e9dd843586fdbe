"""``make bench --only points``: the ledger at province scale and event throughput.

- Seeding: ``--entries`` ledger entries (default 1,000,000) over ``--volunteers`` volunteers
  (default 150,000) of the three cities, bulk-inserted into the points database BEFORE the
  service starts, through the service's own models and rules: each entry is a check-in made
  by ``points.domain.checkin_credit``, with its balance row and its totals for all time, its
  year and its month (``points.domain.periods_of``) computed from the same entries, so the
  database is exactly what booking those entries one by one would have left.
- Event throughput: ``--events`` check-in envelopes dispatched to a bare nameko handler (echo's
  ``on_checked_in``, which only counts) and then the same number to ``stations.events``, where
  points credits each one (entry, balance, totals, outbox); events/s from the first dispatch
  until the last one is counted / credited.
- ``leaderboard`` (a city, all cities, a month) with 1 and 10 clients, and ``balance``.
- ``redeem``: one unit of one of the 100 items of haining's catalog (cost 1) per call, each
  call its own volunteer in turn and its own idempotency key, through the proxy and the raw
  generator; the stock left is checked against the calls made.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta
from typing import Any

import eventlet
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from pioneer import db, ids
from pioneer.testing.moments import month_periods_before_now, this_year

from .measure import Result, process_cpu_seconds

CITIES = ["cixi", "haining", "jiaxing"]
# redeem's catalog: a city's catalog of items, each redeemed by many volunteers in turn. All
# calls on one item queue on its stock row's lock until each commit (bench/README.md).
CATALOG_ITEMS = 100
ITEM_STOCK = 100_000
TARGETS: list[tuple[str, str, str, float]] = [
    ("points.leaderboard p99 < 50 ms (1 client)", "points.leaderboard (1 client)", "p99", 50),
    ("points.balance ≥ 0.8 × echo", "points.balance", "ratio", 0.8),
    (
        "check-in events credited ≥ 0.8 × bare handler",
        "points: check-in events credited",
        "vs:echo: bare event handler",
        0.8,
    ),
]


def seed(database_url: str, entries: int, volunteers: int, rng: random.Random) -> dict[str, Any]:
    """Bulk-insert ``entries`` consistent check-in entries over ``volunteers`` volunteers."""
    from pioneer import bulk, clock
    from pioneer.db import make_engine, migrate
    from pioneer.replica import volunteer_replica
    from points import domain
    from points.models import Balance, LedgerEntry, Total
    from points.service import PointsService

    began = time.perf_counter()
    engine = make_engine(database_url, 2)
    migrate(engine, PointsService.migrations)
    people = [ids.new_id(rng.choice(CITIES), "vol") for _ in range(volunteers)]
    # Entries spread over the 330 days before now, so "this year" and recent months have some.
    start = clock.utcnow() - timedelta(days=330)
    balances: dict[str, int] = {}
    totals: dict[tuple[str, str], list[float]] = {}
    now = clock.utcnow()
    try:
        batch: list[dict[str, Any]] = []
        for n in range(entries):
            # Every volunteer has at least one entry; the rest land unevenly (a quarter of the
            # volunteers do half the work).
            volunteer_id = (
                people[n] if n < volunteers else people[int(volunteers * rng.random() ** 2)]
            )
            city = ids.city_of(volunteer_id)
            earned = domain.checkin_credit(
                ids.new_id("cixi", "act"), volunteer_id, rng.choice([2, 3, 5, 8, 10]), 2.0
            )
            at = start + timedelta(minutes=rng.randrange(0, 330 * 24 * 60))
            batch.append(
                {
                    "id": ids.new_id(city, "pe"),
                    "volunteer_id": volunteer_id,
                    "city": city,
                    "kind": earned.kind,
                    "delta": earned.delta,
                    "reason": earned.reason,
                    "hours": earned.hours,
                    "source_event_id": None,
                    "source_key": earned.source_key,
                    "redemption_id": None,
                    "actor": None,
                    "at": at,
                    "recorded_at": now,
                }
            )
            balances[volunteer_id] = balances.get(volunteer_id, 0) + earned.delta
            for period in domain.periods_of(at):
                total = totals.setdefault((period, volunteer_id), [0, 0.0, 0])
                total[0] += earned.delta
                total[1] += earned.hours
                total[2] += earned.activities
            if len(batch) == 50_000:
                with engine.begin() as conn:
                    bulk.insert_rows(conn, LedgerEntry.__table__, batch)
                batch = []
        if batch:
            with engine.begin() as conn:
                bulk.insert_rows(conn, LedgerEntry.__table__, batch)
        rows = [
            {
                "volunteer_id": v,
                "city": ids.city_of(v),
                "balance": b,
                "earned": b,
                "spent": 0,
                "updated_at": now,
            }
            for v, b in balances.items()
        ]
        with engine.begin() as conn:
            for i in range(0, len(rows), 50_000):
                bulk.insert_rows(conn, Balance.__table__, rows[i : i + 50_000])
        total_rows = [
            {
                "period": period,
                "volunteer_id": v,
                "city": ids.city_of(v),
                "points": int(t[0]),
                "hours": t[1],
                "activities": int(t[2]),
                "wishes": 0,
                "requests": 0,
            }
            for (period, v), t in totals.items()
        ]
        with engine.begin() as conn:
            for i in range(0, len(total_rows), 50_000):
                bulk.insert_rows(conn, Total.__table__, total_rows[i : i + 50_000])
        # The redeemers as the volunteers service's events would have left them in points'
        # replica (redeem checks the volunteer is known and in good standing).
        redeemers = [v for v, b in balances.items() if b >= 10 and ids.city_of(v) == "haining"]
        redeemers = redeemers[:5000]
        replica_rows = [
            {
                "volunteer_id": v,
                "city": "haining",
                "status": "active",
                "suspended_until": None,
                "skills": [],
                "lat": None,
                "lon": None,
                "version": 1,
                "updated_at": now,
            }
            for v in redeemers
        ]
        with engine.begin() as conn:
            bulk.insert_rows(conn, volunteer_replica, replica_rows)
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return {
        "entries": entries,
        "volunteers": len(balances),
        "totals_rows": len(total_rows),
        "seconds": round(time.perf_counter() - began, 1),
        "sample": people[:50],
        "redeemers": redeemers,  # haining's volunteers with points to spend
    }


def _checkins(count: int, rng: random.Random) -> list[dict[str, Any]]:
    envelopes = []
    for _ in range(count):
        city = rng.choice(CITIES)
        volunteer_id = ids.new_id(city, "vol")
        data = {
            "activity_id": ids.new_id("cixi", "act"),
            "station_id": ids.new_id("cixi", "st"),
            "volunteer_id": volunteer_id,
            "volunteer_city": city,
            "hours": 2.0,
            "points": 5,
            "checked_in_at": None,
        }
        envelopes.append(db.envelope("volunteer_checked_in", "cixi", "cixi", data))
    return envelopes


def _dispatch_all(amqp_uri: str, source: str, envelopes: list[dict[str, Any]]) -> None:
    """Publish every envelope from 10 greenthreads (as a busy stations service would)."""
    dispatch = event_dispatcher({"AMQP_URI": amqp_uri})
    pool = eventlet.GreenPool(10)
    for env in envelopes:
        pool.spawn_n(dispatch, source, "volunteer_checked_in", env)
    pool.waitall()


def _until(count: Any, target: int, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while count() < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {count()} of {target} events handled in {timeout}s")
        eventlet.sleep(0.05)
    return time.perf_counter()


def _event_result(name: str, count: int, seconds: float) -> Result:
    return Result(
        name=name,
        calls=count,
        concurrency=1,
        seconds=round(seconds, 3),
        calls_per_s=round(count / seconds, 1),
        p50_ms=float("nan"),
        p95_ms=float("nan"),
        p99_ms=float("nan"),
        errors=0,
    )


def bench_points(bench: Any, args: Any, results: list[Result], seeded: dict[str, Any]) -> None:
    """Event throughput against the bare handler, then ``leaderboard`` and ``balance``."""
    from sqlalchemy import create_engine, text

    rng = random.Random(20261127)
    events = args.events
    # 1) The bare handler: count only.
    envelopes = _checkins(events, rng)
    with ClusterRpcProxy({"AMQP_URI": bench.amqp_uri}, timeout=30) as rpc:
        before = rpc.echo.checkins_handled()
        began = time.perf_counter()
        # echo is no Pioneer service and has no broker user: the administrator feeds it.
        _dispatch_all(bench.admin_uri, "bench_stations", envelopes)
        ended = _until(lambda: rpc.echo.checkins_handled() - before, events)
    results.append(_event_result("echo: bare event handler", events, ended - began))
    # 2) The same envelopes (fresh ids) to points through stations.events.
    envelopes = _checkins(events, rng)
    engine = create_engine(bench.deployment.database_url("points"))
    query = text("SELECT count(*) FROM processed_events WHERE handler = 'on_volunteer_checked_in'")

    def credited() -> int:
        with engine.connect() as conn:
            return conn.execute(query).scalar()

    pending = text("SELECT count(*) FROM outbox WHERE published_at IS NULL")

    def published() -> int:
        with engine.connect() as conn:
            return events - conn.execute(pending).scalar()

    try:
        cpu_before = process_cpu_seconds(bench.pids("points"))
        with bench.raw().observed("points: check-in events credited", events) as observed:
            began = time.perf_counter()
            _dispatch_all(bench.deployment.amqp_uri(role="stations"), "stations", envelopes)
            ended = _until(credited, events)
        cpu_after = process_cpu_seconds(bench.pids("points"))
        with engine.connect() as conn:
            entries = conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar()
        # Let the relay publish the points_awarded backlog before the reads are measured.
        _until(published, events)
        eventlet.sleep(3)
    finally:
        engine.dispose()
    result = _event_result("points: check-in events credited", events, ended - began)
    result.pg_statements = observed.get("pg_statements")
    if cpu_before is not None and cpu_after is not None:
        result.server_cpu_us_per_call = round((cpu_after - cpu_before) / events * 1e6, 1)
    results.append(result)
    if entries != seeded["entries"] + events:
        raise RuntimeError(f"ledger holds {entries}, expected {seeded['entries'] + events}")
    print(f"  {events} check-ins credited; ledger now {entries:,} entries", flush=True)

    # 3) Reads on the seeded ledger.
    pid = bench.pids("points")
    admin = bench.clients(bench.token("admin", "haining"))
    try:
        months = month_periods_before_now(11)

        def board(cluster: Any, i: int) -> None:
            kind = i % 3
            if kind == 0:
                cluster.points.leaderboard(city=CITIES[i % 3], period="all", limit=10)
            elif kind == 1:
                cluster.points.leaderboard(period=months[i % len(months)], limit=10)
            else:
                cluster.points.leaderboard(city="haining", period=str(this_year()), limit=50)

        results.append(admin.run("points.leaderboard (1 client)", board, 1000, 1, server_pid=pid))
        results.append(admin.run("points.leaderboard", board, args.calls, server_pid=pid))
        platform = bench.clients(bench.token("admin", "*"))
        try:
            sample = seeded["sample"]

            def balance(cluster: Any, i: int) -> None:
                cluster.points.balance(volunteer_id=sample[i % len(sample)])

            results.append(platform.run("points.balance", balance, args.calls, server_pid=pid))
            raw = bench.raw()
            results.append(
                raw.run("points.balance (raw)", balance, args.calls * 2, bench.token("admin", "*"))
            )
            results.append(
                raw.run(
                    "points.leaderboard (raw)",
                    board,
                    args.calls * 2,
                    bench.token("admin", "haining"),
                )
            )
            _bench_redeem(bench, args, results, seeded["redeemers"], raw)
        finally:
            platform.close()
    finally:
        admin.close()


def _bench_redeem(
    bench: Any, args: Any, results: list[Result], redeemers: list[str], raw: Any
) -> None:
    """``redeem`` through the proxy, then the raw generator: a single-row write (the balance,
    the stock, the ledger entry, the redemption and its outbox row in one transaction)."""
    from sqlalchemy import create_engine, text

    token = bench.token("admin", "haining")
    calls = args.calls
    with ClusterRpcProxy(
        {"AMQP_URI": bench.amqp_uri}, context_data={"authorization": token}
    ) as rpc:
        items = [
            rpc.points.add_catalog_item(
                city="haining", item={"name": f"bench item {n}", "cost": 1, "stock": ITEM_STOCK}
            )["id"]
            for n in range(CATALOG_ITEMS)
        ]
    run = uuid.uuid4().hex[:8]

    def redeem(cluster: Any, i: int) -> None:
        cluster.points.redeem(
            volunteer_id=redeemers[i % len(redeemers)],
            item_id=items[(i * 7) % len(items)],
            quantity=1,
            idempotency_key=f"bench-{run}-{i}",
        )

    client = bench.clients(token)
    try:
        results.append(client.run("points.redeem", redeem, calls, server_pid=bench.pids("points")))
    finally:
        client.close()
    run = uuid.uuid4().hex[:8]  # the raw calls are new redemptions, not replays
    results.append(raw.run("points.redeem (raw)", redeem, calls * 2, token))
    engine = create_engine(bench.deployment.database_url("points"))
    try:
        with engine.connect() as conn:
            stock = conn.execute(text("SELECT sum(stock) FROM catalog_items")).scalar()
    finally:
        engine.dispose()
    expected = CATALOG_ITEMS * ITEM_STOCK - 3 * calls
    if stock != expected:
        raise RuntimeError(f"redeem: stock {stock}, expected {expected}")
    print(f"  {3 * calls} redemptions, each once; stock left {stock:,}", flush=True)
