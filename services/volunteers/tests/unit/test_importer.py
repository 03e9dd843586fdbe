"""Spreadsheet rows to register input: the importer's parsing, without a database."""

import io

import pytest

from pioneer.catalog import Catalog
from volunteers.importer import RowError, parse_row, read_rows

ROW = {
    "name": " 李梅 ",
    "phone": "138-1234-5678",
    "district": "硖石街道",
    "community": "南关厢社区",
    "is_party_member": "是",
    "party_branch": "南关厢社区党支部",
    "skills": "haircut、repair; tutoring",
    "lat": "30.51",
    "lon": "120.68",
    "availability": "FREQ=WEEKLY;BYDAY=SA,SU@08:00-12:00 | FREQ=DAILY@19:00-21:00",
}


def test_a_full_row():
    volunteer = parse_row(dict(ROW), "haining", Catalog())
    assert volunteer.name == "李梅" and volunteer.phone == "13812345678"
    assert volunteer.is_party_member and volunteer.party_branch == "南关厢社区党支部"
    assert volunteer.skills == ["haircut", "repair", "tutoring"]
    assert volunteer.location.lat == 30.51 and volunteer.city == "haining"
    assert [(w.rrule, w.start, w.end) for w in volunteer.availability] == [
        ("FREQ=WEEKLY;BYDAY=SA,SU", "08:00", "12:00"),
        ("FREQ=DAILY", "19:00", "21:00"),
    ]


def test_optional_columns_may_be_empty():
    minimal = {k: ROW[k] for k in ("name", "phone", "district", "community")}
    volunteer = parse_row(minimal, "haining", Catalog())
    assert volunteer.skills == [] and volunteer.location is None and not volunteer.is_party_member


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone": "1381234567"}, "phone"),
        ({"name": ""}, "name"),
        ({"skills": "haircut、haircut"}, "row"),
        ({"skills": "haircut、juggling"}, "skills.1"),
        ({"lat": "北纬30"}, "lat"),
        ({"lon": ""}, "lon"),
        ({"availability": "FREQ=DAILY 08:00-12:00"}, "availability.0"),
        ({"availability": "FREQ=DAILY@08:00-25:00"}, "availability.0.end"),
        ({"is_party_member": "也许"}, "is_party_member"),
        ({"is_party_member": "否"}, "row"),  # a party branch without membership
    ],
)
def test_bad_rows_name_the_field(change, field):
    with pytest.raises(RowError) as excinfo:
        parse_row({**ROW, **change}, "haining", Catalog())
    assert excinfo.value.field == field


def test_header_aliases_and_line_numbers():
    text = "\ufeff姓名,手机,街道,社区,备注\n王,13800000001,a,b,x\n\n李,13800000002,a,b,y,extra\n"
    rows = list(read_rows(io.StringIO(text)))
    assert rows[0] == (2, {"name": "王", "phone": "13800000001", "district": "a", "community": "b"})
    assert rows[1][0] == 4 and "__error__" in rows[1][1]
    with pytest.raises(RowError, match="missing column"):
        list(read_rows(io.StringIO("name,phone\n")))
