"""``bench/plans.py``: the query plans of the bench's measured calls, captured by running the
services' own code under an EXPLAIN listener, on small fresh databases of both engines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: ``bench``

from bench import plans
from pioneer.testing.databases import postgres_available

PG_PLAN = """\
Limit  (cost=0.43..4.10 rows=10 width=40) (actual time=0.030..0.051 rows=10 loops=1)
  Buffers: shared hit=5
  ->  Nested Loop  (cost=0.43..9.10 rows=10 width=40) (actual time=0.029..0.049 rows=10 loops=1)
        ->  Seq Scan on ledger_entries  (cost=0.00..1800.00 rows=100 width=4) (actual time=0.010..9.000 rows=7 loops=2)
              Filter: (volunteer_id = 'x')
        ->  Index Scan using pk_balances on balances  (cost=0..8 rows=1 width=8) (actual time=0..0.1 rows=1 loops=7)
              Index Cond: (volunteer_id = ledger_entries.volunteer_id)
Planning Time: 0.120 ms
Execution Time: 0.080 ms""".splitlines()


def test_postgres_plan_read():
    parsed = plans.parse_postgres_plan(PG_PLAN)
    assert parsed["execution_ms"] == 0.08 and parsed["planning_ms"] == 0.12
    assert parsed["indexes"] == ["pk_balances"]
    assert parsed["scans"] == [
        {"node": "Seq Scan on ledger_entries", "table": "ledger_entries", "rows_returned": 14}
    ]
    assert parsed["nodes"] == 4
    assert parsed["top"][0].startswith("Limit (rows=10 loops=1")
    assert parsed["top"][2].startswith("    Seq Scan on ledger_entries")


def test_sqlite_plan_read():
    lines = plans.sqlite_plan_lines(
        [
            (2, 0, "SCAN notifications"),
            (5, 0, "SEARCH totals USING COVERING INDEX ix_totals_period_points (period=?)"),
            (9, 0, "SEARCH balances USING INTEGER PRIMARY KEY (rowid=?)"),
            (12, 0, "SCAN CONSTANT ROW"),
            (14, 0, "SEARCH t USING AUTOMATIC COVERING INDEX (a=?)"),
        ]
    )
    parsed = plans.parse_sqlite_plan(lines)
    assert parsed["indexes"] == ["ix_totals_period_points", "rowid", "automatic index"]
    assert [scan["table"] for scan in parsed["scans"]] == ["notifications", "t"]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request) -> str:
    if request.param == "postgres" and (reason := postgres_available()):
        pytest.skip(reason)
    return request.param


def test_capture_on_small_fresh_databases(database, monkeypatch, tmp_path):
    monkeypatch.setattr(plans, "OUT", tmp_path)  # SQLite files in the test's own folder
    seen: dict[str, str] = {}
    capture = plans.capture

    def remembering(url_for, *args, **kwargs):
        for service in plans.SERVICES:
            seen[service] = url_for(service)
        return capture(url_for, *args, **kwargs)

    monkeypatch.setattr(plans, "capture", remembering)
    found = plans.run(database, 400, 2000, 1000, 200, per_call=2, big_table_rows=100, log=str)

    assert found["database"] == database and set(found["calls"]) == set(plans.CALLS)
    for call, captured in found["calls"].items():
        assert len(captured["samples"]) == (3 if call == "points.leaderboard" else 2), call
        assert captured["statements"], call
        for statement in captured["statements"]:
            assert statement["plan"] and not statement.get("error"), statement
            assert statement["execution_ms"] > 0, statement
        if database == "sqlite":
            # SQLite's planner, given statistics, seeks even small tables by index (PostgreSQL
            # rightly reads a few pages of a table this small whole).
            assert any(s["indexes"] for s in captured["statements"]), (call, captured)
    near = found["calls"]["volunteers.find_volunteers"]["statements"][0]
    assert "volunteer_skills" in near["sql"] and near["indexes"] == [
        "ix_volunteer_skills_city_skill_status_geocell"
    ]
    assert found["calls"]["wishes.raise_request"]["samples"][0]["result"]["status"]
    if database == "sqlite":
        assert found["ok"], found["findings"]
        # raise_request's unit of work was rolled back: no request and no event left.
        engine = create_engine(seen["wishes"])
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM service_requests")).scalar() == 0
            assert conn.execute(text("SELECT count(*) FROM outbox")).scalar() == 0
        engine.dispose()
    text_summary = plans.summary(found)
    assert "volunteers.find_volunteers" in text_summary and "indexes:" in text_summary


def test_big_scans_are_flagged():
    captured = {
        "points.history": {
            "service": "points",
            "samples": [{"arguments": "v", "result": {}, "call_ms": 1.0}],
            "statements": [
                {
                    "sql": "SELECT * FROM ledger_entries",
                    "executions": 1,
                    "execution_ms": 900.0,
                    "execution_ms_median": 900.0,
                    "indexes": [],
                    "top": ["Seq Scan on ledger_entries (rows=10 loops=1 900 ms)"],
                    "scans": [{"node": "Seq Scan on ledger_entries", "table": "ledger_entries"}],
                }
            ],
        }
    }
    sizes = {"ledger_entries": 10_000_001}
    findings = plans.flag_big_scans(captured, lambda service, tables: sizes, 10_000)
    assert findings and "ledger_entries" in findings[0] and not captured["points.history"]["ok"]
    found = {
        "database": "postgres",
        "big_table_rows": 10_000,
        "findings": findings,
        "calls": captured,
        "ok": False,
    }
    assert "!!! SEQ SCAN on ledger_entries" in plans.summary(found)
