"""``make bench``: measure, in one run on the same broker, a bare nameko echo service and ours.

Starts the echo service and every measured Pioneer service as separate processes (as
``make up`` does) on a fresh vhost with fresh SQLite files under ``var/bench/``, seeds data
through the public RPCs and events, measures, prints a table and writes
``var/bench/results.json``. Both the services and this client share the machine's cores.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import fcntl  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from nameko.standalone.events import event_dispatcher  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from pioneer import db, ids  # noqa: E402
from pioneer.testing.fixtures import volunteer_event  # noqa: E402
from pioneer.testing.moments import SATURDAY, next_local  # noqa: E402

from . import notify as notify_bench  # noqa: E402
from . import plans, points, volunteers  # noqa: E402
from . import schedule as schedule_bench  # noqa: E402
from .cixi import DISPATCH_SKILLS, random_point  # noqa: E402
from .harness import OUT, Bench  # noqa: E402
from .measure import Result  # noqa: E402

RAW_ECHO = "echo.echo (raw)"
# ``--province``: a province's volunteers (all in one city's extent: the densest case the
# searches meet), its ledger, and a wish fanned out to a county's volunteers of one skill.
PROVINCE = {"volunteers": 1_500_000, "entries": 10_000_000, "fanout": 100_000}
IMPORT_TARGET_ROWS, IMPORT_TARGET_S = 1_500_000, 120
SERVICES = ["stations", "volunteers", "wishes", "points", "notify"]


def station(rng: random.Random, i: int, codes: list[str]) -> dict[str, Any]:
    return {
        "name": f"先锋驿站{i:05d}",
        "city": "cixi",
        "district": rng.choice(["古塘街道", "白沙路街道", "浒山街道", "龙山镇", "观海卫镇"]),
        "address": f"第{i}号",
        "location": random_point(rng),
        "kind": rng.choice(["community", "village", "market", "scenic_spot", "transport_hub"]),
        "services": rng.sample(codes, 3),
        "opening_hours": [
            {"rrule": "FREQ=WEEKLY;BYDAY=TU,TH", "start": "13:30", "end": "17:00"},
            {"rrule": "FREQ=WEEKLY;BYDAY=SA,SU", "start": "08:00", "end": "17:00"},
        ],
        "standard": {
            "venue": True,
            "identity": True,
            "team": True,
            "projects": True,
            "system": True,
        },
    }


def bench_stations(bench: Bench, args: argparse.Namespace, results: list[Result]) -> None:
    from pioneer.catalog import BASE_CATALOG

    rng = random.Random(20261125)
    codes = sorted(BASE_CATALOG)[:12]
    admin = bench.clients(bench.token("admin", "cixi"))
    pid = bench.pids("stations")
    try:
        made: list[str] = []

        def create(cluster: Any, i: int) -> None:
            made.append(cluster.stations.create_station(station=station(rng, i, codes))["id"])

        results.append(
            admin.run("stations.create_station (seeding)", create, args.stations, server_pid=pid)
        )
        print(f"  seeded {len(made)} stations in cixi", flush=True)
        bench.quiesce()

        def get(cluster: Any, i: int) -> None:
            cluster.stations.get_station(station_id=made[i % len(made)])

        def nearby(cluster: Any, i: int) -> None:
            cluster.stations.search_nearby(
                location=random_point(rng), radius_m=args.radius, service=rng.choice(codes)
            )

        def nearby_open(cluster: Any, i: int) -> None:
            cluster.stations.search_nearby(
                location=random_point(rng),
                radius_m=args.radius,
                open_at=next_local(SATURDAY, "10:00"),
            )

        # The transport's share: echo a reply as large as a typical search_nearby page.
        sample = max(
            (
                admin.clusters[0].stations.search_nearby(
                    location=random_point(rng), radius_m=args.radius
                )
                for _ in range(20)
            ),
            key=lambda page: len(page["items"]),
        )
        echo = bench.clients(None)
        try:
            results.append(
                echo.run(
                    "echo.echo (search_nearby-sized reply)",
                    lambda c, i: c.echo.echo(sample),
                    args.calls,
                    server_pid=bench.pid("echo"),
                )
            )
        finally:
            echo.close()
        print(f"  a search_nearby page holds {len(sample['items'])} stations", flush=True)
        results.append(admin.run("stations.get_station", get, args.calls, server_pid=pid))
        raw = bench.raw()
        token = bench.token("admin", "cixi")
        results.append(raw.run("stations.get_station (raw)", get, args.calls * 2, token))
        results.append(admin.run("stations.search_nearby", nearby, args.calls, server_pid=pid))
        results.append(
            admin.run("stations.search_nearby (1 client)", nearby, 500, 1, server_pid=pid)
        )
        results.append(
            admin.run("stations.search_nearby open_at", nearby_open, args.calls, server_pid=pid)
        )

        # claim_post: distinct (post, volunteer) pairs, volunteers known from their events.
        volunteers = [ids.new_id("cixi", "vol") for _ in range(100)]
        dispatch = event_dispatcher({"AMQP_URI": bench.deployment.amqp_uri(role="volunteers")})
        for volunteer_id in volunteers:
            dispatch(
                "volunteers",
                "volunteer_registered",
                db.envelope("volunteer_registered", "cixi", "cixi", volunteer_event(volunteer_id)),
            )
        posts: list[str] = []

        def add_post(cluster: Any, i: int) -> None:
            post = {"title": f"岗位{i}", "category": codes[i % len(codes)], "capacity": 10_000}
            posts.append(cluster.stations.add_post(station_id=made[i], post=post)["id"])

        # Distinct (post, volunteer) pairs for the proxy's claims, then for the raw ones.
        raw_claims = args.calls * 2
        admin.run(
            "stations.add_post (seeding)",
            add_post,
            (args.calls + raw_claims) // len(volunteers) + 1,
        )
        _wait_for_replica(bench, posts[0], volunteers[-1])

        def claim_from(offset: int) -> Any:
            def claim(cluster: Any, i: int) -> None:
                pair = offset + i
                cluster.stations.claim_post(
                    post_id=posts[pair // len(volunteers)],
                    volunteer_id=volunteers[pair % len(volunteers)],
                )

            return claim

        results.append(admin.run("stations.claim_post", claim_from(0), args.calls, server_pid=pid))
        bench.quiesce()
        results.append(
            raw.run(
                "stations.claim_post (raw)",
                claim_from(args.calls),
                raw_claims,
                token,
                settle=bench.quiesce,
            )
        )
    finally:
        admin.close()


def _wait_for_replica(bench: Bench, post_id: str, volunteer_id: str) -> None:
    """Until the stations replica knows the volunteer: a trial claim (released again) succeeds."""
    with ClusterRpcProxy(
        {"AMQP_URI": bench.amqp_uri},
        context_data={"authorization": bench.token("admin", "cixi")},
    ) as rpc:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                rpc.stations.claim_post(post_id=post_id, volunteer_id=volunteer_id)
            except Exception as exc:
                if getattr(exc, "exc_type", None) != "NotFound":
                    raise
                time.sleep(0.2)
                continue
            rpc.stations.release_post(post_id=post_id, volunteer_id=volunteer_id)
            return
    raise RuntimeError("the stations replica did not receive the volunteers' events")


def bench_wishes(bench: Bench, args: argparse.Namespace, results: list[Result]) -> None:
    """A claim storm (``--claims`` claims over ``--wishes`` published wishes, each wish's claims
    arriving together) and ``raise_request`` to first offer with ``--volunteers`` located
    volunteers in the city (seeded straight into the wishes database's replica and dispatch
    index, as their events would leave them)."""
    from datetime import UTC, datetime, timedelta

    rng = random.Random(20261126)
    admin = bench.clients(bench.token("admin", "cixi"))
    pid = bench.pids("wishes")
    deadline = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    try:
        wishes: list[str] = []

        def publish(cluster: Any, i: int) -> None:
            wish = cluster.wishes.submit_wish(
                wish={
                    "city": "cixi",
                    "title": f"微心愿{i}",
                    "description": "想要一台收音机",
                    "category": "elderly_care",
                    "beneficiary": {"name": "王阿婆", "phone": "13812345678", "address": "1号"},
                    "location": random_point(rng),
                    "deadline": deadline,
                }
            )
            wishes.append(cluster.wishes.review_wish(wish_id=wish["id"], approve=True)["id"])

        admin.run("wishes.submit+review (seeding)", publish, args.wishes)
        dispatch = event_dispatcher({"AMQP_URI": bench.deployment.amqp_uri(role="volunteers")})

        def known_volunteers() -> list[str]:
            """``args.claims`` new volunteers, once wishes' replica holds them."""
            made = [ids.new_id("cixi", "vol") for _ in range(args.claims)]
            for volunteer_id in made:
                envelope = db.envelope(
                    "volunteer_registered", "cixi", "cixi", volunteer_event(volunteer_id)
                )
                dispatch("volunteers", "volunteer_registered", envelope)
            _wait_for_wishes_replica(bench, made[-1])
            return made

        volunteers = known_volunteers()
        per_wish = max(args.claims // len(wishes), 1)

        def claim(cluster: Any, i: int) -> None:
            cluster.wishes.claim_wish(
                wish_id=wishes[(i // per_wish) % len(wishes)], volunteer_id=volunteers[i]
            )

        storm = admin.run(
            "wishes.claim_wish (storm)", claim, args.claims, expect_errors=True, server_pid=pid
        )
        results.append(storm)
        winners = storm.calls - storm.errors
        print(f"  claim storm: {winners} winners over {len(wishes)} wishes", flush=True)
        if winners != len(wishes):
            raise RuntimeError(f"claim storm: {winners} winners for {len(wishes)} wishes")

        # The same storm from the raw generator: new wishes, new volunteers.
        bench.quiesce()
        wishes.clear()
        admin.run("wishes.submit+review (seeding)", publish, args.wishes)
        volunteers[:] = known_volunteers()
        bench.quiesce()
        raw_storm = bench.raw().run(
            "wishes.claim_wish (raw)",
            claim,
            args.claims,
            bench.token("admin", "cixi"),
            expect_errors=["Conflict"],
            settle=bench.quiesce,
        )
        results.append(raw_storm)
        winners = raw_storm.calls - raw_storm.errors
        if winners != len(wishes):
            raise RuntimeError(f"raw claim storm: {winners} winners for {len(wishes)} wishes")

        seed_dispatch_index(bench, args.volunteers, rng)
        print(f"  seeded {args.volunteers} located volunteers in cixi", flush=True)
        dispatcher = bench.clients(bench.token("dispatcher", "cixi"))
        try:

            def raise_one(cluster: Any, i: int) -> None:
                cluster.wishes.raise_request(
                    request={
                        "city": "cixi",
                        "service": rng.choice(DISPATCH_SKILLS),
                        "description": "需要上门",
                        "location": random_point(rng),
                        "address": "某街道1号",
                        "requester": {"name": "李大伯", "phone": "13900001111"},
                    }
                )

            results.append(
                dispatcher.run("wishes.raise_request (1 client)", raise_one, 300, 1, server_pid=pid)
            )
            results.append(
                dispatcher.run("wishes.raise_request", raise_one, args.calls // 3, server_pid=pid)
            )
        finally:
            dispatcher.close()
    finally:
        admin.close()


def seed_dispatch_index(bench: Bench, count: int, rng: random.Random) -> None:
    """``count`` active, located volunteers with two or three skills each, written into the
    wishes database's replica and dispatch index in batches (what their events would leave)."""
    from types import SimpleNamespace

    from sqlalchemy import create_engine

    from pioneer import bulk, clock, replica_skills
    from pioneer.replica import volunteer_replica

    engine = create_engine(bench.deployment.database_url("wishes"))
    now = clock.utcnow()
    try:
        for start in range(0, count, 50_000):
            replica_rows = []
            for _ in range(start, min(start + 50_000, count)):
                point = random_point(rng)
                replica_rows.append(
                    {
                        "volunteer_id": ids.new_id("cixi", "vol"),
                        "city": "cixi",
                        "status": "active",
                        "suspended_until": None,
                        "skills": rng.sample(DISPATCH_SKILLS, rng.choice([2, 3])),
                        "lat": point["lat"],
                        "lon": point["lon"],
                        "version": 1,
                        "updated_at": now,
                    }
                )
            entries = replica_skills.entries_of(SimpleNamespace(**row) for row in replica_rows)
            with engine.begin() as conn:
                bulk.insert_rows(conn, volunteer_replica, replica_rows)
                bulk.insert_rows(conn, replica_skills.replica_skills, entries)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def _wait_for_wishes_replica(bench: Bench, volunteer_id: str) -> None:
    """Until the wishes replica has the volunteer (a claim of an unknown wish says so)."""
    with ClusterRpcProxy(
        {"AMQP_URI": bench.amqp_uri},
        context_data={"authorization": bench.token("admin", "cixi")},
    ) as rpc:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                rpc.wishes.claim_wish(wish_id=ids.new_id("cixi", "wish"), volunteer_id=volunteer_id)
            except Exception as exc:
                if "no wish" in str(exc):
                    return
            time.sleep(0.2)
    raise RuntimeError("the wishes replica did not receive the volunteers' events")


def bench_echo(bench: Bench, args: argparse.Namespace, results: list[Result]) -> None:
    echo = bench.clients(None)
    try:
        payload = {"station_id": ids.new_id("cixi", "st")}
        pid = bench.pid("echo")

        def call(cluster: Any, i: int) -> None:
            cluster.echo.echo(payload)

        results.append(echo.run("echo.echo", call, args.calls, server_pid=pid))
        results.append(echo.run("echo.echo (1 client)", call, 500, 1, server_pid=pid))
    finally:
        echo.close()
    # The raw generator: its main row, then one client process fewer and one more. If one more
    # raised echo's rate, the clients would be the limit.
    raw = bench.raw()
    calls = args.calls * 2
    results.append(raw.run(RAW_ECHO, call, calls))
    for processes in sorted({max(1, raw.processes - 1), raw.processes + 1}):
        name = f"echo.echo (raw, {processes} client processes)"
        results.append(raw.run(name, call, calls, processes=processes))


def report(results: list[Result], args: argparse.Namespace) -> dict[str, Any]:
    by_name = {r.name: r for r in results}
    echo = by_name["echo.echo"]
    echo_single = by_name["echo.echo (1 client)"]
    sized = by_name.get("echo.echo (search_nearby-sized reply)")
    # Event throughput is compared with the bare event handler measured in the same run.
    bare = by_name.get("echo: bare event handler")
    raw_echo = by_name.get(RAW_ECHO)
    rows = []
    for r in results:
        base = echo_single if r.concurrency == 1 else echo
        if r.generator != "proxy" and raw_echo is not None:
            base = raw_echo  # each generator against its own echo
        if bare is not None and r.name in {bare.name, "points: check-in events credited"}:
            base = bare
        row = {**r.as_dict(), "ratio_to_echo": round(r.calls_per_s / base.calls_per_s, 2)}
        if sized and r.name in ("stations.search_nearby", "stations.search_nearby open_at"):
            row["ratio_to_same_size_echo"] = round(r.calls_per_s / sized.calls_per_s, 2)
        rows.append(row)
    targets = [
        ("stations.get_station ≥ 0.8 × echo", "stations.get_station", "ratio", 0.8),
        ("stations.search_nearby ≥ 0.8 × echo", "stations.search_nearby", "ratio", 0.8),
        ("stations.claim_post ≥ 0.5 × echo", "stations.claim_post", "ratio", 0.5),
        ("search_nearby p99 < 20 ms (1 client)", "stations.search_nearby (1 client)", "p99", 20),
        *volunteers.TARGETS,
        *points.TARGETS,
        *notify_bench.TARGETS,
    ]
    targets.append(
        (
            "stations.search_nearby ≥ 0.8 × echo of a reply as large",
            "stations.search_nearby",
            "sized",
            0.8,
        )
    )
    if "wishes.claim_wish (storm)" in by_name:
        targets += [
            ("wishes.claim_wish storm ≥ 0.5 × echo", "wishes.claim_wish (storm)", "ratio", 0.5),
            (
                "raise_request p95 < 300 ms (1 client)",
                "wishes.raise_request (1 client)",
                "p95",
                300,
            ),
        ]
    # The targets under the raw generator.
    targets += [
        (f"{name} (raw) ≥ {bound} × echo", f"{name} (raw)", "ratio", bound)
        for name, bound in [
            ("stations.get_station", 0.9),
            ("points.balance", 0.9),
            ("points.leaderboard", 0.9),
            ("notify.inbox", 0.9),
            ("stations.claim_post", 0.5),
            ("wishes.claim_wish", 0.5),
            ("points.redeem", 0.5),
            ("volunteers.register", 0.4),
        ]
    ]
    ratios = {row["name"]: row for row in rows}
    targets = [t for t in targets if t[1] in ratios]  # only what this run measured
    verdicts = []
    for label, name, kind, bound in targets:
        row = ratios[name]
        value = {"ratio": row["ratio_to_echo"], "p99": row["p99_ms"], "p95": row["p95_ms"]}.get(
            kind, row.get("ratio_to_same_size_echo")
        )
        if kind.startswith("vs:"):
            value = round(row["calls_per_s"] / ratios[kind[3:]]["calls_per_s"], 2)
        ok = value < bound if kind in ("p99", "p95") else value >= bound
        verdicts.append({"target": label, "value": value, "met": ok})
    document = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": args.db,
        "replicas": args.replicas,
        "province": args.province,
        "settings": {
            "stations": args.stations,
            "calls": args.calls,
            "concurrency": args.concurrency,
            "raw_processes": args.raw_processes,
            "raw_inflight": args.raw_inflight,
            "wishes": args.wishes,
            "claims": args.claims,
            "volunteers": args.volunteers,
            "entries": args.entries,
            "events": args.events,
            "fanout": args.fanout,
            "notifications": args.notifications,
        },
        "results": rows,
        "targets": verdicts,
    }
    print(
        f"\n{'measurement':<44}{'load':>9}{'calls/s':>10}{'ratio':>7}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'srv µs':>8}{'client%':>8}"
    )
    for row in rows:
        cpu = row["server_cpu_us_per_call"]
        client = row["client_cpu_pct"]
        print(
            f"{row['name']:<44}{row['generator']:>9}{row['calls_per_s']:>10.1f}"
            f"{row['ratio_to_echo']:>7.2f}{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}"
            f"{'' if cpu is None else f'{cpu:.0f}':>8}{'' if client is None else client:>8}"
        )
    print()
    for verdict in verdicts:
        print(f"{'met ' if verdict['met'] else 'MISS'}  {verdict['target']}: {verdict['value']}")
    return document


def results_name(args: argparse.Namespace) -> str:
    """``results.json`` for the default run; ``-province``, ``-<database>`` and ``-<n>replicas``
    say what a run measured otherwise, so runs of each kind sit side by side."""
    parts = ["results"]
    if args.province:
        parts.append("province")
    if args.db != "sqlite":
        parts.append(args.db)
    if args.replicas > 1:
        parts.append(f"{args.replicas}replicas")
    return "-".join(parts) + ".json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--radius", type=int, default=1000)
    parser.add_argument(
        "--raw-processes", type=int, default=2, help="client processes of the raw generator"
    )
    parser.add_argument(
        "--raw-inflight", type=int, default=25, help="calls in flight per raw client process"
    )
    parser.add_argument(
        "--db",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="every service on its own SQLite file, or its own database on the local"
        " PostgreSQL (PIONEER_POSTGRES)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy every server process during the raw rows (var/bench/profiles/)",
    )
    parser.add_argument(
        "--volunteers",
        type=int,
        default=150_000,
        help="imported in haining (volunteers); located in cixi's dispatch index (wishes)",
    )
    parser.add_argument("--wishes", type=int, default=100)
    parser.add_argument("--claims", type=int, default=2_000)
    parser.add_argument(
        "--entries", type=int, default=1_000_000, help="points ledger entries seeded (points)"
    )
    parser.add_argument(
        "--events", type=int, default=5_000, help="check-in events credited (points)"
    )
    parser.add_argument(
        "--fanout", type=int, default=10_000, help="matching volunteers a wish is published to"
    )
    parser.add_argument(
        "--notifications", type=int, default=1_000_000, help="stored before inbox is measured"
    )
    parser.add_argument(
        "--province",
        action="store_true",
        help=f"province-scale data: {PROVINCE['volunteers']:,} volunteers,"
        f" {PROVINCE['entries']:,} ledger entries, a fan-out to {PROVINCE['fanout']:,}"
        " (where those sizes are not given); results-province*.json",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="processes of every service on the same queues (PostgreSQL only)",
    )
    parser.add_argument(
        "--only",
        choices=["stations", "volunteers", "wishes", "points", "notify", "schedule"],
        help="measure one service (and echo) only; schedule: the rules' worst cases alone",
    )
    args = parser.parse_args(argv)
    if args.province:
        for name, size in PROVINCE.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, size)
    if args.replicas > 1 and args.db != "postgres":
        parser.error("--replicas needs --db postgres: a SQLite file serves one process")
    logging.getLogger("amqp").setLevel(logging.ERROR)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.only == "schedule":  # in-process, no broker: nothing to start
        rows = schedule_bench.report()
        (OUT / "schedule.json").write_text(json.dumps(rows, indent=2) + "\n")
        return 0
    # One run at a time: two would share var/bench/run and both cores, and measure nothing.
    lock = (OUT / ".lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("bench: another run is in progress (var/bench/.lock); wait for it", file=sys.stderr)
        return 1
    bench = Bench(
        args.concurrency,
        args.raw_processes,
        args.raw_inflight,
        args.profile,
        args.db,
        args.replicas,
    )
    results: list[Result] = []
    try:
        # A province's data changes nothing for stations (its seeding is the same 10,000).
        province = [s for s in SERVICES if s != "stations"]
        services = [args.only] if args.only else province if args.province else SERVICES
        imported = volunteers_part = notify_part = seeded = None
        if "volunteers" in services:
            print(f"bench: importing {args.volunteers:,} volunteers into haining", flush=True)
            imported = volunteers.import_city(bench, args.volunteers)  # before volunteers starts
        if "points" in services:
            print(
                f"bench: seeding {args.entries:,} ledger entries over {args.volunteers:,}"
                " volunteers into points",
                flush=True,
            )
            seeded = points.seed(
                bench.deployment.database_url("points"),
                args.entries,
                args.volunteers,
                random.Random(20261128),
            )
            print(f"  seeded in {seeded['seconds']} s ({seeded['totals_rows']:,} totals rows)")
        print(f"bench: starting echo, {', '.join(services)} on {bench.deployment.vhost}")
        bench.start(services)
        bench_echo(bench, args, results)
        if "stations" in services:
            bench.quiesce()
            bench_stations(bench, args, results)
        if imported is not None:
            bench.quiesce()
            volunteers_part = volunteers.bench_volunteers(bench, args, results, imported)
        if seeded is not None:
            bench.quiesce()
            points.bench_points(bench, args, results, seeded)
        if "notify" in services:
            bench.quiesce()
            notify_part = notify_bench.bench_notify(bench, args, results)
        # Last: the requests raise_request leaves unanswered are offered to the next volunteer
        # every OFFER_TIMEOUT_S (120 s) for minutes, a load no queue shows when the next phase
        # starts (it had taken points' check-ins and notify's inbox by surprise).
        if "wishes" in services:
            bench.quiesce()
            bench_wishes(bench, args, results)
        # The plans of the measured calls' statements, on the data just measured.
        samples = plans.default_samples(
            volunteers=imported is not None,
            wishes="wishes" in services,
            points_volunteers=seeded["sample"] if seeded else None,
            recipients=notify_part["recipients_sample"] if notify_part else None,
            directory="notify" in services,
        )
        captured = plans.capture(bench.deployment.database_url, args.db, samples)
        print(plans.summary(captured))
    finally:
        bench.close()
    print()
    schedule_rows = schedule_bench.report()
    document = report(results, args)
    document["schedule"] = schedule_rows
    document["plans"] = captured
    if seeded is not None:
        document["points_seed"] = {
            k: v for k, v in seeded.items() if k not in ("sample", "redeemers")
        }
    if imported is not None:
        document["volunteers"] = volunteers_part
        print(f"\n{imported.summary()}")
        rate = IMPORT_TARGET_ROWS / IMPORT_TARGET_S
        label = (
            f"pioneer import ≥ {rate:,.0f} rows/s ({IMPORT_TARGET_ROWS:,} in {IMPORT_TARGET_S} s)"
        )
        met = imported.rows_per_s >= rate
        document["targets"].append({"target": label, "value": imported.rows_per_s, "met": met})
        print(f"{'met ' if met else 'MISS'}  {label}: {imported.rows_per_s:,.0f}")
    if notify_part is not None:
        document["notify"] = notify_part
        fan = notify_part["fan_out"]
        label = f"wish_published to {fan['recipients']:,} inboxes < {fan['target_s']:.0f} s"
        document["targets"].append({"target": label, "value": fan["seconds"], "met": fan["met"]})
        print(f"{'met ' if fan['met'] else 'MISS'}  {label}: {fan['seconds']}")
    # Side by side: results.json (SQLite) and results-postgres.json.
    written = OUT / results_name(args)
    written.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
