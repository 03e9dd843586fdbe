"""Points end to end on the processes ``pioneer up`` starts: a Haining volunteer registered in
volunteers checks in at a Cixi station's activity (stations), and points credits the work in
Haining: balance, history, rank, team board, a redemption (which notify tells the volunteer
about), and the annual report as CSV through ``pioneer report annual``."""

from __future__ import annotations

import csv
from datetime import datetime

import pytest
from nameko.exceptions import RemoteError

from pioneer.testing.moments import iso_from_now

from .conftest import poll

STATION = {
    "name": "方家河头村先锋驿站",
    "city": "cixi",
    "district": "龙山镇",
    "address": "方家河头村文化礼堂",
    "location": {"lat": 30.2113, "lon": 121.4398},
    "kind": "village",
    "services": ["haircut", "elderly_care"],
    "opening_hours": [{"rrule": "FREQ=DAILY", "start": "08:00", "end": "17:00"}],
    "standard": {"venue": True, "identity": True, "team": True, "projects": True, "system": True},
}
VOLUNTEER = {
    "name": "沈晓燕",
    "phone": "13957300001",
    "city": "haining",
    "district": "硖石街道",
    "community": "西山社区",
    "is_party_member": True,
    "party_branch": "西山社区党支部",
    "skills": ["haircut"],
}


def test_a_check_in_at_a_station_changes_balance_and_rank(shared, tmp_path):
    cli, deployment = shared
    cixi = deployment.token("admin", "cixi")
    haining = deployment.token("admin", "haining")
    with deployment.proxy(haining) as rpc:
        volunteer = rpc.volunteers.register(volunteer=VOLUNTEER)
        volunteer_id = volunteer["id"]
        team = rpc.volunteers.create_team(
            city="haining", team={"name": "西山义剪队", "specialty": "haircut"}
        )
        rpc.volunteers.join_team(
            team_id=team["id"], volunteer_id=volunteer_id, relation="organization"
        )
        # The points replica learns of the volunteer from volunteers' events.
        poll(lambda: _known(rpc, volunteer_id))
        assert rpc.points.balance(volunteer_id=volunteer_id)["balance"] == 0

    with deployment.proxy(cixi) as rpc:
        station = rpc.stations.create_station(station=STATION)
        activity = rpc.stations.create_activity(
            station_id=station["id"],
            activity={
                "title": "爱心义剪",
                "category": "haircut",
                "starts_at": iso_from_now(hours=-1),
                "ends_at": iso_from_now(hours=1),
                "points": 8,
                "capacity": 20,
            },
        )
        code = rpc.stations.issue_checkin_code(activity_id=activity["id"], valid_minutes=30)
    # A volunteer of Haining serves in Cixi (cross-city check-in), scanning the code itself.
    with deployment.proxy(deployment.token("volunteer", "haining", sub=volunteer_id)) as me:
        checked = me.stations.check_in(code=code["code"], volunteer_id=volunteer_id)
        assert checked["points"] == 8 and checked["hours"] == 2.0

    with deployment.proxy(haining) as rpc:
        balance = poll(
            lambda: (b := rpc.points.balance(volunteer_id=volunteer_id))["balance"] == 8 and b
        )
        assert balance == {"volunteer_id": volunteer_id, "balance": 8, "earned": 8, "spent": 0}
        [entry] = rpc.points.history(volunteer_id=volunteer_id)["items"]
        assert entry["kind"] == "checkin" and entry["city"] == "haining" and entry["hours"] == 2.0
        month = datetime.fromisoformat(entry["at"]).strftime("%Y-%m")
        # Other tests of this run may have credited volunteers too: the rank is 1 + those with
        # more points, on the city's board and on the all-cities board.
        for board in (
            rpc.points.leaderboard(city="haining", period=month, limit=500),
            rpc.points.leaderboard(period="all", limit=500),
        ):
            [mine] = [i for i in board["items"] if i["volunteer_id"] == volunteer_id]
            ahead = sum(1 for i in board["items"] if i["points"] > 8)
            assert mine == {
                "rank": ahead + 1,
                "volunteer_id": volunteer_id,
                "city": "haining",
                "points": 8,
            }
        # The team board follows the volunteers service's join_team.
        team_board = poll(lambda: rpc.points.leaderboard(team_id=team["id"])["items"])
        assert team_board == [
            {"rank": 1, "volunteer_id": volunteer_id, "city": "haining", "points": 8}
        ]
        # Points are kept in Haining: not in Cixi's catalog, yes in Haining's.
        item = rpc.points.add_catalog_item(
            city="haining", item={"name": "电影票", "cost": 5, "stock": 3}
        )
        redeemed = rpc.points.redeem(
            volunteer_id=volunteer_id, item_id=item["id"], quantity=1, idempotency_key="e2e-1"
        )
        assert redeemed["balance"] == 3
        with pytest.raises(RemoteError) as short:
            rpc.points.redeem(
                volunteer_id=volunteer_id, item_id=item["id"], quantity=1, idempotency_key="e2e-2"
            )
        assert short.value.exc_type == "Conflict"
    # notify turns the points_redeemed event into a notification for the volunteer.
    with deployment.proxy(deployment.token("volunteer", "haining", sub=volunteer_id)) as me:

        def told():
            inbox = me.notify.inbox(recipient_id=volunteer_id)["items"]
            return [n for n in inbox if n["subject_id"] == redeemed["id"]]

        [notice] = poll(told)
        assert notice["kind"] == "points_redeemed" and "电影票" in notice["title"] + notice["body"]

    year = month[:4]
    out = tmp_path / "report.csv"
    result = cli("report", "annual", "--city", "haining", "--year", year, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM spreadsheets look for
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][:3] == ["rank/排名", "volunteer_id/志愿者编号", "points/积分"]
    [mine] = [row for row in rows[1:] if row[1] == volunteer_id]
    ahead = sum(1 for row in rows[1:] if int(row[2]) > 8)
    assert mine == [str(ahead + 1), volunteer_id, "8", "2.0", "1", "0", "0"]


def _known(rpc, volunteer_id: str) -> bool:
    try:
        rpc.points.balance(volunteer_id=volunteer_id)
        return True
    except RemoteError as exc:
        if exc.exc_type == "NotFound":
            return False
        raise
