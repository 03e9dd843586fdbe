"""Activities and QR check-in over RPC, per the contract.

``check_in`` answers ``{activity_id, volunteer_id, points, hours}`` and publishes
``volunteer_checked_in`` through the outbox; a second check-in is ``Conflict``; any altered,
forged, garbage or expired code is ``ValidationError`` naming ``code``; volunteers of other
cities check in; codes signed with a rotated-out key still verify while the key is configured.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError
from sqlalchemy import text
from stations_testdata import station_data

from pioneer import clock, ids
from pioneer.testing.fixtures import base_config, wait_for
from stations import domain
from stations.service import StationsService
from stations.settings import StationsSettings

# The URL-safe base64 alphabet, in order.
CODE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def error_of(call, *args, **kwargs) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        call(*args, **kwargs)
    return caught.value


def scalar(database, sql: str, **params):
    with database.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def activity_data(**overrides):
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
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


def service_keys(service_config) -> tuple[dict[str, str], str]:
    """The check-in keys the running service derives from its configuration."""
    return StationsSettings.model_validate(service_config).checkin_keys()


def in_minutes(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


@pytest.fixture
def station(stations, admin):
    return admin.call("stations", "create_station", station_data())


@pytest.fixture
def activity(station, admin):
    return admin.call("stations", "create_activity", station["id"], activity_data())


def test_activity_code_and_check_in(station, admin, rpc, token, enrol, spy, database):
    watch = spy("stations")
    data = activity_data()
    activity = admin.call("stations", "create_activity", station["id"], data)
    assert activity["id"].startswith("cixi-act-") and activity["station_id"] == station["id"]
    assert (activity["points"], activity["capacity"], activity["checked_in"]) == (8, 50, 0)
    assert datetime.fromisoformat(activity["starts_at"]) == datetime.fromisoformat(
        data["starts_at"]
    )
    assert activity["starts_at"].endswith("+08:00")
    [created] = watch.wait_for("activity_created")
    assert created["data"]["activity_id"] == activity["id"]

    manager = rpc(token("station_manager", "cixi"))
    issued = manager.call("stations", "issue_checkin_code", activity["id"], valid_minutes=30)
    assert issued["activity_id"] == activity["id"]
    assert issued["code"].startswith("PNR1.k0.")
    expires = datetime.fromisoformat(issued["expires_at"])
    assert issued["expires_at"].endswith("+08:00")
    assert abs((expires - in_minutes(30)).total_seconds()) < 5
    for role in ("volunteer", "ops"):
        refused = error_of(
            rpc(token(role, "cixi")).call, "stations", "issue_checkin_code", activity["id"]
        )
        assert refused.exc_type == "Forbidden", role
    missing = ids.new_id("cixi", "act")
    assert error_of(admin.call, "stations", "issue_checkin_code", missing).exc_type == "NotFound"

    volunteer_id = enrol()
    own = rpc(token("volunteer", "cixi", sub=volunteer_id))
    result = own.call("stations", "check_in", issued["code"], volunteer_id)
    assert result["activity_id"] == activity["id"] and result["volunteer_id"] == volunteer_id
    assert result["points"] == 8 and result["hours"] == 3.5
    assert result["station_id"] == station["id"]
    # Once per volunteer and activity, however the code is presented.
    again = error_of(own.call, "stations", "check_in", issued["code"], volunteer_id)
    assert again.exc_type == "Conflict"
    fresh = admin.call("stations", "issue_checkin_code", activity["id"])["code"]
    assert error_of(admin.call, "stations", "check_in", fresh, volunteer_id).exc_type == "Conflict"

    row = "SELECT points, hours, volunteer_city FROM checkins WHERE volunteer_id = :v"
    with database.connect() as conn:
        assert conn.execute(text(row), {"v": volunteer_id}).one() == (8, 3.5, "cixi")
    assert scalar(database, "SELECT count(*) FROM checkins") == 1
    checked = "SELECT checked_in FROM activities WHERE id = :a"
    assert scalar(database, checked, a=activity["id"]) == 1

    # The event went through the outbox (one row, published) and reached the exchange.
    [event] = watch.wait_for("volunteer_checked_in")
    assert {k: event["data"][k] for k in event["data"] if k != "checked_in_at"} == {
        "activity_id": activity["id"],
        "station_id": station["id"],
        "volunteer_id": volunteer_id,
        "volunteer_city": "cixi",
        "hours": 3.5,
        "points": 8,
    }
    assert event["city"] == event["origin_city"] == "cixi"
    outbox = "SELECT event_id FROM outbox WHERE event_type = 'volunteer_checked_in'"
    with database.connect() as conn:
        assert [r[0] for r in conn.execute(text(outbox))] == [event["event_id"]]
    published = (
        "SELECT count(*) FROM outbox WHERE event_type = 'volunteer_checked_in'"
        " AND published_at IS NOT NULL"
    )
    wait_for(lambda: scalar(database, published) == 1)
    assert len(watch.of_type("volunteer_checked_in")) == 1


def test_bad_codes_are_validation_errors(activity, admin, enrol, service_config, database):
    issued = admin.call("stations", "issue_checkin_code", activity["id"])
    code = issued["code"]
    volunteer_id = enrol()
    keys, key_id = service_keys(service_config)
    prefix, kid, payload, signature = code.split(".")
    other = admin.call("stations", "issue_checkin_code", activity["id"])["code"].split(".")
    assert kid == key_id

    bad: dict[str, str] = {}
    # Every single-character change anywhere in the code. The lowest bit of the character's
    # base64 value is flipped: in the signature's last character that bit is one base64 decoding
    # ignores, so a check that decodes before comparing would accept the altered code.
    for index, char in enumerate(code):
        if char == ".":
            continue
        replacement = CODE_CHARS[CODE_CHARS.index(char) ^ 1]
        bad[f"flip {index}"] = code[:index] + replacement + code[index + 1 :]
    bad |= {
        "truncated": code[:-1],
        "extended": code + "A",
        "extra part": code + ".AAAA",
        "part missing": f"{prefix}.{payload}.{signature}",
        "other signature": f"{prefix}.{kid}.{payload}.{other[3]}",
        "other payload": f"{prefix}.{kid}.{other[2]}.{signature}",
        "other prefix": f"PNR2.{kid}.{payload}.{signature}",
        "forged with a guessed key": domain.sign_checkin_code(
            {kid: "guessed-key-guessed-key"}, kid, activity["id"], in_minutes(30)
        ),
        "unknown key id": domain.sign_checkin_code(
            {"k9": keys[key_id]}, "k9", activity["id"], in_minutes(30)
        ),
        "expired": domain.sign_checkin_code(keys, key_id, activity["id"], in_minutes(-0.1)),
        "genuine but not an id": domain.sign_checkin_code(keys, key_id, "x", in_minutes(30)),
        "garbage": "hello.world.this.is-not-a-code",
        "dots only": "..........",
        "not base64": "PNR1.k0.@@@@.####",
        "spaces": "PNR1 k0 payload signature",
        "too short": "PNR1.k0",
        "too long": code + "A" * 600,
        "unicode": "PNR1.k0.签到码.签名签名签名签名",
        "injection": "'; DROP TABLE checkins;--",
    }
    replies = {
        reason: admin.call_async("stations", "check_in", candidate, volunteer_id)
        for reason, candidate in bad.items()
    }
    accepted, wrong = [], []
    for reason, reply in replies.items():
        try:
            reply.result()
            accepted.append(reason)
        except RemoteError as exc:
            if exc.exc_type != "ValidationError" or not exc.value.startswith("code"):
                wrong.append((reason, exc.exc_type, exc.value[:100]))
    assert accepted == [] and wrong == []
    assert scalar(database, "SELECT count(*) FROM checkins") == 0
    assert scalar(database, "SELECT checked_in FROM activities") == 0
    events = "SELECT count(*) FROM outbox WHERE event_type = 'volunteer_checked_in'"
    assert scalar(database, events) == 0

    # Genuine codes naming no activity here: NotFound, or WrongCity for another deployment's.
    stray = domain.sign_checkin_code(keys, key_id, ids.new_id("cixi", "act"), in_minutes(5))
    assert error_of(admin.call, "stations", "check_in", stray, volunteer_id).exc_type == "NotFound"
    foreign = domain.sign_checkin_code(keys, key_id, ids.new_id("ningbo", "act"), in_minutes(5))
    refused = error_of(admin.call, "stations", "check_in", foreign, volunteer_id)
    assert refused.exc_type == "WrongCity" and "ningbo" in refused.value
    # The untouched code still works.
    assert admin.call("stations", "check_in", code, volunteer_id)["points"] == 8


def test_an_issued_code_expires(activity, admin, enrol, monkeypatch):
    code = admin.call("stations", "issue_checkin_code", activity["id"], valid_minutes=30)["code"]
    early, late = enrol(), enrol()
    real_now = clock.utcnow
    # The service runs in this process: move its clock instead of waiting half an hour.
    monkeypatch.setattr(clock, "utcnow", lambda: real_now() + timedelta(minutes=29))
    assert admin.call("stations", "check_in", code, early)["volunteer_id"] == early
    monkeypatch.setattr(clock, "utcnow", lambda: real_now() + timedelta(minutes=31))
    expired = error_of(admin.call, "stations", "check_in", code, late)
    assert expired.exc_type == "ValidationError" and expired.value == "code: expired"
    monkeypatch.undo()
    for minutes in (0, 24 * 60 + 1, -5):
        refused = error_of(admin.call, "stations", "issue_checkin_code", activity["id"], minutes)
        assert refused.exc_type == "ValidationError" and refused.value.startswith("valid_minutes")


def test_who_checks_in(station, admin, rpc, token, enrol, spy, database):
    watch = spy("stations")
    activity = admin.call(
        "stations", "create_activity", station["id"], activity_data(points=3, capacity=3)
    )
    code = admin.call("stations", "issue_checkin_code", activity["id"])["code"]
    # Volunteers of another city served here, and of a federated city served elsewhere.
    haining = enrol(city="haining")
    ningbo = enrol(ids.new_id("ningbo", "vol"))
    for volunteer_id in (haining, ningbo):
        own = rpc(token("volunteer", ids.city_of(volunteer_id), sub=volunteer_id))
        result = own.call("stations", "check_in", code, volunteer_id)
        assert (result["volunteer_id"], result["points"]) == (volunteer_id, 3)
    events = watch.wait_for("volunteer_checked_in", count=2)
    assert {(e["data"]["volunteer_id"], e["data"]["volunteer_city"]) for e in events} == {
        (haining, "haining"),
        (ningbo, "ningbo"),
    }
    assert all(e["city"] == "cixi" and e["data"]["station_id"] == station["id"] for e in events)

    me, other = enrol(), enrol()
    mine = rpc(token("volunteer", "cixi", sub=me))
    assert error_of(mine.call, "stations", "check_in", code, other).exc_type == "Forbidden"
    refused = error_of(rpc(token("admin", "haining")).call, "stations", "check_in", code, me)
    assert refused.exc_type == "Forbidden"
    assert (
        error_of(admin.call, "stations", "check_in", code, ids.new_id("cixi", "vol")).exc_type
        == "NotFound"
    )
    for status in ("suspended", "removed"):
        barred = enrol(status=status)
        refused = error_of(admin.call, "stations", "check_in", code, barred)
        assert refused.exc_type == "Suspended", status
    assert scalar(database, "SELECT count(*) FROM checkins") == 2

    # Capacity 3: of several volunteers checking in at once, exactly one more gets in.
    crowd = [enrol() for _ in range(6)]
    replies = [admin.call_async("stations", "check_in", code, v) for v in crowd]
    outcomes = []
    for reply in replies:
        try:
            outcomes.append(reply.result()["points"])
        except RemoteError as exc:
            outcomes.append(exc.exc_type)
    assert sorted(outcomes, key=str) == [3] + ["Conflict"] * 5
    assert scalar(database, "SELECT count(*) FROM checkins") == 3
    assert scalar(database, "SELECT checked_in FROM activities") == 3
    events = "SELECT count(*) FROM outbox WHERE event_type = 'volunteer_checked_in'"
    assert scalar(database, events) == 3


def test_rotated_keys(start_service, service_config, rpc, token, enrol):
    keys = {"k1": "first-signing-key-0123456789", "k2": "second-signing-key-0123456789"}
    rotated = {**service_config, "CHECKIN_KEYS": keys, "CHECKIN_KEY_ID": "k2"}
    start_service(StationsService, rotated)
    admin = rpc(token("admin", "cixi"))
    made = admin.call("stations", "create_station", station_data())
    activity = admin.call("stations", "create_activity", made["id"], activity_data())
    fresh = admin.call("stations", "issue_checkin_code", activity["id"])["code"]
    assert fresh.split(".")[1] == "k2"
    signed = {
        "by k1 (rotated out, still configured)": domain.sign_checkin_code(
            keys, "k1", activity["id"], in_minutes(10)
        ),
        "by k2 (current)": fresh,
    }
    for reason, code in signed.items():
        volunteer_id = enrol()
        result = admin.call("stations", "check_in", code, volunteer_id)
        assert result["volunteer_id"] == volunteer_id, reason
    activity_id = activity["id"]
    refused = {
        "unknown key id": domain.sign_checkin_code(
            {"k3": "third-signing-key-0123456789"}, "k3", activity_id, in_minutes(10)
        ),
        "k1's secret under k2's id": domain.sign_checkin_code(
            {"k2": keys["k1"]}, "k2", activity_id, in_minutes(10)
        ),
        "the key derived before rotation": domain.sign_checkin_code(
            *service_keys(service_config), activity_id, in_minutes(10)
        ),
    }
    volunteer_id = enrol()
    for reason, code in refused.items():
        error = error_of(admin.call, "stations", "check_in", code, volunteer_id)
        assert error.exc_type == "ValidationError" and error.value.startswith("code"), reason


def test_the_signing_key_must_be_configured():
    service_config = base_config("amqp://guest:guest@127.0.0.1:5672/x", "sqlite://", "s" * 32)
    keys = {"k1": "first-signing-key-0123456789"}
    settings = StationsSettings.model_validate(
        {**service_config, "CHECKIN_KEYS": keys, "CHECKIN_KEY_ID": "k1"}
    )
    assert settings.checkin_keys() == (keys, "k1")
    for broken in [
        {"CHECKIN_KEYS": keys, "CHECKIN_KEY_ID": "k2"},  # names no configured key
        {"CHECKIN_KEYS": keys},  # no signing key chosen
        {"CHECKIN_KEYS": {"k1": "short"}, "CHECKIN_KEY_ID": "k1"},  # too weak a secret
        {"CHECKIN_KEYS": {"bad id!": "x" * 20}, "CHECKIN_KEY_ID": "bad id!"},
    ]:
        with pytest.raises(ValueError):
            StationsSettings.model_validate({**service_config, **broken})
    derived, kid = service_keys(service_config)
    assert kid == "k0" and len(derived["k0"]) == 64
    other_secret = service_keys({**service_config, "JWT_SECRET": "another-secret-" * 3})[0]
    assert other_secret["k0"] != derived["k0"]
