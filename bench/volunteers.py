"""The volunteers part of ``make bench``: a city-sized import, then search and registration.

1. ``import_city`` (before the volunteers process starts): writes a realistic spreadsheet of
   Haining's volunteers (150,000 by default, Chinese header, skills, locations clustered around
   the city's streets and towns, availability, and a few bad rows as real spreadsheets have),
   then times ``pioneer import volunteers FILE.csv --city haining --deployment bench`` run as a
   separate process, exactly as an operator runs it, into the bench deployment's SQLite file.
2. ``bench_volunteers`` (with the services running): ``find_volunteers`` with a skill and a 3 km
   radius around random points in Haining, at the harness's concurrency for throughput and with
   one client for latency; then ``register`` like ``stations.claim_post``, every call a new
   phone, and a check that stations' replica received every registration.

About the imported rows' ``volunteer_registered`` events: the importer writes one outbox row per
volunteer in the same transaction as the volunteer (that cost is in the timed import). Left
pending, the volunteers relay would publish 150,000 events when the service starts and stations
would apply them to its replica (some 200 a second here, judging by the register fan-out: over
ten minutes), on the same two cores, while the echo and stations measurements run: those numbers
would measure the backlog, and the ``volunteer_registered`` events ``bench_stations`` dispatches
for its claim_post volunteers would queue behind it. So once the import is timed, the bench
marks those outbox rows published (``mark_imported_published``), as if the relay had already
delivered them: the import is measured, its fan-out to other services is not. Stations never
needs the Haining volunteers here. Registrations over RPC do go through the relay to stations,
and ``bench_volunteers`` waits until stations has handled every one.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import func, select, update

from pioneer import clock
from pioneer.db import make_engine, outbox

from .measure import Result

if TYPE_CHECKING:
    from .harness import Bench

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench"
CITY = "haining"
FIND_RADIUS_M = 3000
# A dispatcher's page (the size README's query-level numbers are for).
FIND_LIMIT = 20
# Calls for the one-client latency run (as stations.search_nearby's).
SINGLE_CLIENT_CALLS = 500
# The spreadsheet's phones never start with 139: ``register`` uses 139xxxxxxxx.
REGISTER_PREFIX = "139"
IMPORT_PREFIXES = [
    *(f"13{d}" for d in "012345678"),
    *(f"15{d}" for d in "012356789"),
    *(f"18{d}" for d in "0123456789"),
    "177",
    "199",
]
# One bad row in this many good ones: what a city's real spreadsheet holds.
BAD_EVERY = 500
FANOUT_TIMEOUT_S = 180.0

# Haining's four streets and eight towns: (centre lat, lon), share of volunteers, spread (°).
DISTRICTS: dict[str, tuple[float, float, int, float]] = {
    "硖石街道": (30.511, 120.690, 14, 0.012),
    "海洲街道": (30.527, 120.677, 12, 0.012),
    "海昌街道": (30.545, 120.650, 10, 0.012),
    "马桥街道": (30.490, 120.640, 8, 0.012),
    "许村镇": (30.397, 120.420, 10, 0.018),
    "长安镇": (30.460, 120.520, 12, 0.018),
    "周王庙镇": (30.477, 120.590, 5, 0.018),
    "盐官镇": (30.410, 120.540, 6, 0.018),
    "斜桥镇": (30.513, 120.582, 6, 0.018),
    "丁桥镇": (30.430, 120.620, 5, 0.018),
    "袁花镇": (30.447, 120.780, 7, 0.018),
    "黄湾镇": (30.400, 120.850, 4, 0.018),
}
# The city's extent (south, north, west, east), for search points away from any centre.
HAINING_BOX = (30.33, 30.58, 120.38, 120.90)
# Service codes and how common each is among volunteers.
SKILLS: dict[str, int] = {
    "elderly_care": 14,
    "patrol": 12,
    "policy_talk": 8,
    "environment": 8,
    "garbage_sorting": 8,
    "errands": 7,
    "digital_help": 7,
    "traffic_guide": 6,
    "repair": 5,
    "tutoring": 5,
    "plumbing_electrical": 4,
    "haircut": 4,
    "mediation": 4,
    "child_care": 4,
    "culture_arts": 4,
    "medical": 3,
    "free_clinic": 3,
    "health_check": 3,
    "fire_safety": 3,
    "housekeeping": 3,
    "legal_aid": 2,
    "tourist_info": 2,
    "mental_health": 1,
}
AVAILABILITY: list[list[tuple[str, str, str]]] = [
    [],
    [],
    [("FREQ=WEEKLY;BYDAY=SA,SU", "08:00", "12:00")],
    [("FREQ=WEEKLY;BYDAY=SA,SU", "08:00", "11:30"), ("FREQ=WEEKLY;BYDAY=SA,SU", "14:00", "17:00")],
    [("FREQ=WEEKLY;BYDAY=MO,WE,FR", "18:30", "20:30")],
    [("FREQ=DAILY", "07:00", "09:00")],
    [("FREQ=WEEKLY;BYDAY=TU,TH", "13:30", "17:00")],
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董沈钱陆顾"
GIVEN = "建国华明伟芳娟敏静丽强磊军洋勇艳杰涛超秀英霞平刚桂兰玉梅红燕浩宇轩欣怡晨佳琪子涵雨"
COMMUNITY_WORDS = "东西南北新文安和平兴联盛丰永长河桥塘湖山园景福华光明阳春"
HEADER = ["姓名", "手机", "街道", "社区", "是否党员", "党支部", "技能", "纬度", "经度", "服务时间"]

TARGETS: list[tuple[str, str, str, float]] = [
    ("volunteers.register ≥ 0.5 × echo", "volunteers.register", "ratio", 0.5),
    (
        "find_volunteers skill + 3 km p99 < 30 ms (1 client)",
        "volunteers.find_volunteers (1 client)",
        "p99",
        30,
    ),
]


@dataclass
class ImportResult:
    """What the timed ``pioneer import volunteers`` run did and how fast."""

    file: str
    rows: int
    imported: int
    already_registered: int
    bad: int
    importer_s: float
    wall_s: float
    rows_per_s: float
    outbox_marked_published: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON form for ``results.json``."""
        return asdict(self)

    def summary(self) -> str:
        """One line for the printed report."""
        return (
            f"pioneer import volunteers: {self.rows:,} rows ({self.imported:,} imported, "
            f"{self.bad:,} bad) in {self.importer_s:.1f} s = {self.rows_per_s:,.0f} rows/s "
            f"({self.wall_s:.1f} s with interpreter start and migrations)"
        )


# --- the spreadsheet --------------------------------------------------------------------------


def _district(rng: random.Random) -> str:
    names = list(DISTRICTS)
    return rng.choices(names, weights=[DISTRICTS[n][2] for n in names])[0]


def _near_district(rng: random.Random, district: str) -> tuple[float, float]:
    lat, lon, _, spread = DISTRICTS[district]
    return lat + rng.gauss(0, spread), lon + rng.gauss(0, spread * 1.15)


def _skills(rng: random.Random) -> list[str]:
    wanted = rng.choices([1, 2, 3, 4], weights=[40, 35, 18, 7])[0]
    chosen: list[str] = []
    while len(chosen) < wanted:
        code = rng.choices(list(SKILLS), weights=list(SKILLS.values()))[0]
        if code not in chosen:
            chosen.append(code)
    return chosen


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice([1, 2, 2])))


def _community(rng: random.Random, district: str) -> str:
    words = rng.choice(COMMUNITY_WORDS) + rng.choice(COMMUNITY_WORDS)
    kind = "社区" if district.endswith("街道") or rng.random() < 0.3 else "村"
    return f"{words}{kind}"


def volunteer(rng: random.Random, phone: str) -> dict[str, Any]:
    """A plausible Haining volunteer as ``register`` takes it."""
    district = _district(rng)
    community = _community(rng, district)
    party = rng.random() < 0.45
    data: dict[str, Any] = {
        "name": _name(rng),
        "phone": phone,
        "city": CITY,
        "district": district,
        "community": community,
        "is_party_member": party,
        "skills": _skills(rng),
        "availability": [
            {"rrule": rule, "start": start, "end": end}
            for rule, start, end in rng.choice(AVAILABILITY)
        ],
    }
    if party:
        data["party_branch"] = f"{community}党支部"
    if rng.random() < 0.96:  # some sheets leave the place empty
        lat, lon = _near_district(rng, district)
        data["location"] = {"lat": round(lat, 6), "lon": round(lon, 6)}
    return data


def _csv_row(data: dict[str, Any], rng: random.Random) -> list[str]:
    phone = data["phone"]
    style = rng.random()
    if style < 0.03:
        phone = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    elif style < 0.05:
        phone = f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"
    location = data.get("location")
    return [
        data["name"],
        phone,
        data["district"],
        data["community"],
        "是" if data["is_party_member"] else "否",
        data.get("party_branch", ""),
        "、".join(data["skills"]),
        f"{location['lat']:.6f}" if location else "",
        f"{location['lon']:.6f}" if location else "",
        "|".join(f"{w['rrule']}@{w['start']}-{w['end']}" for w in data["availability"]),
    ]


def _bad_row(kind: int, good: list[str], earlier_phone: str) -> list[str]:
    """A row the importer must refuse: the mistakes real spreadsheets carry."""
    row = list(good)
    if kind == 0:
        row[1] = row[1].replace(" ", "").replace("-", "")[:10]  # a digit short
    elif kind == 1:
        row[6] = "elderly_care、square_dance"  # a code not in the city's catalog
    elif kind == 2:
        row[3] = ""  # no community
    elif kind == 3:
        row[4], row[5] = "否", "硖石街道党工委"  # a branch without membership
    elif kind == 4:
        row[7], row[8] = "30.51", ""  # lat without lon
    else:
        row[1] = earlier_phone  # the same person twice in the sheet
    return row


def write_city_csv(path: Path, count: int, seed: int = 20261201) -> int:
    """``count`` good rows of Haining volunteers plus one bad row per ``BAD_EVERY``; bad count."""
    rng = random.Random(seed)
    phones: set[str] = set()
    bad = 0
    first_phone = ""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(count):
            while True:
                phone = rng.choice(IMPORT_PREFIXES) + f"{rng.randrange(10**8):08d}"
                if phone not in phones:
                    phones.add(phone)
                    break
            first_phone = first_phone or phone
            row = _csv_row(volunteer(rng, phone), rng)
            writer.writerow(row)
            if i % BAD_EVERY == BAD_EVERY - 1:
                writer.writerow(_bad_row(bad % 6, row, first_phone))
                bad += 1
    return bad


# --- the import -------------------------------------------------------------------------------

_REPORT_LINE = re.compile(
    r"([\d,]+) rows in ([\d.]+) s: ([\d,]+) imported, ([\d,]+) already registered, ([\d,]+) bad"
)


def import_city(bench: Bench, count: int) -> ImportResult:
    """Write the spreadsheet, time the CLI's import into the bench deployment, settle the outbox.

    Call before the volunteers process starts (see the module's docstring for the outbox).
    """
    path = OUT / f"volunteers-{CITY}-{count}.csv"
    errors = OUT / f"volunteers-{CITY}.errors.csv"
    started = time.perf_counter()
    if path.exists() and path.stat().st_mtime > Path(__file__).stat().st_mtime:
        # The same seed writes the same sheet: a province's takes minutes to write again.
        expected_bad = count // BAD_EVERY
        print(f"  {path.name} (written by an earlier run) holds the sheet; importing", flush=True)
    else:
        expected_bad = write_city_csv(path, count)
        print(
            f"  wrote {count:,} {CITY} volunteers (+{expected_bad} bad rows) to {path.name} "
            f"in {time.perf_counter() - started:.1f} s; importing",
            flush=True,
        )
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # PIONEER_VAR: bench's
    command = [sys.executable, "-m", "pioneer.cli", "import", "volunteers", str(path)]
    command += ["--city", CITY, "--deployment", bench.deployment.name]
    command += ["--errors", str(errors), "--quiet"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    match = _REPORT_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"pioneer import failed ({done.returncode}): {done.stderr[-2000:]}")
    rows, imported, already, bad = (int(match.group(n).replace(",", "")) for n in (1, 3, 4, 5))
    seconds = float(match.group(2))
    if (imported, already, bad) != (count, 0, expected_bad):
        raise RuntimeError(
            f"the import should add {count} and refuse {expected_bad}: {match.group(0)}"
        )
    result = ImportResult(
        file=str(path.relative_to(ROOT)),
        rows=rows,
        imported=imported,
        already_registered=already,
        bad=bad,
        importer_s=seconds,
        wall_s=round(wall, 2),
        rows_per_s=round(rows / max(seconds, 0.05), 1),
        outbox_marked_published=mark_imported_published(bench, imported),
    )
    print(f"  {result.summary()}", flush=True)
    return result


def mark_imported_published(bench: Bench, expected: int) -> int:
    """Mark the import's pending outbox rows published (why: the module's docstring)."""
    engine = make_engine(bench.deployment.database_url("volunteers"), 1)
    try:
        with engine.begin() as conn:
            marked = conn.execute(
                update(outbox)
                .where(outbox.c.published_at.is_(None))
                .values(published_at=clock.utcnow())
            ).rowcount
            pending = conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            ).scalar_one()
    finally:
        engine.dispose()
    if marked != expected or pending:
        raise RuntimeError(f"{marked} outbox rows for {expected} imported volunteers")
    return marked


# --- over RPC ---------------------------------------------------------------------------------


def search_point(rng: random.Random) -> dict[str, float]:
    """Where a dispatcher looks: mostly where people live, some anywhere in the city."""
    if rng.random() < 0.8:
        lat, lon = _near_district(rng, _district(rng))
    else:
        south, north, west, east = HAINING_BOX
        lat, lon = rng.uniform(south, north), rng.uniform(west, east)
    return {"lat": lat, "lon": lon}


def _handled(bench: Bench, service: str, handler: str) -> float:
    """Sum of ``pioneer_events_handled_total`` for ``handler`` in ``service``'s /metrics."""
    response = requests.get(f"http://127.0.0.1:{bench.deployment.port(service)}/metrics", timeout=5)
    response.raise_for_status()
    total = 0.0
    for line in response.text.splitlines():
        if line.startswith("pioneer_events_handled_total{") and f'handler="{handler}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _wait_for_fanout(bench: Bench, before: float, registered: int) -> float:
    """Seconds until stations has handled ``registered`` more ``volunteer_registered`` events."""
    started = time.monotonic()
    while True:
        handled = _handled(bench, "stations", "on_volunteer_registered") - before
        if handled >= registered:
            return time.monotonic() - started
        if time.monotonic() - started > FANOUT_TIMEOUT_S:
            raise RuntimeError(
                f"stations handled {handled:.0f} of {registered} registrations "
                f"within {FANOUT_TIMEOUT_S:.0f} s"
            )
        time.sleep(0.5)


def bench_volunteers(
    bench: Bench, args: argparse.Namespace, results: list[Result], imported: ImportResult
) -> dict[str, Any]:
    """find_volunteers and register over RPC; returns the volunteers part of results.json."""
    rng = random.Random(20261202)
    pid = bench.pids("volunteers")
    skills = sorted(SKILLS)
    dispatcher = bench.clients(bench.token("dispatcher", CITY))
    admin = bench.clients(bench.token("admin", CITY))
    try:
        sizes: list[int] = []

        def find(cluster: Any, i: int) -> None:
            page = cluster.volunteers.find_volunteers(
                city=CITY,
                skill=rng.choice(skills),
                near=search_point(rng),
                radius_m=FIND_RADIUS_M,
                limit=FIND_LIMIT,
            )
            sizes.append(len(page["items"]))

        results.append(
            dispatcher.run("volunteers.find_volunteers", find, args.calls, server_pid=pid)
        )
        results.append(
            dispatcher.run(
                "volunteers.find_volunteers (1 client)",
                find,
                SINGLE_CLIENT_CALLS,
                1,
                server_pid=pid,
            )
        )
        full = sum(1 for size in sizes if size == FIND_LIMIT)
        print(
            f"  find_volunteers: {full / len(sizes):.0%} of pages full ({FIND_LIMIT}), "
            f"{sum(sizes) / len(sizes):.1f} volunteers a page on average",
            flush=True,
        )

        # register: every call a new person with a new phone (139 + a serial unique in the run).
        first = rng.randrange(10**8 - 3 * args.calls)
        # With ``--only volunteers`` no stations process follows the registrations.
        stations_running = bench.pid("stations") is not None
        before = _handled(bench, "stations", "on_volunteer_registered") if stations_running else 0

        def register(cluster: Any, i: int) -> None:
            person = volunteer(rng, f"{REGISTER_PREFIX}{first + i:08d}")
            cluster.volunteers.register(volunteer=person)

        results.append(admin.run("volunteers.register", register, args.calls, server_pid=pid))
        lag = _wait_for_fanout(bench, before, args.calls) if stations_running else None
        bench.quiesce()

        # The raw rows: new people again; the CPU counts until every consumer has applied them.
        first += args.calls
        results.append(
            bench.raw().run(
                "volunteers.register (raw)",
                register,
                args.calls * 2,
                bench.token("admin", CITY),
                settle=bench.quiesce,
            )
        )
        if lag is not None:
            print(
                f"  stations' replica had all {args.calls:,} registrations {lag:.1f} s "
                "after the last register returned",
                flush=True,
            )
    finally:
        dispatcher.close()
        admin.close()
    return {
        "city": CITY,
        "volunteers_in_city": imported.imported,
        "import": imported.as_dict(),
        "find": {
            "radius_m": FIND_RADIUS_M,
            "limit": FIND_LIMIT,
            "full_pages": round(full / len(sizes), 3),
            "mean_page": round(sum(sizes) / len(sizes), 2),
        },
        "register_fanout_lag_s": None if lag is None else round(lag, 2),
    }
