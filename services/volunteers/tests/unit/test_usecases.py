"""Volunteers' use cases on a fake unit of work and store: the rules that need stored records,
what is written, what is emitted, and that a refusal writes nothing. No broker, no database."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from volunteers_fakes import FakeVolunteersStore
from volunteers_testdata import LONGSHAN, WEEKENDS, masked, new_phone, volunteer_data

from pioneer import auth, clock, ids
from pioneer.catalog import Catalog
from pioneer.errors import Conflict, NotFound, Suspended, ValidationError
from pioneer.event_contract import VolunteerChanged
from pioneer.testing.fakes import FakeUnitOfWork
from pioneer.testing.moments import SATURDAY, WEDNESDAY, next_local
from volunteers.schemas import CommitmentIn, ComplaintIn, TeamIn, VolunteerChanges, VolunteerIn
from volunteers.usecases import commitments, discipline, registration, search, teams

CATALOG = Catalog()
ADMIN = auth.Caller("admin-1", "cixi", frozenset({auth.ADMIN}))
DISPATCHER = auth.Caller("dispatcher-1", "cixi", frozenset({auth.DISPATCHER}))
HAINING_ADMIN = auth.Caller("admin-2", "haining", frozenset({auth.ADMIN}))
SATURDAY_10 = datetime.fromisoformat(next_local(SATURDAY, "10:00"))
WEDNESDAY_10 = datetime.fromisoformat(next_local(WEDNESDAY, "10:00"))
NEAR = (LONGSHAN["lat"], LONGSHAN["lon"])


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakeVolunteersStore())


def register(uow, caller=ADMIN, **overrides):
    volunteer = VolunteerIn.model_validate(volunteer_data(**overrides))
    return registration.register(uow, CATALOG, caller, volunteer)


def change(uow, volunteer_id, caller=ADMIN, **fields):
    changes = VolunteerChanges.model_validate(fields)
    return registration.update_volunteer(uow, CATALOG, caller, volunteer_id, changes)


def find(uow, caller=ADMIN, **query):
    args = {
        "city": "cixi",
        "skill": None,
        "near": None,
        "radius_m": None,
        "available_at": None,
        "status": "active",
        "limit": 50,
        "cursor": None,
        **query,
    }
    return search.find_volunteers(uow, CATALOG, caller, 5000.0, **args)


def all_pages(uow, **query):
    items, cursor = [], None
    while True:
        page = find(uow, cursor=cursor, **query)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def uphold(uow, volunteer_id):
    complaint = ComplaintIn.model_validate({"reason": "迟到", "source": "hotline"})
    recorded = discipline.record_complaint(uow, volunteer_id, complaint)
    return discipline.uphold_complaint(uow, recorded.id)


# --- registration and profiles ------------------------------------------------------------------


def test_registration_is_announced_without_personal_details(uow):
    made = register(uow)
    assert made.id.startswith("cixi-vol-") and made.version == 1 and made.phone.isdigit()
    [event] = uow.of_type("volunteer_registered")
    assert event["data"]["teams"] == [] and event["data"]["skills"] == made.skills
    # What the replicas use, and no name, phone, community, party membership or availability.
    assert set(event["data"]) == set(VolunteerChanged.model_fields)
    assert not {"name", "phone", "district", "community", "is_party_member"} & set(event["data"])
    for detail in (made.name, made.phone, masked(made.phone), made.community):
        assert detail not in json.dumps(event, ensure_ascii=False)
    assert registration.get_volunteer(uow, ADMIN, made.id) == made
    for reader in (DISPATCHER, HAINING_ADMIN):
        assert registration.get_volunteer(uow, reader, made.id).phone == masked(made.phone)
    with pytest.raises(NotFound):
        registration.get_volunteer(uow, ADMIN, ids.new_id("cixi", "vol"))


def test_refused_registrations_write_nothing(uow):
    phone = new_phone()
    register(uow, phone=phone)
    with pytest.raises(Conflict) as taken:
        register(uow, phone=phone)
    assert phone not in str(taken.value) and masked(phone) in str(taken.value)
    with pytest.raises(ValidationError) as unknown:
        register(uow, skills=["haircut", "juggling"])
    assert unknown.value.field == "volunteer.skills.1"
    assert len(uow.store.volunteers) == 1 and len(uow.events) == 1
    assert register(uow, phone=phone, city="haining").city == "haining"  # another city


def test_a_change_bumps_the_version_and_follows_party_membership(uow):
    made = register(uow)
    changed = change(uow, made.id, is_party_member=False, name="王新")
    assert changed.version == 2 and changed.party_branch is None and changed.name == "王新"
    [event] = uow.of_type("volunteer_updated")
    assert event["data"]["version"] == 2 and event["data"]["teams"] == []
    with pytest.raises(ValidationError) as refused:
        change(uow, made.id, party_branch="某支部")
    assert refused.value.field == "changes.party_branch"
    with pytest.raises(NotFound):
        change(uow, ids.new_id("cixi", "vol"), name="x")
    assert registration.get_volunteer(uow, ADMIN, made.id).version == 2
    assert len(uow.of_type("volunteer_updated")) == 1


def test_a_phone_taken_in_the_city_changes_nothing(uow):
    first, second = register(uow), register(uow)
    with pytest.raises(Conflict, match="already registered"):
        change(uow, second.id, phone=first.phone, name="换号")
    assert registration.get_volunteer(uow, ADMIN, second.id) == second
    assert uow.of_type("volunteer_updated") == []


def test_new_skills_and_place_move_the_volunteer_in_the_skill_index(uow):
    made = register(uow, skills=["haircut"], location=None)
    assert all_pages(uow, skill="haircut", near=NEAR) == []  # not located
    change(uow, made.id, skills=["repair"], location=LONGSHAN)
    assert all_pages(uow, skill="haircut") == []
    [found] = all_pages(uow, skill="repair", near=NEAR, radius_m=100)
    assert found.id == made.id and found.distance_m == 0


def test_import_batches_skip_phones_already_registered(uow):
    phone = new_phone()
    register(uow, HAINING_ADMIN, city="haining", phone=phone, skills=[])
    batch = [
        VolunteerIn.model_validate(volunteer_data(city="haining", phone=p))
        for p in (phone, new_phone(), new_phone())
    ]
    assert registration.import_batch(uow, "haining", batch) == (2, 1)
    assert len(uow.of_type("volunteer_registered")) == 3
    assert all(e["city"] == "haining" for e in uow.events)
    assert len(all_pages(uow, city="haining", skill="repair")) == 2


# --- finding ------------------------------------------------------------------------------------


def test_find_in_id_order_by_skill_status_and_availability(uow):
    made = [
        register(
            uow,
            skills=["haircut"] if i % 2 else ["repair"],
            availability=[] if i % 3 == 0 else WEEKENDS,
        )
        for i in range(6)
    ]
    everyone = all_pages(uow, limit=4)
    assert [v.id for v in everyone] == sorted(v.id for v in made)
    weekend = all_pages(uow, skill="repair", available_at=SATURDAY_10, limit=1)
    assert [v.id for v in weekend] == sorted([made[2].id, made[4].id])
    assert all_pages(uow, available_at=WEDNESDAY_10) == []
    uphold(uow, made[1].id)
    assert made[1].id not in {v.id for v in all_pages(uow, skill="haircut")}
    [suspended] = all_pages(uow, skill="haircut", status="suspended")
    assert suspended.id == made[1].id and suspended.cards == 1
    seen = find(uow, DISPATCHER, limit=1).items[0]
    assert seen.phone == masked(uow.store.volunteers[seen.id].phone)


def test_find_near_ranks_and_pages_by_distance(uow):
    lat, lon = LONGSHAN["lat"], LONGSHAN["lon"]
    offsets = [0.004, 0.001, 0.02, 0.003, 0.0005]
    made = {register(uow, location={"lat": lat + d, "lon": lon}).id: d for d in offsets}
    found = all_pages(uow, near=NEAR, radius_m=1500, limit=2)
    assert [v.id for v in found] == [i for i, d in sorted(made.items(), key=lambda x: x[1])][:4]
    assert [v.distance_m for v in found] == sorted(v.distance_m for v in found)
    assert len(all_pages(uow, near=NEAR)) == 5  # the default radius reaches the far one
    with pytest.raises(ValidationError, match="needs near"):
        find(uow, radius_m=100.0)
    with pytest.raises(ValidationError) as unknown:
        find(uow, skill="juggling")
    assert unknown.value.field == "skill.0"


# --- teams and commitments ----------------------------------------------------------------------


def a_team(uow, name="龙山义剪队"):
    team = TeamIn.model_validate({"name": name, "specialty": "haircut"})
    return teams.create_team(uow, CATALOG, "cixi", team)


def test_one_organisation_team_and_the_teams_travel_in_events(uow):
    first, second, third = a_team(uow), a_team(uow, "巡防队"), a_team(uow, "文艺队")
    vid = register(uow).id
    teams.join_team(uow, first.id, vid, "organization")
    with pytest.raises(Conflict, match=first.id):
        teams.join_team(uow, second.id, vid, "organization")
    teams.join_team(uow, second.id, vid, "activity")
    with pytest.raises(Conflict, match="already a member"):
        teams.join_team(uow, second.id, vid, "activity")
    left = teams.leave_team(uow, first.id, vid)
    assert left.members == 0
    with pytest.raises(Conflict, match="not a member"):
        teams.leave_team(uow, first.id, vid)
    assert teams.join_team(uow, third.id, vid, "organization").relation == "organization"
    updates = [(e["data"]["version"], e["data"]["teams"]) for e in uow.of_type("volunteer_updated")]
    assert updates == [
        (2, [first.id]),
        (3, sorted([first.id, second.id])),
        (4, [second.id]),
        (5, sorted([second.id, third.id])),
    ]
    assert uow.store.teams[second.id].members == 1


def test_the_database_rule_holds_when_the_check_is_raced(uow):
    first, second = a_team(uow), a_team(uow, "巡防队")
    vid = register(uow).id
    teams.join_team(uow, first.id, vid, "organization")
    # A join that read the memberships before the first one committed: the store refuses it.
    uow.store.memberships = lambda volunteer_id, team_id: []
    with pytest.raises(Conflict, match="or of an organisation team"):
        teams.join_team(uow, second.id, vid, "organization")
    assert uow.store.teams[second.id].members == 0 and len(uow.of_type("volunteer_updated")) == 1


def test_removed_volunteers_and_unknown_teams_join_nothing(uow):
    team = a_team(uow)
    vid = register(uow).id
    for _ in range(3):
        uphold(uow, vid)
    with pytest.raises(Suspended, match="removed"):
        teams.join_team(uow, team.id, vid, "activity")
    with pytest.raises(NotFound):
        teams.join_team(uow, ids.new_id("cixi", "team"), vid, "activity")
    with pytest.raises(NotFound):
        teams.list_members(uow, ids.new_id("cixi", "team"), 10, None)
    with pytest.raises(ValidationError) as unknown:
        teams.create_team(uow, CATALOG, "cixi", TeamIn(name="x", specialty="juggling"))
    assert unknown.value.field == "team.specialty.0"
    assert uow.store.members == {} and len(uow.store.teams) == 1


def test_members_are_listed_with_name_and_paged(uow):
    team = a_team(uow)
    joined = sorted(register(uow, name=f"队员{i}").id for i in range(3))
    for vid in joined:
        teams.join_team(uow, team.id, vid, "activity")
    page = teams.list_members(uow, team.id, 2, None)
    rest = teams.list_members(uow, team.id, 2, page.next_cursor)
    assert [m.volunteer_id for m in page.items + rest.items] == joined
    assert rest.next_cursor is None and page.items[0].name.startswith("队员")


def test_one_commitment_a_year_listed_by_city_and_year(uow):
    a, b = register(uow, name="甲").id, register(uow, name="乙").id
    made = commitments.make_commitment(uow, a, CommitmentIn(year=2026, text="每月义剪两次"))
    assert made.volunteer_name == "甲" and made.city == "cixi"
    with pytest.raises(Conflict, match="already made a commitment for 2026"):
        commitments.make_commitment(uow, a, CommitmentIn(year=2026, text="again"))
    commitments.make_commitment(uow, b, CommitmentIn(year=2026, text="巡防"))
    commitments.make_commitment(uow, a, CommitmentIn(year=2027, text="明年"))
    with pytest.raises(NotFound):
        commitments.make_commitment(
            uow, ids.new_id("cixi", "vol"), CommitmentIn(year=2026, text="x")
        )
    first = commitments.list_commitments(uow, "cixi", 2026, 1, None)
    second = commitments.list_commitments(uow, "cixi", 2026, 1, first.next_cursor)
    assert {c.volunteer_name for c in first.items + second.items} == {"甲", "乙"}
    assert second.next_cursor is None and len(uow.store.commitments) == 3


# --- discipline ---------------------------------------------------------------------------------


def test_the_ladder_emits_its_events_with_growing_versions(uow):
    vid = register(uow).id
    assert uphold(uow, vid).level == "warning"
    back = discipline.reinstate(uow, ADMIN, vid)
    assert back.status == "active" and back.cards == 1 and back.suspended_until is None
    with pytest.raises(Conflict, match="active, not suspended"):
        discipline.reinstate(uow, ADMIN, vid)
    assert uphold(uow, vid).level == "yellow_card"
    assert uphold(uow, vid).level == "red_card"
    with pytest.raises(Conflict, match="already been removed"):
        uphold(uow, vid)
    levels = [(e["data"]["level"], e["data"]["cards"]) for e in uow.of_type("complaint_upheld")]
    assert levels == [("warning", 1), ("yellow_card", 2), ("red_card", 3)]
    changes = [e for e in uow.events if e["type"].startswith("volunteer_") and e["data"]["reason"]]
    assert [(e["type"], e["data"]["version"]) for e in changes] == [
        ("volunteer_suspended", 2),
        ("volunteer_reinstated", 3),
        ("volunteer_suspended", 4),
        ("volunteer_removed", 5),
    ]
    assert all(entry["status"] == "removed" for entry in uow.store.skills[vid])


def test_a_complaint_is_decided_once(uow):
    vid = register(uow).id
    complaint = ComplaintIn(reason="x", source="hotline")
    recorded = discipline.record_complaint(uow, vid, complaint)
    assert discipline.dismiss_complaint(uow, recorded.id).status == "dismissed"
    for decide in (discipline.uphold_complaint, discipline.dismiss_complaint):
        with pytest.raises(Conflict, match="already dismissed"):
            decide(uow, recorded.id)
    assert uow.store.volunteers[vid].cards == 0 and uow.of_type("complaint_upheld") == []
    with pytest.raises(NotFound):
        discipline.uphold_complaint(uow, ids.new_id("cixi", "cmp"))
    with pytest.raises(NotFound):
        discipline.record_complaint(uow, ids.new_id("cixi", "vol"), complaint)


def test_a_chosen_complaint_id_records_once(uow):
    vid, other = register(uow).id, register(uow).id
    complaint = ComplaintIn(reason="迟到", source="request:x")
    chosen = ids.new_id("cixi", "cmp")
    first = discipline.record_complaint(uow, vid, complaint, chosen)
    assert discipline.record_complaint(uow, vid, complaint, chosen) == first
    with pytest.raises(Conflict, match="another volunteer"):
        discipline.record_complaint(uow, other, complaint, chosen)
    for bad in (ids.new_id("haining", "cmp"), ids.new_id("cixi", "vol")):
        with pytest.raises(ValidationError) as refused:
            discipline.record_complaint(uow, vid, complaint, bad)
        assert refused.value.field == "complaint_id"
    assert list(uow.store.complaints) == [chosen]


def test_the_timer_ends_only_the_suspensions_that_are_due(uow):
    due, running = register(uow).id, register(uow).id
    for vid in (due, running):
        uphold(uow, vid)
    uow.store.volunteers[due].suspended_until = clock.utcnow() - timedelta(minutes=1)
    assert discipline.reinstate_due(uow, 500) == 1
    [event] = uow.of_type("volunteer_reinstated")
    assert event["data"]["volunteer_id"] == due and event["data"]["reason"] == "suspension_ended"
    assert event["data"]["version"] == 3 and uow.store.volunteers[running].status == "suspended"
    assert all(entry["status"] == "active" for entry in uow.store.skills[due])
    # A candidate the query found but that is not due (reinstated meanwhile) is left alone.
    uow.store.due_suspensions = lambda now, limit: [running, due]
    assert discipline.reinstate_due(uow, 500) == 0
    assert discipline.reinstate_due(FakeUnitOfWork(FakeVolunteersStore()), 500) == 0
