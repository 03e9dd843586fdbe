"""Posts (岗位) claimed under concurrency, and QR check-in at activities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import text
from stations_testdata import station_data

from pioneer import ids
from pioneer.testing.fixtures import volunteer_event, wait_for
from stations import domain
from stations.service import StationsService


def error_of(call) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        call()
    return caught.value


@pytest.fixture
def station(stations, admin):
    return admin.call("stations", "create_station", station_data())


@pytest.fixture
def post(station, admin):
    return admin.call(
        "stations",
        "add_post",
        station["id"],
        {"title": "义务理发", "category": "haircut", "capacity": 2},
    )


def activity_data(**overrides):
    starts = datetime.now(UTC) + timedelta(hours=1)
    data = {
        "title": "周末义剪",
        "category": "haircut",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=3, minutes=30)).isoformat(),
        "points": 8,
        "capacity": 50,
    }
    data.update(overrides)
    return data


def test_claim_release_capacity_and_events(post, admin, enrol, spy, count_rows):
    watch = spy("stations")
    first, second, third = enrol(), enrol(), enrol()
    claimed = admin.call("stations", "claim_post", post["id"], first)
    assert (
        claimed["claimed"] == 1 and claimed["available"] == 1 and claimed["volunteer_id"] == first
    )
    assert error_of(lambda: admin.call("stations", "claim_post", post["id"], first)).exc_type == (
        "Conflict"
    )
    admin.call("stations", "claim_post", post["id"], second)
    full = error_of(lambda: admin.call("stations", "claim_post", post["id"], third))
    assert full.exc_type == "Conflict" and "full" in full.value
    assert count_rows("post_claims") == 2

    released = admin.call("stations", "release_post", post["id"], first)
    assert released["claimed"] == 1 and released["available"] == 1
    assert admin.call("stations", "claim_post", post["id"], third)["claimed"] == 2
    never_held = error_of(lambda: admin.call("stations", "release_post", post["id"], first))
    assert never_held.exc_type in {"NotFound", "Conflict"}

    [listed] = admin.call("stations", "list_posts", post["station_id"])["items"]
    assert listed["claimed"] == 2 and listed["capacity"] == 2
    events = watch.wait_for("post_claimed", count=3)
    assert {e["data"]["volunteer_id"] for e in events} == {first, second, third}
    assert all(e["data"]["post_id"] == post["id"] for e in events)
    [gone] = watch.wait_for("post_released")
    assert gone["data"]["volunteer_id"] == first and gone["data"]["claimed"] == 1


def test_volunteer_status_comes_from_the_replica(post, admin, enrol):
    unknown = ids.new_id("cixi", "vol")
    assert error_of(lambda: admin.call("stations", "claim_post", post["id"], unknown)).exc_type == (
        "NotFound"
    )
    suspended = enrol(status="suspended")
    removed = enrol(status="removed")
    for volunteer_id in (suspended, removed):
        refused = error_of(
            lambda v=volunteer_id: admin.call("stations", "claim_post", post["id"], v)
        )
        assert refused.exc_type == "Suspended"
    # Reinstated (a newer version) -> may claim again.
    enrol(suspended, status="active", version=2)
    assert admin.call("stations", "claim_post", post["id"], suspended)["claimed"] == 1


def test_a_volunteer_token_acts_only_for_itself(post, rpc, token, enrol):
    me, other = enrol(), enrol()
    mine = rpc(token("volunteer", "cixi", sub=me))
    assert mine.call("stations", "claim_post", post["id"], me)["volunteer_id"] == me
    refused = error_of(lambda: mine.call("stations", "claim_post", post["id"], other))
    assert refused.exc_type == "Forbidden"


def test_concurrent_claims_fill_capacity_exactly(station, admin, dispatch_event, database):
    capacity, callers = 5, 40
    post = admin.call(
        "stations",
        "add_post",
        station["id"],
        {"title": "文明劝导", "category": "tourist_info", "capacity": capacity},
    )
    volunteers = [ids.new_id("cixi", "vol") for _ in range(callers)]
    for volunteer_id in volunteers:
        dispatch_event("volunteers", "volunteer_registered", "cixi", volunteer_event(volunteer_id))

    def replicated() -> bool:
        with database.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM volunteer_replica")).scalar() == callers

    wait_for(replicated)
    pending = [admin.call_async("stations", "claim_post", post["id"], v) for v in volunteers]
    won, refused = [], []
    for reply in pending:
        try:
            won.append(reply.result())
        except RemoteError as exc:
            refused.append(exc.exc_type)
    assert len(won) == capacity
    assert refused == ["Conflict"] * (callers - capacity)
    assert sorted(w["claimed"] for w in won) == list(range(1, capacity + 1))
    with database.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM post_claims")).scalar() == capacity
        assert conn.execute(text("SELECT claimed FROM posts")).scalar() == capacity


def test_check_in_with_a_code(station, admin, enrol, spy, count_rows):
    watch = spy("stations")
    activity = admin.call("stations", "create_activity", station["id"], activity_data())
    issued = admin.call("stations", "issue_checkin_code", activity["id"], 30)
    assert issued["activity_id"] == activity["id"] and issued["expires_at"].endswith("+08:00")
    volunteer_id = enrol()
    result = admin.call("stations", "check_in", issued["code"], volunteer_id)
    assert result["activity_id"] == activity["id"] and result["volunteer_id"] == volunteer_id
    assert result["points"] == 8 and result["hours"] == 3.5
    again = error_of(lambda: admin.call("stations", "check_in", issued["code"], volunteer_id))
    assert again.exc_type == "Conflict"
    assert count_rows("checkins") == 1
    [event] = watch.wait_for("volunteer_checked_in")
    assert event["data"] == {
        **event["data"],
        "activity_id": activity["id"],
        "station_id": station["id"],
        "volunteer_id": volunteer_id,
        "volunteer_city": "cixi",
        "hours": 3.5,
        "points": 8,
    }


def test_codes_altered_forged_expired_or_for_nothing_are_rejected(
    station, admin, enrol, service_config, count_rows
):
    activity = admin.call("stations", "create_activity", station["id"], activity_data())
    code = admin.call("stations", "issue_checkin_code", activity["id"])["code"]
    volunteer_id = enrol()
    prefix, key_id, payload, signature = code.split(".")
    keys, _ = StationsService.settings_model.model_validate(service_config).checkin_keys()
    other_activity = ids.new_id("cixi", "act")
    bad_codes = {
        "altered signature": f"{prefix}.{key_id}.{payload}.{signature[:-2]}AA",
        "altered payload": f"{prefix}.{key_id}.{payload[:-2]}AA.{signature}",
        "forged with a guessed key": domain.sign_checkin_code(
            {"k0": "guessed-key-guessed-key"},
            "k0",
            activity["id"],
            datetime.now(UTC) + timedelta(hours=1),
        ),
        "unknown key id": domain.sign_checkin_code(
            {"k9": "x" * 32}, "k9", activity["id"], datetime.now(UTC) + timedelta(hours=1)
        ),
        "expired": domain.sign_checkin_code(
            keys, "k0", activity["id"], datetime.now(UTC) - timedelta(seconds=1)
        ),
        "not a code": "hello.world.this.is-not-a-code",
    }
    for reason, bad in bad_codes.items():
        refused = error_of(lambda b=bad: admin.call("stations", "check_in", b, volunteer_id))
        assert refused.exc_type == "ValidationError", reason
        assert refused.value.startswith("code"), (reason, refused.value)
    # A genuine code for an activity that does not exist names nothing it can check into.
    stray = domain.sign_checkin_code(
        keys, "k0", other_activity, datetime.now(UTC) + timedelta(minutes=5)
    )
    assert error_of(lambda: admin.call("stations", "check_in", stray, volunteer_id)).exc_type == (
        "NotFound"
    )
    assert (
        count_rows("checkins") == 0
        and count_rows("outbox WHERE event_type = 'volunteer_checked_in'") == 0
    )


def test_volunteers_of_other_cities_check_in(station, admin, rpc, token, enrol):
    activity = admin.call("stations", "create_activity", station["id"], activity_data(points=3))
    code = admin.call("stations", "issue_checkin_code", activity["id"])["code"]
    haining = enrol(city="haining")
    ningbo = enrol(ids.new_id("ningbo", "vol"))  # a federated city this deployment does not serve
    for volunteer_id in (haining, ningbo):
        own = rpc(token("volunteer", ids.city_of(volunteer_id), sub=volunteer_id))
        assert own.call("stations", "check_in", code, volunteer_id)["points"] == 3


def test_rotated_keys_keep_older_codes_valid(start_service, service_config, rpc, token, enrol):
    keys = {"k1": "first-signing-key-0123456789", "k2": "second-signing-key-0123456789"}
    start_service(StationsService, {**service_config, "CHECKIN_KEYS": keys, "CHECKIN_KEY_ID": "k2"})
    admin = rpc(token("admin", "cixi"))
    made = admin.call("stations", "create_station", station_data())
    activity = admin.call("stations", "create_activity", made["id"], activity_data())
    fresh = admin.call("stations", "issue_checkin_code", activity["id"])["code"]
    assert fresh.split(".")[1] == "k2"
    older = domain.sign_checkin_code(
        keys, "k1", activity["id"], datetime.now(UTC) + timedelta(minutes=10)
    )
    retired = domain.sign_checkin_code(
        {"k0": "retired-signing-key-0123456789"},
        "k0",
        activity["id"],
        datetime.now(UTC) + timedelta(minutes=10),
    )
    first, second = enrol(), enrol()
    assert admin.call("stations", "check_in", older, first)["volunteer_id"] == first
    assert admin.call("stations", "check_in", fresh, second)["volunteer_id"] == second
    refused = error_of(lambda: admin.call("stations", "check_in", retired, enrol()))
    assert refused.exc_type == "ValidationError"
