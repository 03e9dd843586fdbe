"""The contract's input schemas: strict, and errors name the field."""

import pytest
from volunteers_testdata import volunteer_data

from pioneer.errors import ValidationError
from pioneer.schemas import validate
from volunteers.schemas import VolunteerChanges, VolunteerIn


def test_valid_volunteer_passes():
    checked = validate(VolunteerIn, volunteer_data(), "volunteer")
    assert checked.availability[0].rrule == "FREQ=WEEKLY;BYDAY=SA,SU"
    minimal = {k: volunteer_data()[k] for k in ("name", "phone", "city", "district", "community")}
    checked = validate(VolunteerIn, minimal, "volunteer")
    assert checked.skills == [] and checked.location is None and checked.is_party_member is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "12812345678"}, "volunteer.phone"),
        ({"phone": "1381234567"}, "volunteer.phone"),
        ({"phone": "+8613812345678"}, "volunteer.phone"),
        ({"phone": 13812345678}, "volunteer.phone"),
        ({"phone": "١٣٨١٢٣٤٥٦٧٨"}, "volunteer.phone"),  # Arabic-Indic digits are not digits here
        ({"name": ""}, "volunteer.name"),
        ({"name": "名" * 51}, "volunteer.name"),
        ({"skills": ["haircut", "haircut"]}, "volunteer"),
        ({"location": {"lat": 91, "lon": 121}}, "volunteer.location.lat"),
        ({"location": {"lat": 30, "lon": 181}}, "volunteer.location.lon"),
        ({"availability": [{"rrule": "FREQ=HOURLY", "start": "08:00", "end": "09:00"}]}, None),
        ({"availability": [{"rrule": "FREQ=DAILY", "start": "25:00", "end": "09:00"}]}, None),
        ({"is_party_member": False}, "volunteer"),  # a party branch without membership
        ({"is_party_member": "yes"}, "volunteer.is_party_member"),
        ({"city": "Cixi"}, "volunteer.city"),
        ({"id_card": "330282"}, "volunteer.id_card"),
    ],
)
def test_registration_is_validated_strictly(change, field):
    data = volunteer_data(**change)
    with pytest.raises(ValidationError) as excinfo:
        validate(VolunteerIn, data, "volunteer")
    if field:
        assert excinfo.value.field == field
    else:
        assert excinfo.value.field.startswith("volunteer.availability.0")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "nothing to change"),
        ({"name": None}, "name cannot be null"),
        ({"status": "active"}, "unknown field"),
        ({"cards": 0}, "unknown field"),
    ],
)
def test_changes_are_validated(changes, message):
    with pytest.raises(ValidationError, match=message):
        validate(VolunteerChanges, changes, "changes")


def test_location_and_party_branch_may_be_cleared():
    checked = validate(VolunteerChanges, {"location": None, "party_branch": None}, "changes")
    assert checked.model_fields_set == {"location", "party_branch"}
