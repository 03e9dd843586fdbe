"""Read scopes, per role and per city, as the API reference's table says: staff read their own
city's wishes and requests; a volunteer's own token reads published wishes of any city and its
own, and only the requests it was offered or is assigned."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from wishes_testdata import FANGJIAHETOU, request_data, wish_data

from pioneer import auth
from wishes.service import WishesService

STAFF = sorted(auth.ROLES - {auth.VOLUNTEER})


def outcome(call) -> str:
    try:
        call()
    except RemoteError as exc:
        return exc.exc_type
    return "ok"


@pytest.fixture
def records(wishes, admin, enrol, rpc, token):
    """A published wish and a submitted one in cixi; a request offered to one volunteer."""
    published = admin.call("wishes", "submit_wish", wish_data())
    admin.call("wishes", "review_wish", published["id"], True)
    submitted = admin.call("wishes", "submit_wish", wish_data())
    offered = enrol(skills=["repair"], location=dict(FANGJIAHETOU))
    stranger = enrol(skills=["repair"])
    request = rpc(token("dispatcher", "cixi")).call("wishes", "raise_request", request_data())
    return {
        "published": published["id"],
        "submitted": submitted["id"],
        "request": request["id"],
        "offered": offered,
        "stranger": stranger,
    }


@pytest.mark.parametrize("role", STAFF)
@pytest.mark.parametrize("city", ["cixi", "haining", "*"])
def test_staff_read_their_own_city(records, rpc, token, role, city):
    caller = rpc(token(role, city))
    expected = "Forbidden" if city == "haining" else "ok"
    got = {
        "get_wish": outcome(lambda: caller.call("wishes", "get_wish", records["submitted"])),
        "list_wishes": outcome(lambda: caller.call("wishes", "list_wishes", "cixi")),
        "get_request": outcome(lambda: caller.call("wishes", "get_request", records["request"])),
        "list_requests": outcome(lambda: caller.call("wishes", "list_requests", "cixi")),
    }
    assert got == dict.fromkeys(got, expected)
    # The table in the API reference says the same.
    for method in got:
        assert getattr(WishesService, method).contract_policy.reach(role) == "own city"


@pytest.mark.parametrize("city", ["cixi", "haining"])
def test_a_volunteer_reads_published_wishes_and_its_own_requests(records, rpc, token, city):
    offered = rpc(token("volunteer", city, sub=records["offered"]))
    stranger = rpc(token("volunteer", city, sub=records["stranger"]))
    assert offered.call("wishes", "get_wish", records["published"])["status"] == "published"
    assert outcome(lambda: offered.call("wishes", "get_wish", records["submitted"])) == (
        "Forbidden"
    )
    listed = offered.call("wishes", "list_wishes", "cixi")["items"]
    assert [w["id"] for w in listed] == [records["published"]]
    assert outcome(lambda: offered.call("wishes", "list_wishes", "cixi", "submitted")) == (
        "Forbidden"
    )
    assert offered.call("wishes", "get_request", records["request"])["id"] == records["request"]
    assert [r["id"] for r in offered.call("wishes", "list_requests", "cixi")["items"]] == [
        records["request"]
    ]
    assert outcome(lambda: stranger.call("wishes", "get_request", records["request"])) == (
        "Forbidden"
    )
    assert stranger.call("wishes", "list_requests", "cixi")["items"] == []
    assert WishesService.get_request.contract_policy.reach("volunteer").startswith("the requests")
