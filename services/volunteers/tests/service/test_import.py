"""``pioneer import volunteers FILE.csv --city haining``: good rows in, bad rows reported with
line and reason, re-runs duplicate no one, and the service publishes the imported volunteers."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import create_engine, text
from volunteers_testdata import write_volunteers_csv

from pioneer import cli
from volunteers.service import VolunteersService

GOOD = 120
BAD_ROWS = [
    # (row, field, reason fragment)
    (
        ["坏手机", "12800000001", "硖石街道", "社区", "否", "", "haircut", "", "", ""],
        "phone",
        "pattern",
    ),
    (
        ["未知技能", "13900000002", "硖石街道", "社区", "否", "", "juggling", "", "", ""],
        "skills.0",
        "unknown",
    ),
    (["", "13900000003", "硖石街道", "社区", "否", "", "", "", "", ""], "name", "required"),
    (["只有纬度", "13900000004", "硖石街道", "社区", "否", "", "", "30.5", "", ""], "lon", "both"),
    (
        ["纬度越界", "13900000005", "硖石街道", "社区", "否", "", "", "95", "120", ""],
        "location.lat",
        "",
    ),
    (
        [
            "时间错",
            "13900000006",
            "硖石街道",
            "社区",
            "否",
            "",
            "",
            "",
            "",
            "FREQ=HOURLY@08:00-09:00",
        ],
        "availability.0.rrule",
        "",
    ),
    (
        ["党员?", "13900000007", "硖石街道", "社区", "maybe", "", "", "", "", ""],
        "is_party_member",
        "",
    ),
    (
        ["重复", "13700000005", "硖石街道", "社区", "否", "", "", "", "", ""],
        "phone",
        "repeats line 7",
    ),
    (["列太多", "13900000009", "a", "b", "否", "", "", "", "", "", "extra"], "", "11 values"),
]


# One process, and worker processes (rows whose phone repeats are kept back for file order).
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_import_reports_bad_rows_and_reruns_cleanly(
    db_url, jobs, tmp_path, capsys, service_config, start_service, spy
):
    path = tmp_path / "haining.csv"
    write_volunteers_csv(path, GOOD, chinese_header=True)
    with open(path, "a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(row for row, _, _ in BAD_ROWS)
    argv = ["import", "volunteers", str(path), "--city", "haining", "--database-url", db_url]

    assert cli.main([*argv, "--batch", "50", "--jobs", jobs]) == 0
    captured = capsys.readouterr()
    assert f"{GOOD:,} imported, 0 already registered, {len(BAD_ROWS)} bad" in captured.out
    assert "100%" in captured.err  # the progress bar got to the end
    with open(tmp_path / "haining.csv.errors.csv", encoding="utf-8") as fh:
        report = list(csv.DictReader(fh))
    assert [int(r["line"]) for r in report] == list(range(GOOD + 2, GOOD + 2 + len(BAD_ROWS)))
    for got, (_, field, reason) in zip(report, BAD_ROWS, strict=True):
        assert got["field"] == field and reason in got["reason"], got
    assert "13700000005" not in str(report)  # phones masked in the report too

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            counts = {
                t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("volunteers", "outbox")
            }
            party = conn.execute(
                text(
                    "SELECT is_party_member, party_branch, skills FROM volunteers WHERE phone = :p"
                ),
                {"p": "13700000003"},
            ).one()
        assert counts == {"volunteers": GOOD, "outbox": GOOD}
        assert party.is_party_member and party.party_branch == "硖石街道党工委"

        # Again: nobody twice, nothing new in the outbox.
        assert cli.main([*argv, "--quiet"]) == 0
        assert f"0 imported, {GOOD:,} already registered" in capsys.readouterr().out
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM volunteers")).scalar_one() == GOOD
            assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == GOOD
    finally:
        engine.dispose()

    # The service publishes the imported volunteers' events from the outbox (no phones).
    watch = spy("volunteers")
    start_service(VolunteersService, service_config)
    events = watch.wait_for("volunteer_registered", count=GOOD, timeout=20)
    assert {e["city"] for e in events} == {"haining"}
    assert not any("phone" in e["data"] or "name" in e["data"] for e in events)
