"""Registration and profiles: validation, one phone per city, masking, who reads and edits."""

from __future__ import annotations

import json

import eventlet
import pytest
from nameko.exceptions import RemoteError
from volunteers_testdata import LONGSHAN, masked, new_phone, volunteer_data

from pioneer import ids


def error_of(call, *args, **kwargs) -> RemoteError:
    with pytest.raises(RemoteError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value


def test_register_get_update_with_masking_and_events(volunteers, admin, rpc, token, spy):
    watch = spy("volunteers")
    data = volunteer_data()
    created = admin.call("volunteers", "register", data)
    vid = created["id"]
    assert vid.startswith("cixi-vol-") and created["status"] == "active"
    assert created["cards"] == 0 and created["suspended_until"] is None and created["version"] == 1
    assert created["phone"] == data["phone"]  # an admin of the city sees it in full
    for field in ("name", "city", "district", "community", "skills", "location", "availability"):
        assert created[field] == data[field], field
    assert created["created_at"].endswith("+08:00")

    # Everyone else sees the phone masked: a dispatcher, another city's admin... and the volunteer.
    me = rpc(token("volunteer", "cixi", sub=vid))
    for reader in (rpc(token("dispatcher", "cixi")), rpc(token("ops", "cixi")), me):
        got = reader.call("volunteers", "get_volunteer", vid)
        assert got["phone"] == masked(data["phone"]) and got["name"] == data["name"]
    assert admin.call("volunteers", "get_volunteer", vid) == created

    # A volunteer edits itself; the phone may change, the result is as it now is.
    phone2 = new_phone()
    updated = me.call(
        "volunteers",
        "update_volunteer",
        vid,
        {"skills": ["elderly_care"], "location": None, "phone": phone2, "is_party_member": False},
    )
    assert updated["skills"] == ["elderly_care"] and updated["location"] is None
    assert updated["party_branch"] is None  # follows is_party_member
    assert updated["phone"] == masked(phone2) and updated["version"] == 2
    assert admin.call("volunteers", "get_volunteer", vid)["phone"] == phone2

    registered = watch.wait_for("volunteer_registered")[0]
    assert registered["city"] == "cixi" and registered["origin_city"] == "cixi"
    assert registered["data"]["volunteer_id"] == vid and registered["data"]["version"] == 1
    # No personal detail travels: not the name, the phone (even masked) or the community.
    assert not {"name", "phone", "community", "is_party_member"} & set(registered["data"])
    assert registered["data"]["status"] == "active" and registered["data"]["location"] == LONGSHAN
    changed = watch.wait_for("volunteer_updated")[0]["data"]
    assert changed["version"] == 2 and "phone" not in changed
    assert changed["skills"] == ["elderly_care"] and changed["location"] is None
    for detail in (data["phone"], phone2, masked(phone2), data["name"], data["community"]):
        assert detail not in json.dumps(watch.events, ensure_ascii=False)


def test_a_volunteer_reads_and_edits_only_itself(volunteers, admin, rpc, token):
    mine = admin.call("volunteers", "register", volunteer_data())["id"]
    other = admin.call("volunteers", "register", volunteer_data())["id"]
    me = rpc(token("volunteer", "cixi", sub=mine))
    for method, args in [
        ("get_volunteer", (other,)),
        ("update_volunteer", (other, {"name": "冒名"})),
    ]:
        assert error_of(me.call, "volunteers", method, *args).exc_type == "Forbidden"
    haining_admin = rpc(token("admin", "haining"))
    assert error_of(haining_admin.call, "volunteers", "get_volunteer", mine).exc_type == "Forbidden"
    assert (
        error_of(haining_admin.call, "volunteers", "update_volunteer", mine, {"name": "x"}).exc_type
        == "Forbidden"
    )
    # Registering: admins, dispatchers and trusted systems of the city only.
    for authorization in (token("volunteer", "cixi"), token("station_manager", "cixi")):
        error = error_of(rpc(authorization).call, "volunteers", "register", volunteer_data())
        assert error.exc_type == "Forbidden"
    error = error_of(haining_admin.call, "volunteers", "register", volunteer_data())
    assert error.exc_type == "Forbidden"
    system = rpc(token("system", "cixi"))
    assert system.call("volunteers", "register", volunteer_data())["status"] == "active"
    # A city this deployment does not serve, and a record of one.
    star = rpc(token("admin", "*"))
    error = error_of(star.call, "volunteers", "register", volunteer_data(city="ningbo"))
    assert error.exc_type == "WrongCity" and "ningbo" in str(error.value)
    error = error_of(star.call, "volunteers", "get_volunteer", ids.new_id("ningbo", "vol"))
    assert error.exc_type == "WrongCity"
    error = error_of(admin.call, "volunteers", "get_volunteer", ids.new_id("cixi", "vol"))
    assert error.exc_type == "NotFound"
    assert error_of(rpc().call, "volunteers", "get_volunteer", mine).exc_type == "Unauthorized"


def test_validation_over_rpc_names_the_field(volunteers, admin, count_rows):
    error = error_of(
        admin.call, "volunteers", "register", volunteer_data(skills=["haircut", "juggling"])
    )
    assert error.exc_type == "ValidationError" and str(error.value).startswith("volunteer.skills.1")
    error = error_of(admin.call, "volunteers", "register", volunteer_data(phone="23812345678"))
    assert error.exc_type == "ValidationError" and str(error.value).startswith("volunteer.phone")
    vid = admin.call("volunteers", "register", volunteer_data())["id"]
    error = error_of(admin.call, "volunteers", "update_volunteer", vid, {})
    assert error.exc_type == "ValidationError" and "nothing to change" in str(error.value)
    error = error_of(admin.call, "volunteers", "update_volunteer", vid, {"city": "haining"})
    assert error.exc_type == "ValidationError" and str(error.value).startswith("changes.city")
    error = error_of(admin.call, "volunteers", "update_volunteer", vid, {"skills": ["x_unknown"]})
    assert str(error.value).startswith("changes.skills.0")
    assert count_rows("volunteers") == 1 and count_rows("outbox") == 1


def test_one_phone_per_city_even_when_registrations_race(volunteers, admin, rpc, token, count_rows):
    phone = new_phone()
    calls = [
        admin.call_async("volunteers", "register", volunteer_data(phone=phone, name=f"抢{i}"))
        for i in range(8)
    ]
    won, conflicts = [], []
    for call in calls:
        try:
            won.append(call.result())
        except RemoteError as exc:
            conflicts.append(exc)
    assert len(won) == 1, [e.value for e in conflicts]
    assert {e.exc_type for e in conflicts} == {"Conflict"}
    assert phone not in str(conflicts[0].value) and masked(phone) in str(conflicts[0].value)
    assert count_rows("volunteers") == 1 and count_rows("outbox") == 1

    # The same phone in another city is another registration.
    haining = rpc(token("admin", "haining")).call(
        "volunteers", "register", volunteer_data(phone=phone, city="haining")
    )
    assert haining["city"] == "haining"
    # Changing a phone to one taken in the city is a Conflict too, and changes nothing.
    other = admin.call("volunteers", "register", volunteer_data())
    error = error_of(admin.call, "volunteers", "update_volunteer", other["id"], {"phone": phone})
    assert error.exc_type == "Conflict"
    assert admin.call("volunteers", "get_volunteer", other["id"]) == other
    assert count_rows("outbox") == 3


@pytest.fixture
def chatty_volunteers(service_config, start_service):
    """The service logging every call (tests otherwise run at WARNING)."""
    from volunteers.service import VolunteersService

    return start_service(VolunteersService, {**service_config, "LOG_LEVEL": "INFO"})


def test_logs_never_show_a_phone(chatty_volunteers, admin, capsys):
    # The kernel writes its JSON lines to stdout (the container runs in this process).
    capsys.readouterr()
    phone = new_phone()
    vid = admin.call("volunteers", "register", volunteer_data(phone=phone))["id"]
    with pytest.raises(RemoteError):  # the Conflict's message is logged too
        admin.call("volunteers", "update_volunteer", vid, {"phone": "not a phone"})
    with pytest.raises(RemoteError):
        admin.call("volunteers", "register", volunteer_data(phone=phone))
    admin.call("volunteers", "update_volunteer", vid, {"phone": phone[:-1] + "0"})
    eventlet.sleep(0.2)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    registered = next(line for line in text.splitlines() if vid in line and '"register"' in line)
    assert masked(phone) in registered and "Conflict" in text
    assert phone not in text and phone[:-1] + "0" not in text
