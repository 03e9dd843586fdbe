"""find_volunteers: by skill, status and availability in id order; near a place, nearest first."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from volunteers_testdata import LONGSHAN, masked, volunteer_data

from pioneer import geo
from pioneer.testing.moments import SATURDAY, WEDNESDAY, next_local

SATURDAY_10 = next_local(SATURDAY, "10:00")
WEDNESDAY_10 = next_local(WEDNESDAY, "10:00")


def all_pages(client, **kwargs):
    items, cursor, pages = [], None, 0
    while True:
        page = client.call("volunteers", "find_volunteers", cursor=cursor, **kwargs)
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return items, pages


def test_find_by_skill_status_and_availability(volunteers, admin, rpc, token):
    made = [
        admin.call(
            "volunteers",
            "register",
            volunteer_data(
                name=f"志愿者{i}",
                skills=["haircut"] if i % 2 else ["repair", "haircut"],
                availability=[] if i % 3 == 0 else volunteer_data()["availability"],
                location=None,
            ),
        )
        for i in range(7)
    ]
    rpc(token("admin", "haining")).call(
        "volunteers", "register", volunteer_data(city="haining", skills=["repair"])
    )
    everyone, pages = all_pages(admin, city="cixi", limit=3)
    assert [v["id"] for v in everyone] == sorted(v["id"] for v in made) and pages == 3
    repair, _ = all_pages(admin, city="cixi", skill="repair", limit=2)
    assert [v["name"] for v in repair] == ["志愿者0", "志愿者2", "志愿者4", "志愿者6"]
    weekend, _ = all_pages(admin, city="cixi", skill="repair", available_at=SATURDAY_10, limit=1)
    assert [v["name"] for v in weekend] == ["志愿者2", "志愿者4"]
    assert all_pages(admin, city="cixi", available_at=WEDNESDAY_10)[0] == []

    # Status: suspended volunteers are found only when asked for.
    complaint = admin.call(
        "volunteers", "record_complaint", made[1]["id"], {"reason": "迟到", "source": "hotline"}
    )
    admin.call("volunteers", "uphold_complaint", complaint["id"])
    active, _ = all_pages(admin, city="cixi", skill="haircut")
    assert made[1]["id"] not in {v["id"] for v in active} and len(active) == 6
    suspended, _ = all_pages(admin, city="cixi", skill="haircut", status="suspended")
    assert [v["id"] for v in suspended] == [made[1]["id"]]
    assert suspended[0]["status"] == "suspended" and suspended[0]["cards"] == 1

    # Phones: full for the city's admin, masked for a dispatcher.
    dispatcher = rpc(token("dispatcher", "cixi"))
    seen = dispatcher.call("volunteers", "find_volunteers", "cixi", limit=1)["items"][0]
    full = admin.call("volunteers", "find_volunteers", "cixi", limit=1)["items"][0]
    assert seen["id"] == full["id"] and full["phone"].isdigit()
    assert seen["phone"] == masked(full["phone"])
    for authorization, expected in [
        (token("volunteer", "cixi"), "Forbidden"),
        (token("dispatcher", "haining"), "Forbidden"),
    ]:
        with pytest.raises(RemoteError) as excinfo:
            rpc(authorization).call("volunteers", "find_volunteers", "cixi")
        assert excinfo.value.exc_type == expected


def test_find_near_sorted_by_distance_and_paged(volunteers, admin):
    lat, lon = LONGSHAN["lat"], LONGSHAN["lon"]
    offsets = [0.004, 0.001, 0.02, 0.003, 0.002, 0.0005, 0.009]  # north, ~55 m to ~2.2 km
    made = {}
    for i, d in enumerate(offsets):
        row = admin.call(
            "volunteers",
            "register",
            volunteer_data(
                name=f"n{i}",
                location={"lat": lat + d, "lon": lon},
                skills=["elderly_care"] if i != 3 else ["patrol"],
                availability=[] if i == 4 else volunteer_data()["availability"],
            ),
        )
        made[row["id"]] = d
    admin.call("volunteers", "register", volunteer_data(location=None))  # never found by place
    near = dict(LONGSHAN)
    found, pages = all_pages(admin, city="cixi", near=near, radius_m=1500, limit=2)
    by_distance = sorted((d, i) for i, d in made.items() if d < 0.0135)
    assert [v["id"] for v in found] == [i for _, i in by_distance] and pages == 3
    distances = [v["distance_m"] for v in found]
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(geo.distance_m(lat, lon, lat + 0.0005, lon), abs=0.2)

    skilled, _ = all_pages(
        admin, city="cixi", skill="elderly_care", near=near, radius_m=1500, limit=1
    )
    assert [v["name"] for v in skilled] == ["n5", "n1", "n4", "n0", "n6"]
    weekend, _ = all_pages(
        admin,
        city="cixi",
        skill="elderly_care",
        near=near,
        radius_m=1500,
        available_at=SATURDAY_10,
        limit=2,
    )
    assert [v["name"] for v in weekend] == ["n5", "n1", "n0", "n6"]
    # Without radius_m: the configured default (5 km) reaches n2 too.
    assert len(all_pages(admin, city="cixi", near=near)[0]) == 7
    with pytest.raises(RemoteError) as excinfo:
        admin.call("volunteers", "find_volunteers", "cixi", radius_m=100)
    assert excinfo.value.exc_type == "ValidationError" and "radius_m" in str(excinfo.value.value)
    with pytest.raises(RemoteError) as excinfo:
        admin.call("volunteers", "find_volunteers", "cixi", near=near, cursor="bm90IGEgY3Vyc29y")
    assert excinfo.value.exc_type == "ValidationError"

    # Moving a volunteer moves it in the index (and in the skill index).
    far_id = next(i for i, d in made.items() if d == 0.02)
    admin.call("volunteers", "update_volunteer", far_id, {"location": near})
    first = admin.call(
        "volunteers", "find_volunteers", "cixi", "elderly_care", near, 1500, limit=1
    )["items"][0]
    assert first["id"] == far_id and first["distance_m"] == 0
