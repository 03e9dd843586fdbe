"""Garbage to every method: only the contract's errors come back, nothing is written, and the
service keeps serving."""

from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError
from volunteers_testdata import volunteer_data

from pioneer.errors import CONTRACT_ERRORS

CONTRACT = {cls.__name__ for cls in CONTRACT_ERRORS}
HUGE = "志" * 100_000
INJECTIONS = [
    "'; DROP TABLE volunteers; --",
    "cixi-vol-' OR '1'='1",
    "cixi\x00vol",
    "../../etc/passwd",
    "${jndi:ldap://x}",
]
SCALARS = [12345, -1, 1.5, float("nan"), True, None, "", HUGE, [], ["x"], {}, {"$gt": ""}]
TABLES = ["volunteers", "volunteer_skills", "teams", "team_members", "commitments", "complaints"]


def garbage_dicts(valid: dict, all_optional: bool) -> list:
    missing = [] if all_optional else [dict(list(valid.items())[1:])]
    return [
        *missing,
        {**valid, "unknown_field": 1},
        {key: HUGE for key in valid},
        {key: 12345 for key in valid},
        {key: None for key in valid},
        {key: INJECTIONS[0] for key in valid},
        {key: {"nested": [valid]} for key in valid},
    ]


def test_garbage_to_every_method(volunteers, admin, rpc, token, count_rows):
    vid = admin.call("volunteers", "register", volunteer_data())["id"]
    team = admin.call("volunteers", "create_team", "cixi", {"name": "队", "specialty": "repair"})
    complaint = admin.call(
        "volunteers", "record_complaint", vid, {"reason": "x", "source": "hotline"}
    )
    valid = {
        "register": {"volunteer": volunteer_data()},
        "get_volunteer": {"volunteer_id": vid},
        "update_volunteer": {
            "volunteer_id": vid,
            "changes": {"name": "新名", "skills": ["repair"]},
        },
        "find_volunteers": {
            "city": "cixi",
            "skill": "repair",
            "near": {"lat": 30.2, "lon": 121.4},
            "radius_m": 1000,
            "available_at": "2026-11-28T10:00:00+08:00",
            "status": "active",
            "limit": 10,
            "cursor": None,
        },
        "create_team": {"city": "cixi", "team": {"name": "新队", "specialty": "haircut"}},
        "join_team": {"team_id": team["id"], "volunteer_id": vid, "relation": "activity"},
        "leave_team": {"team_id": team["id"], "volunteer_id": vid},
        "list_members": {"team_id": team["id"], "limit": 10},
        "make_commitment": {"volunteer_id": vid, "commitment": {"year": 2026, "text": "承诺"}},
        "list_commitments": {"city": "cixi", "year": 2026, "limit": 10},
        "record_complaint": {"volunteer_id": vid, "complaint": {"reason": "r", "source": "s"}},
        "uphold_complaint": {"complaint_id": complaint["id"]},
        "dismiss_complaint": {"complaint_id": complaint["id"]},
        "reinstate": {"volunteer_id": vid},
    }
    optional_none = {"skill", "near", "radius_m", "available_at", "cursor"}
    before = {table: count_rows(table) for table in TABLES}
    outbox = count_rows("outbox")

    calls: list[tuple[str, tuple, dict]] = []
    for method, kwargs in valid.items():
        calls.append((method, (), {}))  # everything missing
        calls.append((method, (*kwargs.values(), "extra"), {}))  # too many positional
        calls.append((method, (), {**kwargs, "surprise": 1}))  # unknown argument
        for name, value in kwargs.items():
            bad_values = SCALARS + INJECTIONS
            if isinstance(value, dict):
                bad_values = bad_values + garbage_dicts(value, name == "changes")
            for bad in bad_values:
                if bad is None and name in optional_none:
                    continue
                if bad == value:
                    continue
                calls.append((method, (), {**kwargs, name: bad}))
    # Reads may find some odd values acceptable (a 1.5 m radius); writes must refuse them all.
    reads = {"get_volunteer", "find_volunteers", "list_members", "list_commitments"}
    seen = set()
    pending = [
        (method, k, admin.call_async("volunteers", method, *a, **k)) for method, a, k in calls
    ]
    for method, kwargs, reply in pending:
        try:
            reply.result()
        except RemoteError as exc:
            assert exc.exc_type in CONTRACT, (method, exc.exc_type, str(exc.value)[:200])
            seen.add(exc.exc_type)
            continue
        assert method in reads, f"{method} accepted garbage: {str(kwargs)[:300]}"
    assert "ValidationError" in seen

    # Garbage credentials.
    for authorization in (
        "Bearer garbage",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "a" * 5000,
        "x" * 50_000,  # a header must fit in one AMQP frame (128 KiB)
    ):
        with pytest.raises(RemoteError) as excinfo:
            rpc(authorization).call("volunteers", "get_volunteer", vid)
        assert excinfo.value.exc_type == "Unauthorized"

    assert {table: count_rows(table) for table in TABLES} == before
    assert count_rows("outbox") == outbox
    # Still serving, and the real thing still works.
    assert admin.call("volunteers", "ping")["service"] == "volunteers"
    assert admin.call("volunteers", "update_volunteer", vid, {"name": "还在"})["name"] == "还在"
    assert rpc(token("ops", "cixi")).call("volunteers", "list_commitments", "cixi", 2026)
