"""A wish's fan-out in parts, on the fake unit of work: a fan-out larger than a part commits in
several transactions, each with its ``notification_sent``; one dying after a part is finished by
the redelivery, each recipient stored once and each row announced once; a finished event
delivered again is a duplicate; a small one is one transaction."""

from __future__ import annotations

import pytest
from notify_fakes import CATALOG, CITIES, SETTINGS, FakeNotifyStore, Log, event
from notify_testdata import FANGJIAHETOU, near, wish_data

from notify import usecases
from pioneer.testing.fakes import FakeUnitOfWork

PART = 3


@pytest.fixture
def uow():
    return FakeUnitOfWork(FakeNotifyStore(), CITIES)


def handled(uow, published, part: int = PART) -> str:
    """The kernel's ``event_handler``: the processed record, then the use case, one unit of
    work; ``duplicate`` for an event handled before."""
    with uow:
        if not uow.first_time(published.event_id, "on_wish_published"):
            return "duplicate"
        usecases.wish_published(
            uow, published, CATALOG, CITIES, SETTINGS.wish_radius_m, Log(), part
        )
    return "ok"


def enrol(uow, count: int) -> list[str]:
    return [uow.store.enrol(location=near(FANGJIAHETOU, i)) for i in range(count)]


def inbox_counts(uow) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in uow.store.notifications.values():
        counts[row.recipient_id] = counts.get(row.recipient_id, 0) + 1
    return counts


def announced(uow) -> list[int]:
    return [e["data"]["count"] for e in uow.of_type("notification_sent")]


def test_a_fan_out_larger_than_a_part_commits_part_by_part(uow):
    volunteers = enrol(uow, 7)
    assert handled(uow, event("wish_published", "cixi", wish_data())) == "ok"
    assert uow.checkpoints == 2 and uow.commits == 3  # 3 + 3 + 1 recipients
    assert inbox_counts(uow) == {v: 1 for v in volunteers}
    assert announced(uow) == [3, 3, 1]


@pytest.mark.parametrize("count", [1, PART])
def test_a_fan_out_of_up_to_a_part_is_one_transaction(uow, count):
    enrol(uow, count)
    assert handled(uow, event("wish_published", "cixi", wish_data())) == "ok"
    assert uow.checkpoints == 0 and uow.commits == 1 and announced(uow) == [count]


def test_a_fan_out_dying_after_a_part_is_finished_by_the_redelivery_once(uow, monkeypatch):
    volunteers = enrol(uow, 7)
    published = event("wish_published", "cixi", wish_data())
    insert_new, calls = uow.store.insert_new, []

    def dies_on_the_second_part(rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("the process dies")
        return insert_new(rows)

    monkeypatch.setattr(uow.store, "insert_new", dies_on_the_second_part)
    with pytest.raises(RuntimeError):
        handled(uow, published)
    assert sum(inbox_counts(uow).values()) == PART and announced(uow) == [PART]
    monkeypatch.setattr(uow.store, "insert_new", insert_new)
    # The redelivery is not a duplicate: the record was to commit with the last part.
    assert handled(uow, published) == "ok"
    assert inbox_counts(uow) == {v: 1 for v in volunteers}
    # The first part's rows were there already: announced once, by the first attempt.
    assert announced(uow) == [3, 3, 1]
    assert sum(announced(uow)) == len(uow.store.notifications)
    assert handled(uow, published) == "duplicate"
    assert announced(uow) == [3, 3, 1]
