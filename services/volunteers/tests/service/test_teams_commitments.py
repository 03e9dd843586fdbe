"""Teams (one organisational team per volunteer, by the database) and yearly commitments."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from volunteers_testdata import volunteer_data

from pioneer import ids


def error_of(call, *args, **kwargs) -> RemoteError:
    with pytest.raises(RemoteError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value


def test_joining_and_leaving_a_team_publish_the_volunteers_teams(volunteers, admin, spy):
    watch = spy("volunteers")
    team = admin.call(
        "volunteers", "create_team", "cixi", {"name": "龙山义剪队", "specialty": "haircut"}
    )
    other = admin.call(
        "volunteers", "create_team", "cixi", {"name": "巡防队", "specialty": "patrol"}
    )
    a = admin.call("volunteers", "register", volunteer_data(name="甲"))["id"]
    admin.call("volunteers", "join_team", team["id"], a, "organization")
    admin.call("volunteers", "join_team", other["id"], a, "activity")
    admin.call("volunteers", "leave_team", team["id"], a)
    [registered] = watch.wait_for("volunteer_registered")
    assert registered["data"]["teams"] == [] and registered["data"]["version"] == 1
    updates = watch.wait_for("volunteer_updated", count=3)
    assert [(e["data"]["version"], e["data"]["teams"]) for e in updates] == [
        (2, [team["id"]]),
        (3, sorted([team["id"], other["id"]])),
        (4, [other["id"]]),
    ]
    assert admin.call("volunteers", "get_volunteer", a)["version"] == 4


def test_teams_membership_rules(volunteers, admin, rpc, token, database):
    team = admin.call(
        "volunteers", "create_team", "cixi", {"name": "龙山义剪队", "specialty": "haircut"}
    )
    assert team["id"].startswith("cixi-team-") and team["members"] == 0
    other = admin.call(
        "volunteers", "create_team", "cixi", {"name": "巡防队", "specialty": "patrol"}
    )
    third = admin.call(
        "volunteers", "create_team", "cixi", {"name": "文艺队", "specialty": "culture_arts"}
    )
    a = admin.call("volunteers", "register", volunteer_data(name="甲"))["id"]
    b = admin.call("volunteers", "register", volunteer_data(name="乙"))["id"]
    me = rpc(token("volunteer", "cixi", sub=a))

    joined = me.call("volunteers", "join_team", team["id"], a, "organization")
    assert joined["relation"] == "organization" and joined["team_id"] == team["id"]
    # A second organisational team is a Conflict; activity teams are any number.
    error = error_of(me.call, "volunteers", "join_team", other["id"], a, "organization")
    assert error.exc_type == "Conflict" and team["id"] in str(error.value)
    me.call("volunteers", "join_team", other["id"], a, "activity")
    me.call("volunteers", "join_team", third["id"], a, "activity")
    assert error_of(me.call, "volunteers", "join_team", other["id"], a, "activity").exc_type == (
        "Conflict"
    )
    admin.call("volunteers", "join_team", other["id"], b, "organization")
    # A volunteer token joins only itself.
    assert error_of(me.call, "volunteers", "join_team", third["id"], b, "activity").exc_type == (
        "Forbidden"
    )

    members = admin.call("volunteers", "list_members", other["id"], limit=1)
    assert len(members["items"]) == 1 and members["next_cursor"]
    rest = admin.call("volunteers", "list_members", other["id"], cursor=members["next_cursor"])
    relations = {m["volunteer_id"]: m["relation"] for m in members["items"] + rest["items"]}
    assert relations == {a: "activity", b: "organization"} and rest["next_cursor"] is None
    assert {m["name"] for m in members["items"] + rest["items"]} == {"甲", "乙"}

    # Leaving the organisational team frees the slot.
    left = me.call("volunteers", "leave_team", team["id"], a)
    assert left["id"] == team["id"] and left["members"] == 0
    assert error_of(me.call, "volunteers", "leave_team", team["id"], a).exc_type == "Conflict"
    me.call("volunteers", "leave_team", third["id"], a)
    assert me.call("volunteers", "join_team", third["id"], a, "organization")["relation"] == (
        "organization"
    )
    assert admin.call("volunteers", "list_members", third["id"])["items"][0]["relation"] == (
        "organization"
    )

    # The rule is the database's, not only the code's: a second organisation row cannot exist.
    with pytest.raises(IntegrityError), database.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO team_members (team_id, volunteer_id, relation, joined_at)"
                " VALUES (:t, :v, 'organization', CURRENT_TIMESTAMP)"
            ),
            {"t": team["id"], "v": a},
        )

    missing = ids.new_id("cixi", "team")
    assert error_of(admin.call, "volunteers", "join_team", missing, a, "activity").exc_type == (
        "NotFound"
    )
    assert error_of(admin.call, "volunteers", "list_members", missing).exc_type == "NotFound"
    error = error_of(admin.call, "volunteers", "join_team", team["id"], a, "leader")
    assert error.exc_type == "ValidationError" and str(error.value).startswith("relation")
    error = error_of(
        admin.call, "volunteers", "create_team", "cixi", {"name": "x", "specialty": "juggling"}
    )
    assert error.exc_type == "ValidationError" and str(error.value).startswith("team.specialty")
    error = error_of(
        rpc(token("dispatcher", "cixi")).call,
        "volunteers",
        "create_team",
        "cixi",
        {"name": "x", "specialty": "haircut"},
    )
    assert error.exc_type == "Forbidden"


def test_organisation_joins_racing_one_wins(volunteers, admin):
    vid = admin.call("volunteers", "register", volunteer_data())["id"]
    teams = [
        admin.call("volunteers", "create_team", "cixi", {"name": f"队{i}", "specialty": "repair"})
        for i in range(6)
    ]
    calls = [
        admin.call_async("volunteers", "join_team", t["id"], vid, "organization") for t in teams
    ]
    outcomes = []
    for call in calls:
        try:
            outcomes.append(call.result()["relation"])
        except RemoteError as exc:
            outcomes.append(exc.exc_type)
    assert sorted(outcomes) == ["Conflict"] * 5 + ["organization"]


def test_commitments_by_city_and_year(volunteers, admin, rpc, token):
    a = admin.call("volunteers", "register", volunteer_data(name="甲"))["id"]
    b = admin.call("volunteers", "register", volunteer_data(name="乙"))["id"]
    h = rpc(token("admin", "haining")).call(
        "volunteers", "register", volunteer_data(city="haining")
    )["id"]
    me = rpc(token("volunteer", "cixi", sub=a))
    made = me.call("volunteers", "make_commitment", a, {"year": 2026, "text": "每月义剪两次"})
    assert made["volunteer_id"] == a and made["year"] == 2026 and made["volunteer_name"] == "甲"
    assert made["city"] == "cixi" and made["created_at"].endswith("+08:00")
    error = error_of(me.call, "volunteers", "make_commitment", a, {"year": 2026, "text": "again"})
    assert error.exc_type == "Conflict"
    me.call("volunteers", "make_commitment", a, {"year": 2027, "text": "明年继续"})
    admin.call("volunteers", "make_commitment", b, {"year": 2026, "text": "巡防每周一次"})
    rpc(token("admin", "haining")).call(
        "volunteers", "make_commitment", h, {"year": 2026, "text": "海宁"}
    )
    error = error_of(me.call, "volunteers", "make_commitment", b, {"year": 2026, "text": "x"})
    assert error.exc_type == "Forbidden"

    # Public: any role reads them, paged.
    reader = rpc(token("ops", "jiaxing"))
    first = reader.call("volunteers", "list_commitments", "cixi", 2026, limit=1)
    second = reader.call(
        "volunteers", "list_commitments", "cixi", 2026, cursor=first["next_cursor"]
    )
    got = first["items"] + second["items"]
    assert (
        sorted(c["volunteer_name"] for c in got) == ["乙", "甲"] and second["next_cursor"] is None
    )
    assert [
        c["text"] for c in reader.call("volunteers", "list_commitments", "cixi", 2027)["items"]
    ] == ["明年继续"]
    for bad in (
        {"year": 1999, "text": "x"},
        {"year": 2026, "text": ""},
        {"year": "2026", "text": "x"},
    ):
        error = error_of(admin.call, "volunteers", "make_commitment", a, bad)
        assert error.exc_type == "ValidationError" and str(error.value).startswith("commitment.")


@pytest.mark.parametrize(
    "role, city, expected",
    [
        ("admin", "cixi", "ok"),
        ("ops", "cixi", "ok"),
        ("station_manager", "*", "ok"),
        ("dispatcher", "haining", "Forbidden"),
        ("volunteer", "cixi", "Forbidden"),
    ],
)
def test_a_teams_members_are_for_its_citys_staff(
    volunteers, admin, rpc, token, role, city, expected
):
    team = admin.call(
        "volunteers", "create_team", "cixi", {"name": "理发队", "specialty": "haircut"}
    )
    try:
        rpc(token(role, city)).call("volunteers", "list_members", team["id"])
        got = "ok"
    except RemoteError as exc:
        got = exc.exc_type
    assert got == expected
