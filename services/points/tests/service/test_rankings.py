"""Rankings from maintained totals (by city, all cities, period, team; ties share a rank), peers'
totals in federated mode, and the annual report paged by rank."""

from __future__ import annotations

from points_testdata import checkin
from sqlalchemy import text

from pioneer import ids
from pioneer.testing.fixtures import volunteer_event, wait_for


def test_leaderboards_by_city_period_team_and_peers(
    points, admin, rpc, token, enrol, dispatch_event, count_rows, database
):
    a, b, c = enrol(), enrol(), enrol()
    h = enrol(city="haining")
    # Work done in different months; c ties with a over all time. The dates are fixed on
    # purpose: the test is about period boundaries (a year's last half hour in Asia/Shanghai),
    # and the work's time comes from the event, not from the clock.
    dispatch_event(
        "stations",
        "volunteer_checked_in",
        "cixi",
        checkin(a, 10, 2, at="2026-03-05T10:00:00+08:00"),
    )
    dispatch_event(
        "stations", "volunteer_checked_in", "cixi", checkin(a, 5, 1, at="2025-12-31T23:30:00+08:00")
    )
    dispatch_event(
        "stations",
        "volunteer_checked_in",
        "cixi",
        checkin(b, 12, 3, at="2026-03-20T10:00:00+08:00"),
    )
    dispatch_event(
        "stations",
        "volunteer_checked_in",
        "cixi",
        checkin(c, 15, 3, at="2026-04-01T00:10:00+08:00"),
    )
    dispatch_event(
        "stations",
        "volunteer_checked_in",
        "haining",
        checkin(h, 30, 5, at="2026-04-02T09:00:00+08:00"),
    )
    # A peer deployment's volunteer (federated copy of its points_awarded): all-cities only.
    peer = ids.new_id("ningbo", "vol")
    awarded = {
        "entry_id": ids.new_id("ningbo", "pe"),
        "volunteer_id": peer,
        "city": "ningbo",
        "delta": 20,
        "reason": "check-in",
        "balance": 20,
        "at": "2026-04-03T09:00:00+08:00",
        "kind": "checkin",
        "ranked": True,
    }
    dispatch_event(
        "points", "points_awarded", "ningbo", awarded, origin_city="ningbo", federated_from="ningbo"
    )
    # Delivered again under another event id: the entry id keeps it to once.
    dispatch_event(
        "points", "points_awarded", "ningbo", awarded, origin_city="ningbo", federated_from="ningbo"
    )
    # A redemption of the peer's does not count; our own events are never counted twice.
    dispatch_event(
        "points",
        "points_redeemed",
        "ningbo",
        {**awarded, "entry_id": ids.new_id("ningbo", "pe"), "delta": -5, "kind": "redeem"},
        origin_city="ningbo",
        federated_from="ningbo",
    )
    wait_for(lambda: count_rows("peer_entries") == 1 and count_rows("ledger_entries") == 5)

    def board(**kwargs):
        return [
            (i["rank"], i["volunteer_id"], i["points"])
            for i in admin.call("points", "leaderboard", **kwargs)["items"]
        ]

    # Ties share a rank (1, 1, 3); among equals the later id comes first.
    assert board(city="cixi") == [(1, c, 15), (1, a, 15), (3, b, 12)]
    assert board(city="cixi", period="2026-03") == [(1, b, 12), (2, a, 10)]
    assert board(city="cixi", period="2025") == [(1, a, 5)]
    assert board(city="cixi", period="2026", limit=1)[0][2] == 15
    everywhere = board()
    assert everywhere[:2] == [(1, h, 30), (2, peer, 20)] and len(everywhere) == 5
    assert board(city="ningbo") == [(1, peer, 20)]
    assert board(period="2026-04")[:2] == [(1, h, 30), (2, peer, 20)]
    assert board(city="jiaxing") == []

    # Teams come from volunteers' events, newest version wins (an older one arriving late
    # changes nothing).
    team, other = ids.new_id("cixi", "team"), ids.new_id("cixi", "team")
    enrol(a, version=3, teams=[team])
    enrol(b, version=2, teams=[team, other])
    dispatch_event(
        "volunteers", "volunteer_updated", "cixi", volunteer_event(a, version=2, teams=[other])
    )

    def updates_seen() -> int:
        with database.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM processed_events WHERE handler = 'on_volunteer_updated'")
            ).scalar()

    wait_for(lambda: updates_seen() == 3)
    assert board(team_id=team) == [(1, a, 15), (2, b, 12)]
    assert board(team_id=other) == [(1, b, 12)]
    assert board(team_id=team, period="2026-03", city="cixi") == [(1, b, 12), (2, a, 10)]
    # Anyone may read a board.
    assert rpc(token("volunteer", "cixi", sub=a)).call("points", "leaderboard", "cixi")["items"]


def test_annual_report_pages_by_rank(points, admin, rpc, token, enrol, dispatch_event, count_rows):
    volunteers = [enrol() for _ in range(7)]
    amounts = [9, 7, 7, 7, 5, 3, 3]
    for volunteer_id, amount in zip(volunteers, amounts, strict=True):
        dispatch_event(
            "stations",
            "volunteer_checked_in",
            "cixi",
            checkin(volunteer_id, amount, 1.5, at="2026-06-01T10:00:00+08:00"),
        )
    # Work of 2025 (even if booked now) is not in the 2026 report.
    dispatch_event(
        "stations",
        "volunteer_checked_in",
        "cixi",
        checkin(volunteers[-1], 50, 4, at="2025-12-31T20:00:00+08:00"),
    )
    wait_for(lambda: count_rows("ledger_entries") == 8)
    items, cursor = [], None
    while True:
        got = admin.call("points", "annual_report", "cixi", 2026, limit=2, cursor=cursor)
        items += got["items"]
        cursor = got["next_cursor"]
        if cursor is None:
            break
    assert [(i["points"], i["rank"]) for i in items] == [
        (9, 1),
        (7, 2),
        (7, 2),
        (7, 2),
        (5, 5),
        (3, 6),
        (3, 6),
    ]
    assert {i["volunteer_id"] for i in items} == set(volunteers)
    assert all(i["hours"] == 1.5 and i["activities"] == 1 for i in items)
    assert all(i["wishes"] == 0 and i["requests"] == 0 for i in items)
    [last_year] = admin.call("points", "annual_report", "cixi", 2025)["items"]
    assert last_year == {
        "volunteer_id": volunteers[-1],
        "points": 50,
        "hours": 4.0,
        "activities": 1,
        "wishes": 0,
        "requests": 0,
        "rank": 1,
    }
    assert rpc(token("ops", "cixi")).call("points", "annual_report", "cixi", 2026)["items"]
    refused = rpc(token("volunteer", "cixi", sub=volunteers[0]))
    try:
        refused.call("points", "annual_report", "cixi", 2026)
    except Exception as exc:  # RemoteError
        assert exc.exc_type == "Forbidden"
    else:
        raise AssertionError("a volunteer read the annual report")
