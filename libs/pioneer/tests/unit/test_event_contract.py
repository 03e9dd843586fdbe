"""What an event carries on the wire: its contract model's fields, and nothing else."""

import pydantic
import pytest

from pioneer import ids
from pioneer.event_contract import ComplaintUpheld, VolunteerChanged, wire_data
from pioneer.testing.fixtures import volunteer_event


def test_published_data_holds_exactly_the_contract_fields():
    volunteer_id = ids.new_id("cixi", "vol")
    sent = {**volunteer_event(volunteer_id), "name": "张三", "phone": "13812345678"}
    data = wire_data("volunteer_registered", sent)
    assert set(data) == set(VolunteerChanged.model_fields)
    assert "张三" not in str(data) and "1381" not in str(data)
    model = VolunteerChanged.model_validate(volunteer_event(volunteer_id))
    assert wire_data("volunteer_updated", model) == model.model_dump(mode="json")


def test_data_its_type_refuses_is_never_published():
    volunteer_id = ids.new_id("cixi", "vol")
    with pytest.raises(pydantic.ValidationError):
        wire_data("volunteer_registered", volunteer_event(volunteer_id, version=0))
    upheld = ComplaintUpheld(
        complaint_id=ids.new_id("cixi", "cmp"),
        volunteer_id=volunteer_id,
        city="cixi",
        level="warning",
        cards=1,
    )
    with pytest.raises(TypeError, match="VolunteerChanged, not ComplaintUpheld"):
        wire_data("volunteer_suspended", upheld)


def test_a_type_outside_the_contract_passes_as_it_is():
    assert wire_data("widget_made", {"name": "x"}) == {"name": "x"}
