"""The hostile-input suite's own parts, without a broker: generated calls, raw bodies, forged
envelopes and the verdict on known bugs (``pioneer.testing.hostile``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from pioneer import db, ids
from pioneer.entrypoints import request_problem, rpc
from pioneer.errors import ValidationError
from pioneer.event_contract import DATA_OF
from pioneer.events import PoisonMessage, parse_event, read_data
from pioneer.schemas import CityName, Location, Name, RecordId, validate
from pioneer.testing import hostile


class Sample:
    @rpc(roles={"admin"})
    def place(
        self, city: CityName, name: Name, where: Location, station_id: RecordId | None = None
    ) -> dict:
        return {}


def draw(strategy: Any, examples: int = 60) -> list[Any]:
    drawn: list[Any] = []

    @hostile.suite_settings(examples)
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


def test_generated_calls_are_json_deterministic_and_both_valid_and_hostile():
    known = ["cixi", ids.new_id("cixi", "st")]
    calls = draw(hostile.call_strategy(Sample.place, known, ["Bearer a", None]))
    again = draw(hostile.call_strategy(Sample.place, known, ["Bearer a", None]))
    assert calls == again
    model, _ = Sample.place.contract_arguments()
    valid = refused = 0
    for call in calls:
        json.dumps(call.body(), allow_nan=True)
        arguments = call.kwargs or dict(
            zip(["city", "name", "where", "station_id"], call.args, strict=True)
        )
        try:
            validate(model, arguments)
            valid += 1
        except ValidationError:
            refused += 1
    assert valid >= 5 and refused >= 5, (valid, refused)
    assert {call.authorization for call in calls} == {"Bearer a", None}
    names = [str(c.kwargs.get("name")) for c in calls]
    assert any(name in hostile.HOSTILE_TEXTS or "'" in name for name in names)
    assert any(c.kwargs.get("city") == "cixi" for c in calls)  # known values are drawn


def test_raw_bodies_are_what_they_say():
    bodies = hostile.raw_bodies(["city", "name"])
    labels = [label for label, *_ in bodies]
    assert len(labels) == len(set(labels))
    for label, body, raw, content_type in bodies:
        if raw:
            assert isinstance(body, bytes) and content_type is not None, label
        else:
            encoded = json.dumps(body)
            if label.startswith("oversized"):
                assert 100_000 < len(encoded) < 131_072, label
            assert request_problem(body) is not None or label.startswith(
                ("oversized", "nested", "positional", "too many")
            ), label


def consumed_types() -> list[str]:
    """The event types some service consumes (``genuine_data`` builds those)."""
    from pioneer.definitions import handler_bindings
    from pioneer.registry import built_services

    return sorted({b["routing_key"] for s in built_services() for b in handler_bindings(s)})


@pytest.mark.parametrize("event_type", consumed_types())
def test_genuine_data_is_valid_and_every_forgery_kind_is_built(event_type):
    model = DATA_OF[event_type]

    def genuine() -> dict[str, Any]:
        return db.envelope(event_type, "cixi", "cixi", hostile.genuine_data(event_type, "cixi"))

    read_data(model, parse_event(genuine()))
    forged = hostile.forged_events(event_type, genuine)
    assert {case.kind for case in forged} == set(hostile.FORGED_KINDS)
    for case in forged:
        assert case.markers, case.label
        json.dumps(case.body, allow_nan=True)
    # What the envelope or the contract model already refuses, the kernel parks.
    for case in forged:
        if case.kind in {"not an envelope", "missing fields"} and case.label != "no data.version":
            with pytest.raises((ValueError, PoisonMessage)):
                read_data(model, parse_event(case.body))


def test_an_applied_forgery_fails_and_none_passes():
    with pytest.raises(AssertionError, match="origin_city=hangzhou"):
        hostile.assert_none_applied(["on_x: foreign origin: origin_city=hangzhou (applied to t)"])
    hostile.assert_none_applied([])


def test_a_summary_line_counts_the_cases():
    before = dict(hostile.SUMMARY)
    try:
        line = hostile.record("widgets", "rpc", "sqlite", 3)
        hostile.record("widgets", "rpc", "sqlite", 2)
        assert line == "hostile input: widgets rpc [sqlite]: 3 cases"
        assert hostile.SUMMARY[("widgets", "rpc", "sqlite")] == 5
    finally:
        hostile.SUMMARY.clear()
        hostile.SUMMARY.update(before)
