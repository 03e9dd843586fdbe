"""Garbage to every stations method, case by case, each with the answer it must get.

Wrong types, huge and unicode-junk strings, injection strings, unknown, missing and null
fields, NaN and infinite or out-of-range coordinates, bad limits and cursors, impossible times:
each call must be refused with the contract error expected for it (a ``ValidationError`` naming
the field at fault), never an internal error; nothing is written (every table, the outbox and
the processed-events log keep their row counts) and the service keeps serving.

All cases of one database go to one running service at once.
"""

from __future__ import annotations

import math
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from nameko.exceptions import RemoteError
from stations_testdata import FANGJIAHETOU, station_data

from pioneer import ids
from pioneer.paging import encode_cursor
from pioneer.testing.fixtures import http_port, wait_for

TABLES = [
    "stations",
    "station_services",
    "posts",
    "post_claims",
    "activities",
    "checkins",
    "outbox",
    "volunteer_replica",
    "processed_events",
]
CONTRACT_ERRORS = {
    "ValidationError",
    "NotFound",
    "Conflict",
    "Unauthorized",
    "Forbidden",
    "WrongCity",
    "Suspended",
}
HUGE = "驿" * 100_000
INJECTIONS = [
    "'; DROP TABLE stations;--",
    "cixi-st-' OR '1'='1",
    "1; SELECT pg_sleep(5)--",
    "../../etc/passwd",
]
UNICODE_JUNK = [
    "\u202e\ufeff\U0001f4a9",
    "Z\u0361\u035c\u0489a\u0336l\u0337g\u0338o",
    "\ud7ff\uffff",
]
# JSON carries a lone surrogate, no database encoding can store one, and pydantic refuses it.
CONTROL = ["cixi\x00st", "a\x1bb", "\ud800"]
# Values that are wrong for every argument of a given kind.
NOT_A_STRING = [12345, -1, 1.5, math.nan, math.inf, True, False, [], ["x"], {}, {"a": 1}]
NOT_AN_INT = [1.5, "10", math.nan, math.inf, -math.inf, True, [], {}, None, "", HUGE]


class Case(NamedTuple):
    method: str
    args: tuple
    kwargs: dict[str, Any]
    expect: str  # "ok", an error type, or "ValidationError:<field path>"


def answers(expect: str, method: str, *args: Any, **kwargs: Any) -> Case:
    return Case(method, args, kwargs, expect)


def invalid(field: str, method: str, *args: Any, **kwargs: Any) -> Case:
    return Case(method, args, kwargs, f"ValidationError:{field}")


def field_of(message: str) -> str:
    return message.split(": ", 1)[0]


def names(expected: str, got: str) -> bool:
    """The message's field path is the expected one (a union may add a member's tag)."""
    return got == expected or got.startswith(expected + ".")


def scrape(container) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port(container)}/metrics") as response:
        return response.read().decode()


def rpc_counts(metrics: str) -> dict[str, float]:
    """``pioneer_rpc_requests_total`` of stations by outcome."""
    counts: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("pioneer_rpc_requests_total{") and 'service="stations"' in line:
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = counts.get(outcome, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def string_junk(field: str, method: str, valid: dict[str, Any], name: str) -> list[Case]:
    """Every kind of wrong value for a string argument ``name`` of ``method``."""
    values = [None, "", HUGE, *NOT_A_STRING, *INJECTIONS, *UNICODE_JUNK, *CONTROL]
    return [invalid(field, method, **{**valid, name: v}) for v in values]


def int_junk(field: str, method: str, valid: dict[str, Any], name: str, bad: list) -> list[Case]:
    return [invalid(field, method, **{**valid, name: v}) for v in [*NOT_AN_INT, *bad]]


def location_junk(field: str, make) -> list[Case]:
    """``make(location)`` -> a Case; bad locations with the path each must name."""
    lat, lon = FANGJIAHETOU["lat"], FANGJIAHETOU["lon"]
    cases = []
    for bad_lat in [math.nan, math.inf, -math.inf, 90.0001, -91, 1e308, "30.2", True, None, [30]]:
        cases.append(make({"lat": bad_lat, "lon": lon}, f"{field}.lat"))
    for bad_lon in [math.nan, -math.inf, 180.5, -181, "121", False]:
        cases.append(make({"lat": lat, "lon": bad_lon}, f"{field}.lon"))
    cases += [
        make({"lat": lat}, f"{field}.lon"),
        make({"lat": lat, "lon": lon, "alt": 3}, f"{field}.alt"),
        make({}, f"{field}.lat"),
        make([lat, lon], field),
        make(f"{lat},{lon}", field),
        make(None, field),
        make(HUGE, field),
    ]
    return cases


def test_garbage_to_every_method(stations, admin, rpc, token, enrol, count_rows):
    station = admin.call("stations", "create_station", station_data())
    sid = station["id"]
    post = admin.call(
        "stations", "add_post", sid, {"title": "岗", "category": "haircut", "capacity": 1}
    )
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    activity_in = {
        "title": "义剪",
        "category": "haircut",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "points": 5,
        "capacity": 10,
    }
    activity = admin.call("stations", "create_activity", sid, activity_in)
    code = admin.call("stations", "issue_checkin_code", activity["id"])["code"]
    volunteer_id = enrol()
    suspended = enrol(status="suspended")
    unknown_volunteer = ids.new_id("cixi", "vol")
    pid, aid = post["id"], activity["id"]

    valid = {
        "create_station": {"station": station_data(name="另一个驿站")},
        "get_station": {"station_id": sid},
        "update_station": {"station_id": sid, "changes": {"name": "新名字"}},
        "list_stations": {"city": "cixi", "district": "龙山镇", "service": "haircut", "limit": 10},
        "search_nearby": {"location": dict(FANGJIAHETOU), "radius_m": 1000, "limit": 10},
        "add_post": {
            "station_id": sid,
            "post": {"title": "新岗", "category": "haircut", "capacity": 3},
        },
        "claim_post": {"post_id": pid, "volunteer_id": volunteer_id},
        "release_post": {"post_id": pid, "volunteer_id": volunteer_id},
        "list_posts": {"station_id": sid, "limit": 10},
        "create_activity": {"station_id": sid, "activity": activity_in},
        "issue_checkin_code": {"activity_id": aid, "valid_minutes": 30},
        "check_in": {"code": code, "volunteer_id": volunteer_id},
    }
    cases: list[Case] = []

    # --- shape of the call, for every method -------------------------------------------------
    for method, kwargs in valid.items():
        first = next(iter(kwargs))
        cases += [
            invalid("arguments", method, *kwargs.values(), *["extra"] * 7),  # too many
            invalid("surprise", method, **kwargs, surprise=1),
            invalid(first, method, kwargs[first], **kwargs),  # given twice
        ]
        if method != "list_stations":  # every argument of list_stations is optional
            cases += [
                invalid(first, method),  # nothing given
                invalid(first, method, **{k: v for k, v in kwargs.items() if k != first}),
            ]

    # --- record ids, codes and other strings ---------------------------------------------------
    for method, name in [
        ("get_station", "station_id"),
        ("update_station", "station_id"),
        ("add_post", "station_id"),
        ("list_posts", "station_id"),
        ("create_activity", "station_id"),
        ("claim_post", "post_id"),
        ("claim_post", "volunteer_id"),
        ("release_post", "post_id"),
        ("release_post", "volunteer_id"),
        ("issue_checkin_code", "activity_id"),
        ("check_in", "volunteer_id"),
        ("check_in", "code"),
    ]:
        cases += string_junk(name, method, valid[method], name)
    for name in ("city", "service"):
        junk = string_junk(name, "list_stations", valid["list_stations"], name)
        cases += [c for c in junk if c.kwargs[name] is not None]  # None: no filter
    cases += [
        c
        for c in string_junk("service", "search_nearby", valid["search_nearby"], "service")
        if c.kwargs["service"] is not None
    ]
    # A district is free text: odd ones are harmless filters nobody matches; the rest are refused.
    for bad in [*NOT_A_STRING, "", HUGE, *CONTROL]:
        cases.append(
            invalid("district", "list_stations", **{**valid["list_stations"], "district": bad})
        )
    for odd in [*INJECTIONS, *UNICODE_JUNK]:
        cases.append(answers("ok", "list_stations", district=odd))
    # Ids of the wrong kind or of cities served elsewhere.
    cases += [
        answers("NotFound", "get_station", pid),
        answers("NotFound", "list_posts", aid),
        answers("NotFound", "claim_post", sid, volunteer_id),
        answers("NotFound", "issue_checkin_code", sid),
        answers("NotFound", "claim_post", pid, unknown_volunteer),
        answers("Suspended", "claim_post", pid, suspended),
        answers("Conflict", "release_post", pid, volunteer_id),  # never claimed
        # A cixi admin may not act in a city served elsewhere (WrongCity is for "*" tokens).
        answers("Forbidden", "add_post", ids.new_id("ningbo", "st"), valid["add_post"]["post"]),
        answers("Forbidden", "claim_post", pid, ids.new_id("ningbo", "vol")),
        answers("NotFound", "get_station", "cixi-st-00000000000000000000000000"),
    ]

    # --- limits, cursors, times, radii ---------------------------------------------------------
    for method in ("list_stations", "search_nearby", "list_posts"):
        cases += int_junk("limit", method, valid[method], "limit", [0, -1, 501, 10**30, -(10**30)])
    bad_cursors = [
        "",
        HUGE,
        "!!!",
        "Zm9v",  # base64 of "foo": not JSON
        "%00",
        *INJECTIONS,
        encode_cursor([1]),
        encode_cursor([1.5]),
        encode_cursor([10**40]),
        encode_cursor([True]),
        encode_cursor([None]),
        encode_cursor([{"a": 1}]),
        encode_cursor(["a", "b"]),
        encode_cursor([]),
        encode_cursor(["\x00"]),
        encode_cursor(["x" * 100]),
        encode_cursor({"id": "x"}),
        12345,
        ["x"],
        {"id": "x"},
    ]
    for method in ("list_stations", "list_posts"):
        for bad in bad_cursors:
            cases.append(invalid("cursor", method, **{**valid[method], "cursor": bad}))
        # A well-formed cursor past the end is simply an empty page.
        cases.append(answers("ok", method, **{**valid[method], "cursor": encode_cursor(["zz"])}))
    bad_times = [
        "",
        "tomorrow",
        "2026-11-28",  # a date is not a moment
        "2026-11-28T10:00:00",  # no offset
        "2026-13-01T10:00:00+08:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-23:59",
        "1900-01-01T00:00:00+08:00",
        HUGE,
        1764295200,
        1.5e9,
        True,
        [],
        {},
    ]
    for method in ("list_stations", "search_nearby"):
        for bad in bad_times:
            cases.append(invalid("open_at", method, **{**valid[method], "open_at": bad}))
    for bad in [0, -1, 0.5, 50_001, 1e9, "1000", math.nan, math.inf, True, [], {}, None, HUGE]:
        cases.append(invalid("radius_m", "search_nearby", FANGJIAHETOU, radius_m=bad))
    cases += location_junk(
        "location",
        lambda loc, field: invalid(
            field, "search_nearby", **{**valid["search_nearby"], "location": loc}
        ),
    )
    cases += int_junk(
        "valid_minutes",
        "issue_checkin_code",
        valid["issue_checkin_code"],
        "valid_minutes",
        [0, -30, 24 * 60 + 1, 10**20],
    )

    # --- create_station: every field of the station ------------------------------------------
    def station_case(field: str, **changes: Any) -> Case:
        return invalid(field, "create_station", station_data(**changes))

    good = station_data()
    cases += [
        invalid("station", "create_station", bad) for bad in [None, "station", 1, [], [good], True]
    ]
    cases += [
        invalid("station.name", "create_station", {k: v for k, v in good.items() if k != "name"}),
        invalid("station.extra", "create_station", {**good, "extra": 1}),
        invalid("station.id", "create_station", {**good, "id": "cixi-st-x"}),
        station_case("station.name", name=""),
        station_case("station.name", name="名" * 101),
        station_case("station.name", name=HUGE),
        station_case("station.name", name=12345),
        station_case("station.name", name="a\x00b"),
        station_case("station.name", name="\udfff驿站"),
        station_case("station.address", address="\ud800"),
        station_case("station.name", name=None),
        station_case("station.district", district=["龙山镇"]),
        station_case("station.address", address={"road": "x"}),
        station_case("station.city", city="'; DROP TABLE stations;--"),
        station_case("station.city", city="慈溪"),
        station_case("station.city", city="CIXI"),
        station_case("station.city", city=None),
        station_case("station.kind", kind="castle"),
        station_case("station.kind", kind=["town"]),
        station_case("station.services", services="haircut"),
        station_case("station.services", services=["haircut", "haircut"]),
        station_case("station.services.0", services=["Haircut!"]),
        station_case("station.services.1", services=["haircut", "juggling"]),
        station_case("station.services", services=["haircut"] * 51),
        station_case("station.services.0", services=[None]),
        station_case("station.opening_hours", opening_hours={"rrule": "FREQ=DAILY"}),
        station_case(
            "station.opening_hours.0.rrule",
            opening_hours=[{"rrule": "x", "start": "08:00", "end": "09:00"}],
        ),
        station_case(
            "station.opening_hours.0.rrule",
            opening_hours=[{"rrule": "FREQ=SECONDLY", "start": "08:00", "end": "09:00"}],
        ),
        station_case(
            "station.opening_hours.0.start",
            opening_hours=[{"rrule": "FREQ=DAILY", "start": "25:00", "end": "09:00"}],
        ),
        station_case(
            "station.opening_hours.0.end",
            opening_hours=[{"rrule": "FREQ=DAILY", "start": "08:00", "end": 9}],
        ),
        station_case(
            "station.opening_hours.0.extra",
            opening_hours=[{"rrule": "FREQ=DAILY", "start": "08:00", "end": "09:00", "extra": 1}],
        ),
        station_case("station.standard.venue", standard={"venue": "yes"}),
        station_case("station.standard.venue", standard={"venue": 1}),
        station_case("station.standard.sixth", standard={"sixth": True}),
        station_case("station.standard", standard=[True] * 5),
        answers("Forbidden", "create_station", station_data(city="ningbo")),
        answers("Forbidden", "create_station", station_data(city="haining")),
    ]
    cases += location_junk("station.location", lambda loc, field: station_case(field, location=loc))

    # --- update_station ------------------------------------------------------------------------
    def update(field: str, changes: Any) -> Case:
        return invalid(field, "update_station", sid, changes)

    cases += [
        update("changes", {}),
        update("changes", None),
        update("changes", [{"name": "x"}]),
        update("changes", {"name": None}),
        update("changes.city", {"city": "haining"}),
        update("changes.id", {"id": "cixi-st-x"}),
        update("changes.name", {"name": HUGE}),
        update("changes.kind", {"kind": "castle"}),
        update("changes.services", {"services": ["haircut", "haircut"]}),
        update("changes.services.0", {"services": ["juggling"]}),
        update("changes.standard.team", {"standard": {"team": "no"}}),
        update(
            "changes.opening_hours.0.rrule",
            {"opening_hours": [{"rrule": "FREQ=DAILY;BYDAY=XX", "start": "08:00", "end": "09:00"}]},
        ),
        answers("NotFound", "update_station", ids.new_id("cixi", "st"), {"name": "x"}),
        answers("Forbidden", "update_station", ids.new_id("ningbo", "st"), {"name": "x"}),
    ]
    cases += location_junk("changes.location", lambda loc, field: update(field, {"location": loc}))

    # --- add_post ------------------------------------------------------------------------------
    good_post = valid["add_post"]["post"]

    def post_case(field: str, post: Any) -> Case:
        return invalid(field, "add_post", sid, post)

    cases += [post_case("post", bad) for bad in [None, "post", [good_post], 3]]
    cases += [
        post_case("post.title", {k: v for k, v in good_post.items() if k != "title"}),
        post_case("post.extra", {**good_post, "extra": True}),
        post_case("post.claimed", {**good_post, "claimed": 3}),
        post_case("post.title", {**good_post, "title": ""}),
        post_case("post.title", {**good_post, "title": HUGE}),
        post_case("post.title", {**good_post, "title": ["t"]}),
        post_case("post.category", {**good_post, "category": "juggling"}),
        post_case("post.category", {**good_post, "category": INJECTIONS[0]}),
    ]
    for bad in [0, -1, 10_001, "3", 3.0, 3.5, True, None, math.nan, [3]]:
        cases.append(post_case("post.capacity", {**good_post, "capacity": bad}))

    # --- create_activity -----------------------------------------------------------------------
    def activity_case(field: str, **changes: Any) -> Case:
        return invalid(field, "create_activity", sid, {**activity_in, **changes})

    cases += [invalid("activity", "create_activity", sid, bad) for bad in [None, "x", [], 1]]
    cases += [
        invalid(
            "activity.title",
            "create_activity",
            sid,
            {k: v for k, v in activity_in.items() if k != "title"},
        ),
        invalid("activity.extra", "create_activity", sid, {**activity_in, "extra": 1}),
        activity_case("activity.title", title=HUGE),
        activity_case("activity.category", category="juggling"),
        activity_case("activity.points", points=-1),
        activity_case("activity.points", points=10_001),
        activity_case("activity.points", points="5"),
        activity_case("activity.points", points=math.inf),
        activity_case("activity.capacity", capacity=0),
        activity_case("activity.capacity", capacity=True),
        activity_case("activity.starts_at", starts_at="2026-12-01T10:00:00"),
        activity_case("activity.starts_at", starts_at=1764295200),
        activity_case("activity.starts_at", starts_at="0001-01-01T00:00:00+14:00"),
        activity_case("activity.ends_at", ends_at="9999-12-31T10:00:00-10:00"),
        activity_case("activity.ends_at", ends_at="next week"),
        activity_case("activity", ends_at=activity_in["starts_at"]),  # ends when it starts
        activity_case("activity", ends_at=(starts - timedelta(hours=1)).isoformat()),
        activity_case("activity", ends_at=(starts + timedelta(days=31)).isoformat()),
        answers("Forbidden", "create_activity", ids.new_id("ningbo", "st"), activity_in),
    ]

    # --- send them all at once -----------------------------------------------------------------
    # Quiet first: every event so far published and handled, so counts only change if we write.
    wait_for(lambda: count_rows("outbox WHERE published_at IS NULL") == 0)
    # Handled: two volunteer events (its own station_created is skipped without a transaction).
    wait_for(lambda: count_rows("processed_events") == 2)
    before = {table: count_rows(table) for table in TABLES}
    metrics_before = rpc_counts(scrape(stations))

    # --- records of cities served by another deployment, for a platform-wide admin ------------
    everywhere = rpc(token("admin", "*"))
    elsewhere = [
        ("create_station", (station_data(city="ningbo"),)),
        ("update_station", (ids.new_id("ningbo", "st"), {"name": "x"})),
        ("add_post", (ids.new_id("ningbo", "st"), good_post)),
        ("create_activity", (ids.new_id("ningbo", "st"), activity_in)),
        ("claim_post", (ids.new_id("ningbo", "post"), volunteer_id)),
        ("release_post", (ids.new_id("ningbo", "post"), volunteer_id)),
        ("issue_checkin_code", (ids.new_id("ningbo", "act"),)),
    ]
    wrong_city = [
        (method, everywhere.call_async("stations", method, *args)) for method, args in elsewhere
    ]

    # --- authentication, every method ----------------------------------------------------------
    tokens = {
        "none": None,
        "expired": token("admin", "cixi", ttl_s=-60),
        "garbage": "Bearer not.a.jwt",
        "wrong scheme": "Basic dXNlcjpwYXNz",
        "huge": "Bearer " + "a" * 50_000,  # still within one AMQP frame
        "not a string": 12345,
    }
    unauthorized = []
    for label, authorization in tokens.items():
        client = rpc(authorization)
        for method, kwargs in valid.items():
            unauthorized.append((label, method, client.call_async("stations", method, **kwargs)))

    assert len(cases) > 500

    pending = [
        (case, admin.call_async("stations", case.method, *case.args, **case.kwargs))
        for case in cases
    ]
    wrong: list[tuple[str, str, str, str]] = []
    for case, reply in pending:
        try:
            result = reply.result()
            got = "ok"
        except RemoteError as exc:
            got, result = exc.exc_type, exc.value
            if got not in CONTRACT_ERRORS:
                wrong.append(
                    (case.method, case.expect, f"NOT A CONTRACT ERROR {got}", result[:120])
                )
                continue
        expected_type, _, expected_field = case.expect.partition(":")
        if got != expected_type:
            wrong.append((case.method, case.expect, got, str(result)[:120]))
        elif expected_field and not names(expected_field, field_of(result)):
            wrong.append((case.method, case.expect, field_of(result)[:80], str(result)[:120]))
        elif got == "ok":
            assert result["items"] == [] and result["next_cursor"] is None
    assert wrong == [], "\n".join(map(str, wrong))
    for label, method, reply in unauthorized:
        try:
            reply.result()
            raise AssertionError(f"{method} accepted a {label} token")
        except RemoteError as exc:
            assert exc.exc_type == "Unauthorized", (label, method, exc.exc_type)

    for method, reply in wrong_city:
        try:
            reply.result()
            raise AssertionError(f"{method} wrote to another deployment's city")
        except RemoteError as exc:
            assert exc.exc_type == "WrongCity" and "ningbo" in exc.value, (method, exc.exc_type)

    # Nothing written; no call ended as an internal error.
    assert {table: count_rows(table) for table in TABLES} == before
    sent = len(cases) + len(unauthorized) + len(wrong_city)
    metrics_after = wait_for(
        lambda: next(
            (
                counts
                for counts in [rpc_counts(scrape(stations))]
                if sum(counts.values()) - sum(metrics_before.values()) >= sent
            ),
            None,
        )
    )
    assert metrics_after.get("error", 0) == metrics_before.get("error", 0) == 0

    # Still serving, and the real thing still works.
    assert admin.call("stations", "ping")["service"] == "stations"
    assert admin.call("stations", "claim_post", pid, volunteer_id)["claimed"] == 1
    assert admin.call("stations", "check_in", code, volunteer_id)["points"] == 5
    assert admin.call("stations", "get_station", sid) == station
    assert [p["id"] for p in admin.call("stations", "list_posts", sid)["items"]] == [pid]
    nearby = admin.call("stations", "search_nearby", FANGJIAHETOU, radius_m=100)
    assert [s["id"] for s in nearby["items"]] == [sid]
