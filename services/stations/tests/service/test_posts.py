"""Posts (岗位): add, list, claim and release over RPC, per the contract.

Capacity and volunteer status are enforced, a volunteer holds a post once, a failed claim
writes nothing (no claim row, no event), ``post_claimed`` / ``post_released`` carry the right
data, and however many claims race, exactly ``capacity`` of them win.
"""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import text
from stations_testdata import station_data

from pioneer import ids
from pioneer.paging import encode_cursor
from pioneer.testing.fixtures import volunteer_event, wait_for
from pioneer.testing.moments import iso_from_now

POST_FIELDS = {
    "id",
    "station_id",
    "city",
    "title",
    "category",
    "capacity",
    "claimed",
    "available",
    "created_at",
}


def error_of(call, *args, **kwargs) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        call(*args, **kwargs)
    return caught.value


def scalar(database, sql: str, **params):
    with database.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def relay_drained(database) -> None:
    """Wait until the outbox relay has published every committed event."""
    wait_for(
        lambda: scalar(database, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    )


@pytest.fixture
def station(stations, admin):
    return admin.call("stations", "create_station", station_data())


def add_post(client, station_id: str, capacity: int, title: str = "义务理发", category="haircut"):
    return client.call(
        "stations",
        "add_post",
        station_id,
        {"title": title, "category": category, "capacity": capacity},
    )


def test_add_and_list_posts(station, admin, rpc, token):
    post = add_post(admin, station["id"], 3)
    assert set(post) == POST_FIELDS
    assert post["id"].startswith("cixi-post-") and ids.is_valid(post["id"])
    assert (post["station_id"], post["city"], post["title"], post["category"]) == (
        station["id"],
        "cixi",
        "义务理发",
        "haircut",
    )
    assert (post["capacity"], post["claimed"], post["available"]) == (3, 0, 3)
    assert post["created_at"].endswith("+08:00")

    # A station manager of the city may add posts; other roles and other cities may not.
    manager = rpc(token("station_manager", "cixi"))
    more = [add_post(manager, station["id"], n, title=f"岗位{n}") for n in (1, 2, 4, 5)]
    for role, city in [("volunteer", "cixi"), ("ops", "cixi"), ("admin", "haining")]:
        refused = error_of(add_post, rpc(token(role, city)), station["id"], 1)
        assert refused.exc_type == "Forbidden", (role, city)
    unknown_code = error_of(add_post, admin, station["id"], 1, category="juggling")
    assert unknown_code.exc_type == "ValidationError"
    assert unknown_code.value.startswith("post.category")
    zero = error_of(add_post, admin, station["id"], 0)
    assert zero.exc_type == "ValidationError" and zero.value.startswith("post.capacity")
    missing = ids.new_id("cixi", "st")
    assert error_of(add_post, admin, missing, 1).exc_type == "NotFound"
    elsewhere = error_of(add_post, rpc(token("admin", "*")), ids.new_id("ningbo", "st"), 1)
    assert elsewhere.exc_type == "WrongCity" and "ningbo" in elsewhere.value

    # list_posts: id order, pages of two, readable by any role.
    expected = sorted([post, *more], key=lambda p: p["id"])
    reader = rpc(token("ops", "jiaxing"))
    pages, cursor = [], None
    while True:
        page = reader.call("stations", "list_posts", station["id"], limit=2, cursor=cursor)
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(items) for items in pages] == [2, 2, 1]
    assert [p for items in pages for p in items] == expected
    other_station = admin.call("stations", "create_station", station_data(name="别的驿站"))
    assert admin.call("stations", "list_posts", other_station["id"]) == {
        "items": [],
        "next_cursor": None,
    }
    assert error_of(admin.call, "stations", "list_posts", missing).exc_type == "NotFound"
    for bad_cursor in ["garbage!", encode_cursor([1]), encode_cursor(["a", "b"])]:
        refused = error_of(admin.call, "stations", "list_posts", station["id"], cursor=bad_cursor)
        assert refused.exc_type == "ValidationError" and refused.value.startswith("cursor")


def test_claim_and_release_enforce_capacity_and_publish_events(
    station, admin, enrol, spy, database
):
    watch = spy("stations")
    post = add_post(admin, station["id"], 2)
    first, second, third = enrol(), enrol(), enrol()

    claimed = admin.call("stations", "claim_post", post["id"], first)
    assert claimed == {
        **post,
        "claimed": 1,
        "available": 1,
        "volunteer_id": first,
    }
    # A volunteer holds a post once.
    again = error_of(admin.call, "stations", "claim_post", post["id"], first)
    assert again.exc_type == "Conflict" and first in again.value
    assert admin.call("stations", "claim_post", post["id"], second)["available"] == 0
    # Full: refused, and nothing of the refused claim is written.
    full = error_of(admin.call, "stations", "claim_post", post["id"], third)
    assert full.exc_type == "Conflict" and "full" in full.value
    claims = "SELECT count(*) FROM post_claims WHERE post_id = :p"
    assert scalar(database, claims, p=post["id"]) == 2
    assert scalar(database, "SELECT claimed FROM posts WHERE id = :p", p=post["id"]) == 2
    outbox_claims = "SELECT count(*) FROM outbox WHERE event_type = 'post_claimed'"
    assert scalar(database, outbox_claims) == 2

    # Releasing frees the slot for someone else; releasing what one does not hold is a Conflict.
    released = admin.call("stations", "release_post", post["id"], first)
    assert released == {**post, "claimed": 1, "available": 1, "volunteer_id": first}
    not_held = error_of(admin.call, "stations", "release_post", post["id"], first)
    assert not_held.exc_type == "Conflict"
    assert admin.call("stations", "claim_post", post["id"], third)["claimed"] == 2
    assert error_of(admin.call, "stations", "claim_post", post["id"], first).exc_type == "Conflict"
    [listed] = admin.call("stations", "list_posts", station["id"])["items"]
    assert (listed["claimed"], listed["available"]) == (2, 0)
    assert scalar(database, claims, p=post["id"]) == 2

    def expected(volunteer_id: str, count: int) -> dict:
        return {
            "post_id": post["id"],
            "station_id": station["id"],
            "volunteer_id": volunteer_id,
            "volunteer_city": "cixi",
            "claimed": count,
            "capacity": 2,
        }

    claimed_events = watch.wait_for("post_claimed", count=3)
    [released_event] = watch.wait_for("post_released")
    relay_drained(database)
    assert len(watch.of_type("post_claimed")) == 3 and len(watch.of_type("post_released")) == 1
    assert [e["data"] for e in claimed_events] == [
        expected(first, 1),
        expected(second, 2),
        expected(third, 2),
    ]
    assert released_event["data"] == expected(first, 1)
    for event in [*claimed_events, released_event]:
        assert event["city"] == event["origin_city"] == "cixi"
        assert event["occurred_at"].endswith("+08:00") and event["version"] == 1
    assert len({e["event_id"] for e in [*claimed_events, released_event]}) == 4


def test_volunteer_status_comes_from_the_replica(station, admin, enrol, database):
    post = add_post(admin, station["id"], 5)
    unknown = ids.new_id("cixi", "vol")
    refused = error_of(admin.call, "stations", "claim_post", post["id"], unknown)
    assert refused.exc_type == "NotFound" and unknown in refused.value
    for status in ("suspended", "removed"):
        volunteer_id = enrol(status=status)
        refused = error_of(admin.call, "stations", "claim_post", post["id"], volunteer_id)
        assert refused.exc_type == "Suspended", status
    # Suspended later (a newer version of a volunteer who was active): refused from then on.
    later = enrol()
    enrol(later, status="suspended", version=2, suspended_until=iso_from_now(days=30))
    assert error_of(admin.call, "stations", "claim_post", post["id"], later).exc_type == (
        "Suspended"
    )
    assert scalar(database, "SELECT count(*) FROM post_claims") == 0
    assert scalar(database, "SELECT claimed FROM posts WHERE id = :p", p=post["id"]) == 0
    assert scalar(database, "SELECT count(*) FROM outbox WHERE event_type LIKE 'post_%'") == 0
    # Reinstated (a newer version, active again): may claim again.
    enrol(later, status="active", version=3)
    assert admin.call("stations", "claim_post", post["id"], later)["claimed"] == 1
    # Unknown posts and posts of cities served elsewhere.
    active = enrol()
    missing = ids.new_id("cixi", "post")
    assert error_of(admin.call, "stations", "claim_post", missing, active).exc_type == "NotFound"
    assert error_of(admin.call, "stations", "release_post", missing, active).exc_type == "NotFound"
    foreign = error_of(admin.call, "stations", "claim_post", ids.new_id("ningbo", "post"), active)
    assert foreign.exc_type == "WrongCity" and "ningbo" in foreign.value


def test_who_may_claim_for_whom(station, admin, rpc, token, enrol, spy, database):
    watch = spy("stations")
    post = add_post(admin, station["id"], 5)
    me, other = enrol(), enrol()
    mine = rpc(token("volunteer", "cixi", sub=me))
    assert mine.call("stations", "claim_post", post["id"], me)["volunteer_id"] == me
    # A volunteer token acts only for its own id, for claims and releases alike.
    assert error_of(mine.call, "stations", "claim_post", post["id"], other).exc_type == "Forbidden"
    admin.call("stations", "claim_post", post["id"], other)
    assert error_of(mine.call, "stations", "release_post", post["id"], other).exc_type == (
        "Forbidden"
    )
    # Roles that do not act for volunteers, and an admin of another city.
    for role, city in [("ops", "cixi"), ("station_manager", "cixi"), ("admin", "haining")]:
        refused = error_of(rpc(token(role, city)).call, "stations", "claim_post", post["id"], me)
        assert refused.exc_type == "Forbidden", (role, city)
    # A dispatcher of the city may act for its volunteers.
    dispatcher = rpc(token("dispatcher", "cixi"))
    assert dispatcher.call("stations", "release_post", post["id"], other)["claimed"] == 1
    # A volunteer of another city claims a cixi post with its own token (cross-city service).
    visitor = enrol(city="haining")
    theirs = rpc(token("volunteer", "haining", sub=visitor))
    assert theirs.call("stations", "claim_post", post["id"], visitor)["claimed"] == 2
    event = watch.wait_for("post_claimed", lambda e: e["data"]["volunteer_id"] == visitor)[0]
    assert event["city"] == "cixi" and event["data"]["volunteer_city"] == "haining"
    city = "SELECT volunteer_city FROM post_claims WHERE volunteer_id = :v"
    assert scalar(database, city, v=visitor) == "haining"
    released = theirs.call("stations", "release_post", post["id"], visitor)
    assert released["claimed"] == 1
    gone = watch.wait_for("post_released", lambda e: e["data"]["volunteer_id"] == visitor)[0]
    assert gone["data"]["volunteer_city"] == "haining"


def test_concurrent_claims_fill_capacity_exactly(
    station, admin, rpc, token, dispatch_event, database, spy
):
    watch = spy("stations")
    capacity, callers = 5, 40
    post = add_post(admin, station["id"], capacity, title="文明劝导", category="tourist_info")
    volunteers = [ids.new_id("cixi", "vol") for _ in range(callers)]
    for volunteer_id in volunteers:
        dispatch_event("volunteers", "volunteer_registered", "cixi", volunteer_event(volunteer_id))
    wait_for(lambda: scalar(database, "SELECT count(*) FROM volunteer_replica") == callers)

    # Every volunteer claims for itself over its own connection, all at once.
    clients = [rpc(token("volunteer", "cixi", sub=v)) for v in volunteers]
    pending = [
        (v, client.call_async("stations", "claim_post", post["id"], v))
        for v, client in zip(volunteers, clients, strict=True)
    ]
    won, refused = {}, []
    for volunteer_id, reply in pending:
        try:
            won[volunteer_id] = reply.result()
        except RemoteError as exc:
            refused.append((exc.exc_type, exc.value))
    assert len(won) == capacity
    assert [kind for kind, _ in refused] == ["Conflict"] * (callers - capacity)
    assert all("full" in message for _, message in refused)
    assert sorted(w["claimed"] for w in won.values()) == list(range(1, capacity + 1))
    assert all(w["volunteer_id"] == v for v, w in won.items())

    holders = "SELECT volunteer_id FROM post_claims WHERE post_id = :p"
    with database.connect() as conn:
        assert {r[0] for r in conn.execute(text(holders), {"p": post["id"]})} == set(won)
    assert scalar(database, "SELECT claimed FROM posts WHERE id = :p", p=post["id"]) == capacity
    outbox_claims = "SELECT count(*) FROM outbox WHERE event_type = 'post_claimed'"
    assert scalar(database, outbox_claims) == capacity
    events = watch.wait_for("post_claimed", count=capacity)
    relay_drained(database)
    assert len(watch.of_type("post_claimed")) == capacity
    assert {e["data"]["volunteer_id"] for e in events} == set(won)
    assert sorted(e["data"]["claimed"] for e in events) == list(range(1, capacity + 1))

    # One volunteer claiming one post many times at once holds it once.
    other = add_post(admin, station["id"], capacity, title="环境整治", category="haircut")
    eager = volunteers[-1]
    replies = [admin.call_async("stations", "claim_post", other["id"], eager) for _ in range(8)]
    outcomes = []
    for reply in replies:
        try:
            outcomes.append(reply.result()["claimed"])
        except RemoteError as exc:
            outcomes.append(exc.exc_type)
    assert sorted(outcomes, key=str) == [1] + ["Conflict"] * 7
    assert scalar(database, "SELECT claimed FROM posts WHERE id = :p", p=other["id"]) == 1
    assert (
        scalar(database, "SELECT count(*) FROM post_claims WHERE post_id = :p", p=other["id"]) == 1
    )
