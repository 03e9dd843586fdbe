"""The query plans behind the bench's figures: the statements the measured calls really run.

``capture`` runs the services' own use cases and store methods in this process, against a
deployment's databases, with a SQLAlchemy ``before_cursor_execute`` listener on the engine it
makes for them. For every ``SELECT`` the code issues, the listener runs the same statement with
the same parameters under ``EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT)`` on PostgreSQL, or under
``EXPLAIN QUERY PLAN`` on SQLite (and times one more run of it, fetching every row, since SQLite
has no ``ANALYZE`` of a plan), then lets the statement itself run. Nothing is a copy of the
services' SQL: a query shape changed in a store shows here as it is.

Measured calls (``CALLS``) and what their samples are (``samples[call]`` is a list of these):

- ``volunteers.find_volunteers``: ``{"city", "skill", "near": {"lat", "lon"}, "radius_m",
  "limit"}``, through ``volunteers.usecases.search.find_volunteers``;
- ``wishes.raise_request``: a ``RequestIn`` dict, through ``wishes.usecases.requests.
  raise_request`` in a transaction that is rolled back (nothing is written, no event leaves);
- ``points.leaderboard``: ``{"city", "period", "limit"}``; ``points.balance`` and
  ``points.history``: a volunteer id each, through ``points.usecases``;
- ``notify.inbox``: ``{"recipient_id", "unread_only", "limit"}``, through ``notify.usecases``;
- ``notify.volunteers_near``: ``{"city", "skill", "location": {"lat", "lon"}}``, the recipients
  query of the ``wish_published`` fan-out (``NotifyStore.volunteers_near`` at notify's radius).

Each sample is run once unrecorded (so plans and timings are of a warm cache, as repeated calls
see it), then once recorded. ``capture`` returns JSON-able plans per call; ``summary`` prints
them: the plan's top nodes, the indexes used, and, loudly, every full scan of a table holding
more than ``BIG_TABLE_ROWS`` rows.

From the main bench, after its seeding (the services may be running; nothing is written)::

    samples = plans.default_samples(points_volunteers=seeded["sample"], recipients=recipients)
    document["plans"] = plans.capture(bench.deployment.database_url, args.db, samples)
    print(plans.summary(document["plans"]))

``python -m bench.plans --db sqlite|postgres --volunteers N --entries N --notifications N``
makes fresh databases (a database per service on PostgreSQL, dropped afterwards; files under
``var/bench/plans/`` on SQLite), migrates them with each service's migrations, seeds them
through the services' own models (the bench's own seeding functions where it has them) and
prints the plans.
"""

from __future__ import annotations

if __name__ == "__main__":
    # The standalone run seeds with bench/__main__.py's functions, and importing that module
    # patches eventlet: patch first, as every service process does (psycopg2 green then too).
    import warnings

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()

import argparse
import json
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, Engine, event, text

from pioneer import auth, bulk, clock
from pioneer.catalog import Catalog
from pioneer.db import UnitOfWork, make_engine, migrate, read_engine, reading

from .cixi import DISPATCH_SKILLS, random_point

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "var" / "bench" / "plans"
CITIES = ["cixi", "haining", "jiaxing"]
SERVICES = ("volunteers", "wishes", "points", "notify")
CALLS = (
    "volunteers.find_volunteers",
    "wishes.raise_request",
    "points.leaderboard",
    "points.balance",
    "points.history",
    "notify.inbox",
    "notify.volunteers_near",
)
# A full scan of a table this large on a measured call is a finding; below it, the planner
# rightly reads a few pages instead of an index.
BIG_TABLE_ROWS = 10_000
# The plan nodes ``summary`` prints of each statement.
TOP_NODES = 4

# --- recording --------------------------------------------------------------------------------


def _is_select(statement: str) -> bool:
    head = statement.lstrip().lstrip("(").lstrip().upper()
    # A bare ``SELECT pg_advisory_xact_lock(...)`` or ``SELECT 1`` has no plan worth reading.
    return head.startswith(("SELECT", "WITH")) and re.search(r"\bFROM\b", head) is not None


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


class Recorder:
    """Listens on ``engine`` and, while ``recording``, explains every ``SELECT`` it sends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.statements: list[dict[str, Any]] | None = None
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def close(self) -> None:
        """Stop listening."""
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    @contextmanager
    def recording(self) -> Iterator[list[dict[str, Any]]]:
        """The statements explained inside the block (appended as they run)."""
        self.statements = []
        try:
            yield self.statements
        finally:
            self.statements = None

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.statements is None or executemany or not _is_select(statement):
            return
        record = {
            "sql": statement,
            "parameters": _json_value(parameters),
            **self._explain(cursor.connection, statement, parameters),
        }
        self.statements.append(record)
        if context is not None:
            context._bench_plan = (record, time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        pending = getattr(context, "_bench_plan", None) if context is not None else None
        if pending is not None:
            record, started = pending
            record["statement_ms"] = round((time.perf_counter() - started) * 1000, 3)
            del context._bench_plan

    def _explain(self, dbapi: Any, statement: str, parameters: Any) -> dict[str, Any]:
        cursor = dbapi.cursor()
        try:
            if self.dialect == "postgresql":
                return self._explain_postgres(cursor, statement, parameters)
            return self._explain_sqlite(cursor, statement, parameters)
        finally:
            cursor.close()

    @staticmethod
    def _explain_postgres(cursor: Any, statement: str, parameters: Any) -> dict[str, Any]:
        # EXPLAIN ANALYZE runs the statement: inside a savepoint, so a failure cannot abort the
        # code's own transaction (a SELECT's locks, if any, are that transaction's anyway). A
        # read (``db.reading``) runs in autocommit: no transaction to protect, none to save.
        in_transaction = not cursor.connection.autocommit
        if in_transaction:
            cursor.execute("SAVEPOINT bench_plan")
        try:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + statement, parameters)
            lines = [row[0] for row in cursor.fetchall()]
        except Exception as exc:
            if in_transaction:
                cursor.execute("ROLLBACK TO SAVEPOINT bench_plan")
            return {"plan": "", "error": str(exc).strip()[:300]}
        if in_transaction:
            cursor.execute("RELEASE SAVEPOINT bench_plan")
        return {"plan": "\n".join(lines), **parse_postgres_plan(lines)}

    @staticmethod
    def _explain_sqlite(cursor: Any, statement: str, parameters: Any) -> dict[str, Any]:
        rows = cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
        # SQLite explains without running: time one full run (every row fetched) instead.
        started = time.perf_counter()
        cursor.execute(statement, parameters).fetchall()
        elapsed = (time.perf_counter() - started) * 1000
        lines = sqlite_plan_lines([(r[0], r[1], r[3]) for r in rows])
        return {
            "plan": "\n".join(lines),
            **parse_sqlite_plan(lines),
            "execution_ms": round(elapsed, 3),
        }


# --- reading plans ------------------------------------------------------------------------------

_PG_NODE = re.compile(r"^(?P<indent>\s*)(?:->\s+)?(?P<node>[A-Z][^(]*?)\s+\(cost=")
_PG_ACTUAL = re.compile(
    r"actual time=[\d.]+\.\.(?P<ms>[\d.]+) rows=(?P<rows>\d+) loops=(?P<loops>\d+)"
)
_PG_INDEX = re.compile(r"(?:using|Bitmap Index Scan on) (?P<index>\S+)")
_PG_SCAN = re.compile(r"(?:Parallel )?Seq Scan on (?P<table>\S+)")


def parse_postgres_plan(lines: list[str]) -> dict[str, Any]:
    """From ``EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT)`` lines: ``top`` (the first plan nodes
    with their actual time and rows), ``indexes`` used, ``scans`` (every sequential scan with
    its table and the rows it returned), ``execution_ms`` and ``planning_ms``."""
    nodes, indexes, scans = [], [], []
    execution = planning = None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("Execution Time:"):
            execution = float(stripped.split()[2])
        elif stripped.startswith("Planning Time:"):
            planning = float(stripped.split()[2])
        match = _PG_NODE.match(line)
        if match is None:
            continue
        node = match.group("node").strip()
        actual = _PG_ACTUAL.search(line)
        described = node
        if actual is not None:
            described += f" (rows={actual.group('rows')} loops={actual.group('loops')}"
            described += f" {actual.group('ms')} ms)"
        # A child's "->" is indented 2 spaces, each level below it 6 more.
        nodes.append("  " * ((len(match.group("indent")) + 4) // 6) + described)
        index = _PG_INDEX.search(node)
        if index is not None and index.group("index") not in indexes:
            indexes.append(index.group("index"))
        scan = _PG_SCAN.search(node)
        if scan is not None:
            rows = int(actual.group("rows")) * int(actual.group("loops")) if actual else None
            scans.append({"node": node, "table": scan.group("table"), "rows_returned": rows})
    return {
        "top": nodes[:TOP_NODES],
        "nodes": len(nodes),
        "indexes": indexes,
        "scans": scans,
        "execution_ms": execution,
        "planning_ms": planning,
    }


def sqlite_plan_lines(rows: list[tuple[int, int, str]]) -> list[str]:
    """``EXPLAIN QUERY PLAN``'s ``(id, parent, detail)`` rows as indented lines."""
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


_SQLITE_SCAN = re.compile(
    r"^SCAN (?P<table>\S+)(?: AS \S+)?(?P<using> USING (?:COVERING )?INDEX \S+)?"
)
_SQLITE_STEPS = ("SEARCH", "SCAN", "USE TEMP", "CORRELATED", "MULTI-INDEX", "COMPOUND")
_SQLITE_INDEX = re.compile(r"USING (?:AUTOMATIC )?(?:COVERING |PARTIAL )*INDEX (?P<index>\S+)")


def parse_sqlite_plan(lines: list[str]) -> dict[str, Any]:
    """From ``sqlite_plan_lines``: ``top``, ``indexes`` used (``rowid`` and ``primary key`` for
    those lookups) and ``scans``: every ``SCAN`` of a table (whole, or a whole index) and every
    automatic index SQLite builds for the statement (a full scan too)."""
    indexes, scans = [], []
    for line in lines:
        detail = line.strip()
        index = _SQLITE_INDEX.search(detail)
        name = index.group("index") if index else None
        if "AUTOMATIC" in detail:
            name = "automatic index"  # built for this statement by reading the whole table
        elif "INTEGER PRIMARY KEY" in detail:
            name = "rowid"
        elif "USING PRIMARY KEY" in detail:
            name = "primary key"
        if name is not None and name not in indexes:
            indexes.append(name)
        scan = _SQLITE_SCAN.match(detail)
        if scan is not None and scan.group("table") != "CONSTANT":
            scans.append({"node": detail, "table": scan.group("table"), "rows_returned": None})
        elif "AUTOMATIC" in detail:
            table = detail.split()[1] if len(detail.split()) > 1 else "?"
            scans.append({"node": detail, "table": table, "rows_returned": None})
    # A union of 16 ranges repeats one SEARCH 16 times: its distinct steps are the plan's top.
    steps = [line.strip() for line in lines if line.strip().startswith(_SQLITE_STEPS)]
    top = list(dict.fromkeys(steps))[:TOP_NODES]
    return {"top": top, "nodes": len(lines), "indexes": indexes, "scans": scans}


def _table_rows(engine: Engine, tables: set[str], cap: int) -> dict[str, int | None]:
    """Rows of each of ``tables`` (counted up to ``cap + 1``); None for what is no table (a
    subquery's alias)."""
    known = set(_table_names(engine))
    counts: dict[str, int | None] = {}
    with engine.connect() as conn:
        for table in sorted(tables):
            if table not in known:
                counts[table] = None
                continue
            counts[table] = conn.execute(
                text(f'SELECT count(*) FROM (SELECT 1 FROM "{table}" LIMIT {cap + 1}) AS capped')
            ).scalar_one()
    return counts


def _table_names(engine: Engine) -> list[str]:
    from sqlalchemy import inspect

    return inspect(engine).get_table_names()


# --- the calls, as the services make them -------------------------------------------------------


def _caller(city: str, role: str) -> auth.Caller:
    return auth.Caller(sub="bench-plans", city=city, roles=frozenset({role}))


def _uow(engine: Engine, store: Any) -> UnitOfWork:
    """The unit of work a service's ``ctx.uow()`` makes (reads through ``read_engine``)."""
    return UnitOfWork(engine, CITIES, store=store, reads=read_engine(engine))


class _Joined:
    """An engine stand-in whose ``connect()`` is one connection already in a transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect

    def connect(self) -> Any:
        return nullcontext(self.conn)


@contextmanager
def _rolled_back_uow(engine: Engine, store: Any) -> Iterator[UnitOfWork]:
    """A unit of work whose commit is undone: its session joins an outer transaction that is
    rolled back, so a write use case leaves no row and no outbox event behind."""
    with engine.connect() as conn:
        outer = conn.begin()
        try:
            # A session on a connection in a transaction commits nothing of it
            # (join_transaction_mode "conservative_savepoint", SQLAlchemy's default).
            yield UnitOfWork(conn, CITIES, store=store, reads=_Joined(conn))
        finally:
            outer.rollback()


def _find_volunteers(engine: Engine, sample: dict[str, Any]) -> dict[str, Any]:
    from volunteers.settings import VolunteersSettings
    from volunteers.store import VolunteersStore
    from volunteers.usecases import search

    near = sample["near"]
    page = search.find_volunteers(
        _uow(engine, VolunteersStore),
        Catalog(),
        _caller(sample["city"], auth.DISPATCHER),
        float(VolunteersSettings.model_construct().DEFAULT_NEAR_RADIUS_M),
        sample["city"],
        sample.get("skill"),
        (near["lat"], near["lon"]),
        float(sample.get("radius_m", 3000)),
        None,
        "active",
        int(sample.get("limit", 20)),
        None,
    )
    return {"items": len(page.items)}


def _raise_request(engine: Engine, sample: dict[str, Any]) -> dict[str, Any]:
    from wishes.schemas import RequestIn
    from wishes.settings import WishesSettings
    from wishes.store import WishesStore
    from wishes.usecases import requests

    settings = WishesSettings.model_construct()  # the defaults a deployment runs with
    dispatch = requests.Dispatch(settings.circle, settings.OFFER_TIMEOUT_S)
    request = RequestIn.model_validate(sample)
    with _rolled_back_uow(engine, WishesStore) as uow:
        out = requests.raise_request(
            uow, Catalog(), dispatch, _caller(request.city, auth.DISPATCHER), request
        )
    return {"status": out.status}


def _leaderboard(engine: Engine, sample: dict[str, Any]) -> dict[str, Any]:
    from points import usecases
    from points.store import PointsStore

    board = usecases.leaderboard(
        _uow(engine, PointsStore),
        sample.get("city"),
        sample.get("period", "all"),
        None,
        int(sample.get("limit", 10)),
    )
    return {"items": len(board.items)}


def _balance(engine: Engine, volunteer_id: str) -> dict[str, Any]:
    from points import usecases
    from points.store import PointsStore

    return {"balance": usecases.balance(_uow(engine, PointsStore), volunteer_id).balance}


def _history(engine: Engine, volunteer_id: str) -> dict[str, Any]:
    from points import usecases
    from points.store import PointsStore

    page = usecases.history(_uow(engine, PointsStore), volunteer_id, 50, None)
    return {"items": len(page.items)}


def _inbox(engine: Engine, sample: dict[str, Any]) -> dict[str, Any]:
    from notify import usecases
    from notify.store import NotifyStore

    page = usecases.inbox(
        _uow(engine, NotifyStore),
        sample["recipient_id"],
        bool(sample.get("unread_only", False)),
        int(sample.get("limit", 20)),
        None,
    )
    return {"items": len(page.items)}


def _volunteers_near(engine: Engine, sample: dict[str, Any]) -> dict[str, Any]:
    from notify.settings import NotifySettings
    from notify.store import NotifyStore

    radius = NotifySettings.model_construct().wish_radius_m(sample["city"])
    location = sample["location"]
    with reading(read_engine(engine)) as conn:
        rows = NotifyStore(conn).volunteers_near(
            sample["city"],
            sample["skill"],
            location["lat"],
            location["lon"],
            radius,
            clock.utcnow(),
        )
    return {"candidates": len(rows), "radius_m": radius}


RUNNERS: dict[str, Callable[[Engine, Any], dict[str, Any]]] = {
    "volunteers.find_volunteers": _find_volunteers,
    "wishes.raise_request": _raise_request,
    "points.leaderboard": _leaderboard,
    "points.balance": _balance,
    "points.history": _history,
    "notify.inbox": _inbox,
    "notify.volunteers_near": _volunteers_near,
}


# --- capture ------------------------------------------------------------------------------------


def capture(
    database_url_for: Callable[[str], str],
    database: str,
    samples: dict[str, list[Any]],
    big_table_rows: int = BIG_TABLE_ROWS,
) -> dict[str, Any]:
    """The plans of the statements each measured call runs, for each of its ``samples``.

    ``database_url_for(service)`` is a service's database URL (``Deployment.database_url``);
    ``database`` is ``"sqlite"`` or ``"postgres"`` (recorded; the URLs decide the engine);
    ``samples`` maps a call of ``CALLS`` to a list of its arguments (the module's docstring
    says their shape); a call without samples is skipped. Returns::

        {"database", "big_table_rows", "ok",          # ok: no full scan of a big table anywhere
         "findings": [str],                            # one line per such scan
         "calls": {call: {"service", "ok",
                          "samples": [{"arguments", "result", "call_ms"}],
                          "statements": [{"sql", "executions", "plan" (of the slowest run),
                                          "top", "indexes", "scans" (with "table_rows", "big"),
                                          "execution_ms" (max), "execution_ms_median",
                                          "statement_ms" (max), "planning_ms", "parameters"}]}}}

    ``execution_ms`` is PostgreSQL's ``Execution Time``, or on SQLite one timed run of the
    statement fetching every row; ``statement_ms`` is the statement as the code ran it (on
    SQLite until its first row only).
    """
    calls: dict[str, Any] = {}
    engines: dict[str, Engine] = {}
    try:
        for call in CALLS:
            wanted = samples.get(call) or []
            if not wanted:
                continue
            service = call.split(".", 1)[0]
            if service not in engines:
                engines[service] = make_engine(database_url_for(service), 2)
            calls[call] = _capture_call(engines[service], call, wanted)
        findings = flag_big_scans(
            calls,
            lambda service, tables: _table_rows(engines[service], tables, big_table_rows),
            big_table_rows,
        )
    finally:
        for engine in engines.values():
            engine.dispose()
    return {
        "database": database,
        "big_table_rows": big_table_rows,
        "ok": not findings,
        "findings": findings,
        "calls": calls,
    }


def _capture_call(engine: Engine, call: str, wanted: list[Any]) -> dict[str, Any]:
    runner = RUNNERS[call]
    recorder = Recorder(engine)
    runs, by_sql = [], {}
    try:
        for sample in wanted:
            runner(engine, sample)  # warm: caches, compiled statements, the pool
            with recorder.recording() as statements:
                started = time.perf_counter()
                result = runner(engine, sample)
                elapsed = (time.perf_counter() - started) * 1000
            runs.append(
                {"arguments": _json_value(sample), "result": result, "call_ms": round(elapsed, 3)}
            )
            for record in statements:
                by_sql.setdefault(record["sql"], []).append(record)
    finally:
        recorder.close()
    merged = [_merge(records) for records in by_sql.values()]
    return {"service": call.split(".", 1)[0], "samples": runs, "statements": merged}


def _merge(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One statement's runs as one entry: the slowest run's plan, the spread of times."""
    timed = [r.get("execution_ms") or 0.0 for r in records]
    slowest = records[timed.index(max(timed))]
    merged = {
        key: slowest.get(key)
        for key in ("sql", "plan", "top", "indexes", "scans", "planning_ms", "parameters", "error")
        if key in slowest
    }
    merged["executions"] = len(records)
    merged["execution_ms"] = max(timed)
    merged["execution_ms_median"] = round(statistics.median(timed), 3)
    merged["statement_ms"] = max(r.get("statement_ms") or 0.0 for r in records)
    indexes: list[str] = []
    for record in records:
        indexes += [i for i in record.get("indexes", []) if i not in indexes]
    merged["indexes"] = indexes
    return merged


def flag_big_scans(
    calls: dict[str, Any],
    sizes_of: Callable[[str, set[str]], dict[str, int | None]],
    big_table_rows: int,
) -> list[str]:
    """Mark every scan in ``calls`` (``capture``'s) with its table's size
    (``sizes_of(service, tables)``, None for no table) and whether it is big; set each call's
    ``ok``; one finding per full scan of a big table (or failed EXPLAIN)."""
    findings = []
    for call, captured in calls.items():
        tables = {s["table"] for st in captured["statements"] for s in st.get("scans", [])}
        rows = sizes_of(captured["service"], tables) if tables else {}
        captured["ok"] = True
        for statement in captured["statements"]:
            if statement.get("error"):
                captured["ok"] = False
                findings.append(f"{call}: EXPLAIN failed: {statement['error']}")
            for scan in statement.get("scans", []):
                size = rows.get(scan["table"])
                scan["table_rows"] = size
                scan["big"] = size is not None and size > big_table_rows
                if scan["big"]:
                    captured["ok"] = False
                    findings.append(
                        f"{call}: full scan `{scan['node']}` over {scan['table']} "
                        f"(> {big_table_rows:,} rows) in: {_one_line(statement['sql'], 160)}"
                    )
    return findings


def _one_line(sql: str, width: int) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def summary(plans: dict[str, Any]) -> str:
    """The plans as text: per call and statement, the top plan nodes, the indexes used and the
    times; every full scan of a big table on a measured (hot) call flagged at the top and
    where it occurs."""
    out = [f"query plans ({plans['database']}), EXPLAIN per SELECT of each measured call"]
    if plans["findings"]:
        out.append("")
        out.append(f"!!! FULL SCANS OF BIG TABLES ON HOT PATHS ({len(plans['findings'])}):")
        out += [f"!!!   {finding}" for finding in plans["findings"]]
    for call, captured in plans["calls"].items():
        runs = captured["samples"]
        call_ms = sorted(r["call_ms"] for r in runs)
        out.append("")
        out.append(
            f"{call}  [{'ok' if captured['ok'] else 'SEQ SCAN'}]  {len(runs)} samples, in-process"
            f" call {call_ms[len(call_ms) // 2]:.2f} ms median / {call_ms[-1]:.2f} ms max"
        )
        for n, statement in enumerate(captured["statements"], 1):
            indexes = ", ".join(statement["indexes"]) or "none"
            out.append(
                f"  [{n}] {_one_line(statement['sql'], 110)}"
                f"\n      ×{statement['executions']}  execution {statement['execution_ms']:.3f} ms"
                f" max ({statement['execution_ms_median']:.3f} median)  indexes: {indexes}"
            )
            if statement.get("error"):
                out.append(f"      EXPLAIN failed: {statement['error']}")
            out += [f"      | {node}" for node in statement.get("top", [])]
            for scan in statement.get("scans", []):
                if scan.get("big"):
                    out.append(
                        f"      !!! SEQ SCAN on {scan['table']} (> {plans['big_table_rows']:,} rows)"
                    )
    return "\n".join(out)


# --- the standalone run: fresh databases, seeded at the given sizes -----------------------------

# A volunteer's spreadsheet row is validated and built as ``register`` builds it: in chunks.
CHUNK = 50_000


def seed_volunteers(url: str, count: int, rng: random.Random) -> dict[str, Any]:
    """``count`` Haining volunteers (``bench.volunteers.volunteer``: the bench's spreadsheet
    people) validated as ``VolunteerIn`` and built by ``registration.new_volunteer`` as
    ``register`` builds them, written with their skill index rows (``store.skill_rows``), then
    the store's own ``refresh_statistics`` (what the importer ends with)."""
    from volunteers import store
    from volunteers.schemas import VolunteerIn
    from volunteers.service import VolunteersService
    from volunteers.usecases.registration import new_volunteer

    from .volunteers import volunteer

    began = time.perf_counter()
    engine = make_engine(url, 2)
    try:
        migrate(engine, VolunteersService.migrations)
        now = clock.utcnow()
        for start in range(0, count, CHUNK):
            rows, skills = [], []
            for n in range(start, min(start + CHUNK, count)):
                # 13 + nine digits: valid and unique mainland mobiles (``register`` uses 139).
                person = VolunteerIn.model_validate(volunteer(rng, f"13{n:09d}"))
                row = new_volunteer(person, now)
                rows.append(row)
                skills += store.skill_rows(SimpleNamespace(**row))
            with engine.begin() as conn:
                bulk.insert_rows(conn, store.volunteers_t, rows)
                bulk.insert_rows(conn, store.skills_t, skills)
        with engine.begin() as conn:
            store.VolunteersStore(conn).refresh_statistics()
    finally:
        engine.dispose()
    return {"volunteers": count, "seconds": round(time.perf_counter() - began, 1)}


def migrations_of(service: str) -> Path:
    """The service's migrations folder (its ``PioneerService.migrations``)."""
    import importlib

    return Path(importlib.import_module(service).__file__).parent / "migrations"


def _as_bench(url_for: Callable[[str], str]) -> Any:
    """What the bench's seeding functions read of a ``Bench``: its deployment's URLs."""
    return SimpleNamespace(deployment=SimpleNamespace(database_url=url_for))


def _analyze(url: str) -> None:
    engine = make_engine(url, 1)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def seed_directory(service: str, url: str, count: int, rng: random.Random) -> dict[str, Any]:
    """``count`` located Cixi volunteers in ``service``'s replica and skill index (wishes'
    dispatch index, notify's directory), by the bench's ``seed_dispatch_index``, then
    ``ANALYZE`` (what autovacuum, or SQLite's start-up statistics, would do next)."""
    # bench/__main__.py patches eventlet when imported; only this standalone seeding does.
    from bench.__main__ import seed_dispatch_index

    began = time.perf_counter()
    engine = make_engine(url, 1)
    try:
        migrate(engine, migrations_of(service))
    finally:
        engine.dispose()
    # seed_dispatch_index writes into the deployment's "wishes" database: point it at ours.
    seed_dispatch_index(_as_bench(lambda _service: url), count, rng)
    _analyze(url)
    return {"volunteers": count, "seconds": round(time.perf_counter() - began, 1)}


def seed_notifications(url: str, count: int, rng: random.Random) -> dict[str, Any]:
    """``count`` stored inbox notifications by the bench's ``notify.seed_notifications`` (over
    its ``RECIPIENTS`` recipients); their recipients."""
    from . import notify as notify_bench

    recipients, seconds = notify_bench.seed_notifications(
        _as_bench(lambda _service: url), count, rng
    )
    return {"notifications": count, "recipients": recipients, "seconds": round(seconds, 1)}


def default_samples(
    per_call: int = 5,
    rng: random.Random | None = None,
    *,
    volunteers: bool = True,
    wishes: bool = True,
    points_volunteers: list[str] | None = None,
    recipients: list[str] | None = None,
    directory: bool = True,
) -> dict[str, list[Any]]:
    """``capture``'s samples, ``per_call`` of each, drawn as the bench draws its calls:
    ``volunteers``: find_volunteers in Haining (a district's centre with the commonest skill
    first: the densest page); ``wishes``: raise_request in Cixi; ``points_volunteers``: balance
    and history of those (the leaderboards the bench asks for with any); ``recipients``: inbox
    of those; ``directory``: the fan-out's recipients query in Cixi. What is off is left out."""
    rng = rng or random.Random(20261216)
    seeded: dict[str, Any] = {}
    if volunteers:
        seeded["volunteers"] = True
    if wishes:
        seeded["wishes"] = True
    if points_volunteers:
        seeded["points"] = {"sample": points_volunteers}
    if recipients or directory:
        seeded["notify"] = {"recipients": recipients or [], "directory": directory}
    from .volunteers import DISTRICTS, FIND_LIMIT, FIND_RADIUS_M, SKILLS, search_point

    samples: dict[str, list[Any]] = {}
    if "volunteers" in seeded:
        centre = DISTRICTS["硖石街道"]
        points = [{"lat": centre[0], "lon": centre[1]}]
        points += [search_point(rng) for _ in range(per_call - 1)]
        skills = ["elderly_care"] + [rng.choice(sorted(SKILLS)) for _ in range(per_call - 1)]
        samples["volunteers.find_volunteers"] = [
            {
                "city": "haining",
                "skill": s,
                "near": p,
                "radius_m": FIND_RADIUS_M,
                "limit": FIND_LIMIT,
            }
            for s, p in zip(skills, points, strict=True)
        ]
    if "wishes" in seeded:
        samples["wishes.raise_request"] = [
            {
                "city": "cixi",
                "service": rng.choice(DISPATCH_SKILLS),
                "description": "需要上门",
                "location": random_point(rng),
                "address": "某街道1号",
                "requester": {"name": "李大伯", "phone": "13900001111"},
            }
            for _ in range(per_call)
        ]
    if "points" in seeded:
        people = seeded["points"]["sample"]
        # Those the bench asks for: a city's board of all time, every city's for a month, a
        # city's year of 50.
        from pioneer.testing.moments import month_periods_before_now, this_year

        samples["points.leaderboard"] = [
            {"city": "haining", "period": "all", "limit": 10},
            {"city": None, "period": month_periods_before_now(11)[2], "limit": 10},
            {"city": "haining", "period": str(this_year()), "limit": 50},
        ]
        # The first volunteers of the seed have the most entries (a quarter do half the work).
        samples["points.balance"] = [people[i % len(people)] for i in range(per_call)]
        samples["points.history"] = [people[i % len(people)] for i in range(per_call)]
    if seeded.get("notify", {}).get("recipients"):
        inboxes = seeded["notify"]["recipients"]
        samples["notify.inbox"] = [
            {"recipient_id": rng.choice(inboxes), "unread_only": i % 2 == 1, "limit": 20}
            for i in range(per_call)
        ]
    if seeded.get("notify", {}).get("directory"):
        samples["notify.volunteers_near"] = [
            {"city": "cixi", "skill": rng.choice(DISPATCH_SKILLS), "location": random_point(rng)}
            for _ in range(per_call)
        ]
    return samples


@contextmanager
def fresh_databases(
    database: str,
    tag: str | None = None,
    services: list[str] | None = None,
    keep: bool = False,
) -> Iterator[dict[str, str]]:
    """A new empty database per service of ``SERVICES``, as ``{service: url}``: on PostgreSQL
    (``PIONEER_POSTGRES``'s server) ``pioneer_plans_<tag>_<service>``, dropped at the end; on
    SQLite ``var/bench/plans/<service>.db``, made anew (kept for a look afterwards)."""
    tag = tag or uuid.uuid4().hex[:8]
    unknown = set(services or ()) - set(SERVICES)
    if unknown:
        raise ValueError(f"no plans for {', '.join(sorted(unknown))} (only {', '.join(SERVICES)})")
    services = list(services or SERVICES)
    if database == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        urls = {}
        for service in services:
            for suffix in ("", "-wal", "-shm"):
                (OUT / f"{service}.db{suffix}").unlink(missing_ok=True)
            urls[service] = f"sqlite:///{OUT / f'{service}.db'}"
        yield urls
        return
    import psycopg2
    from psycopg2 import sql

    from pioneer import databases

    admin = databases.admin_url()
    names = {service: f"pioneer_plans_{tag}_{service}" for service in services}

    def run(statement: Any) -> None:
        conn = psycopg2.connect(admin)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    try:
        for name in names.values():
            run(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield {s: admin.rsplit("/", 1)[0] + "/" + name for s, name in names.items()}
    finally:
        for name in [] if keep else names.values():
            run(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def seed(
    urls: dict[str, str],
    volunteers: int,
    entries: int,
    notifications: int,
    ledger_volunteers: int,
    rng: random.Random,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Seed every service of ``urls`` at the given sizes; what each seeding left (times, and
    the ids the samples draw from; rows written by ``pioneer.bulk``: COPY on PostgreSQL)."""
    from . import points as points_bench

    seeded: dict[str, Any] = {}
    if "volunteers" in urls:
        log(f"plans: {volunteers:,} volunteers into volunteers (Haining)")
        seeded["volunteers"] = seed_volunteers(urls["volunteers"], volunteers, rng)
        log(f"  {seeded['volunteers']['seconds']} s")
    if "wishes" in urls:
        log(f"plans: {volunteers:,} volunteers into wishes' dispatch index (Cixi)")
        seeded["wishes"] = seed_directory("wishes", urls["wishes"], volunteers, rng)
        log(f"  {seeded['wishes']['seconds']} s")
    if "points" in urls:
        log(f"plans: {entries:,} ledger entries over {ledger_volunteers:,} volunteers into points")
        made = points_bench.seed(urls["points"], entries, ledger_volunteers, rng)
        seeded["points"] = {k: v for k, v in made.items() if k != "redeemers"}
        log(f"  {made['seconds']} s ({made['totals_rows']:,} totals rows)")
    if "notify" in urls:
        log(f"plans: {volunteers:,} volunteers into notify's directory (Cixi)")
        directory = seed_directory("notify", urls["notify"], volunteers, rng)
        log(f"  {directory['seconds']} s; {notifications:,} notifications into notify")
        seeded["notify"] = seed_notifications(urls["notify"], notifications, rng)
        seeded["notify"]["directory"] = directory
        log(f"  {seeded['notify']['seconds']} s")
    return seeded


def run(
    database: str,
    volunteers: int,
    entries: int,
    notifications: int,
    ledger_volunteers: int | None = None,
    per_call: int = 5,
    big_table_rows: int = BIG_TABLE_ROWS,
    services: list[str] | None = None,
    log: Callable[[str], None] = print,
    keep: bool = False,
) -> dict[str, Any]:
    """Fresh databases for ``services`` (default ``SERVICES``), seeded, their plans captured
    (and the databases dropped on PostgreSQL): ``capture``'s dict with ``"seeded"`` (seconds)
    and ``"sizes"`` added."""
    rng = random.Random(20261216)
    with fresh_databases(database, services=services, keep=keep) as urls:
        seeded = seed(
            urls,
            volunteers,
            entries,
            notifications,
            ledger_volunteers if ledger_volunteers is not None else volunteers,
            rng,
            log,
        )
        samples = default_samples(
            per_call,
            rng,
            volunteers="volunteers" in seeded,
            wishes="wishes" in seeded,
            points_volunteers=seeded.get("points", {}).get("sample"),
            recipients=seeded.get("notify", {}).get("recipients"),
            directory="notify" in seeded,
        )
        plans = capture(urls.__getitem__, database, samples, big_table_rows)
    plans["seeded"] = {
        service: {k: v for k, v in made.items() if k not in ("sample", "recipients")}
        for service, made in seeded.items()
    }
    plans["sizes"] = {
        "volunteers": volunteers,
        "entries": entries,
        "notifications": notifications,
        "ledger_volunteers": ledger_volunteers if ledger_volunteers is not None else volunteers,
    }
    return plans


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.plans``: seed fresh databases, print the plans, write them as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.plans", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--volunteers",
        type=int,
        default=150_000,
        help="in volunteers (Haining), wishes' dispatch index and notify's directory (Cixi)",
    )
    parser.add_argument("--entries", type=int, default=1_000_000, help="points ledger entries")
    parser.add_argument(
        "--ledger-volunteers",
        type=int,
        default=None,
        help="volunteers the ledger entries are spread over (default: --volunteers)",
    )
    parser.add_argument("--notifications", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=5, help="argument sets per call")
    parser.add_argument(
        "--only",
        default=",".join(SERVICES),
        help=f"comma-separated services to seed and explain (default {','.join(SERVICES)})",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON (default var/bench/plans/plans-<db>.json)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the PostgreSQL databases (to look further)"
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    plans = run(
        args.db,
        args.volunteers,
        args.entries,
        args.notifications,
        args.ledger_volunteers,
        args.samples,
        services=[s.strip() for s in args.only.split(",") if s.strip()],
        log=lambda line: print(line, flush=True),
        keep=args.keep,
    )
    plans["seconds"] = round(time.perf_counter() - began, 1)
    print()
    print(summary(plans))
    out = args.out or OUT / f"plans-{args.db}-{'-'.join(sorted(plans['seeded']))}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plans, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten to {out} ({plans['seconds']} s in all)")
    return 0 if plans["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
