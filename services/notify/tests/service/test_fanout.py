"""Fan-out at scale: 3,000 matching volunteers in the directory (bulk-seeded the way the
volunteers events leave it), one ``wish_published`` delivered twice, and every matching inbox
holds exactly one notification; other skills, far away, suspended or removed get none. And the
unique key itself refuses a second row for the same (event, recipient, channel)."""

from __future__ import annotations

import time

from notify_testdata import FANGJIAHETOU, FAR_AWAY, near, seed_directory, wish_data
from sqlalchemy import text

from notify.domain import Notice, Prefs, rows_for
from notify.service import NotifyService
from notify.store import NotifyStore
from pioneer import clock, ids
from pioneer.testing.fixtures import wait_for

MATCHING = 3000


def test_a_wish_reaches_thousands_once(notify, dispatch_event, database, spy):
    sent = spy("notify")
    matching = [ids.new_id("cixi", "vol") for _ in range(MATCHING)]
    others = [ids.new_id("cixi", "vol") for _ in range(400)]
    seed_directory(
        database,
        [
            *(
                (v, "active", ["elderly_care", "repair"], near(FANGJIAHETOU, i))
                for i, v in enumerate(matching)
            ),
            *((v, "active", ["repair"], near(FANGJIAHETOU, i)) for i, v in enumerate(others[:100])),
            *(
                (v, "active", ["elderly_care"], near(FAR_AWAY, i))
                for i, v in enumerate(others[100:200])
            ),
            *(
                (v, "suspended", ["elderly_care"], near(FANGJIAHETOU, i))
                for i, v in enumerate(others[200:300])
            ),
            *(
                (v, "removed", ["elderly_care"], near(FANGJIAHETOU, i))
                for i, v in enumerate(others[300:])
            ),
        ],
    )
    wish = wish_data()
    started = time.monotonic()
    envelope = dispatch_event("wishes", "wish_published", "cixi", wish)
    dispatch_event("wishes", "wish_published", "cixi", wish, event_id=envelope["event_id"])

    def stored() -> int:
        with database.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM notifications")).scalar_one()

    wait_for(lambda: stored() >= MATCHING, timeout=30)
    elapsed = time.monotonic() - started
    (batch,) = sent.wait_for("notification_sent")
    assert batch["data"]["count"] == MATCHING and batch["data"]["subject_id"] == wish["wish_id"]
    per_recipient = notifications_per_recipient(database)
    assert per_recipient == {v: 1 for v in matching}, "exactly the matching volunteers, once each"
    assert elapsed < 20


def test_the_unique_key_refuses_a_second_row(db_url):
    from sqlalchemy.orm import Session

    from notify.service import NotifyService
    from pioneer.db import make_engine, migrate

    engine = make_engine(db_url, 2)
    try:
        migrate(engine, NotifyService.migrations)
        recipients = [ids.new_id("cixi", "vol") for _ in range(5)]
        notices = [Notice(r, "wish_published", "cixi-wish-x", "t", "b") for r in recipients]
        prefs = {recipients[0]: Prefs(["inbox", "webhook"])}
        with Session(engine) as session, session.begin():
            first = NotifyStore(session).insert_new(
                rows_for("event-1", notices, prefs, clock.utcnow())
            )
        # The same event again (fresh row ids, as a redelivery would make): nothing is added.
        with Session(engine) as session, session.begin():
            again = NotifyStore(session).insert_new(
                rows_for("event-1", notices, prefs, clock.utcnow())
            )
        assert len(first) == 6 and again == []
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM notifications")).scalar_one() == 6
    finally:
        engine.dispose()


PART = 500
IN_PARTS = 1250  # three parts: 500, 500, 250


def sample(container, name: str, **labels: str) -> float:
    """A metric's value in the container's registry (0 before it is first counted)."""
    from pioneer.kernel import Kernel

    kernel = next(e for e in container.extensions if isinstance(e, Kernel))
    value = kernel.metrics.registry.get_sample_value(name, {"service": "notify", **labels})
    return value or 0.0


def test_a_fan_out_in_parts_dying_after_the_first_is_finished_once_by_the_redelivery(
    notify_config, start_service, dispatch_event, database, spy, monkeypatch
):
    """``FANOUT_CHUNK`` recipients per transaction; the second part's insert fails once (as a
    process dying after the first commit would leave it), the kernel retries the event, and the
    redelivery stores and announces only what the first attempt had not."""
    insert_new, calls = NotifyStore.insert_new, []

    def dies_on_the_second_part(self, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("the process dies after the first part")
        return insert_new(self, rows)

    monkeypatch.setattr(NotifyStore, "insert_new", dies_on_the_second_part)
    container = start_service(NotifyService, {**notify_config, "FANOUT_CHUNK": PART})
    sent = spy("notify")
    matching = [ids.new_id("cixi", "vol") for _ in range(IN_PARTS)]
    seed_directory(
        database,
        [(v, "active", ["elderly_care"], near(FANGJIAHETOU, i)) for i, v in enumerate(matching)],
    )
    wish = wish_data()
    envelope = dispatch_event("wishes", "wish_published", "cixi", wish)

    def count(sql: str) -> int:
        with database.connect() as conn:
            return conn.execute(text(sql), {"event_id": envelope["event_id"]}).scalar_one()

    wait_for(lambda: count("SELECT count(*) FROM notifications") >= IN_PARTS, timeout=30)
    handler = {"handler": "on_wish_published"}
    wait_for(lambda: sample(container, "pioneer_events_handled_total", **handler, outcome="ok"))
    # The first attempt committed its first part and failed; the retry did the rest.
    assert calls[:3] == [PART, PART, PART] and len(calls) == 5
    assert sample(container, "pioneer_events_failed_total", **handler, action="retry") == 1
    assert sample(container, "pioneer_uow_checkpoints_total", entrypoint="on_wish_published") == 3
    per_recipient = notifications_per_recipient(database)
    assert per_recipient == {v: 1 for v in matching}, "each recipient stored once"
    announced = sent.wait_for("notification_sent", count=3)
    assert sorted(e["data"]["count"] for e in announced) == [250, PART, PART]
    assert {e["data"]["subject_id"] for e in announced} == {wish["wish_id"]}
    assert count("SELECT count(*) FROM processed_events WHERE event_id = :event_id") == 1

    # The finished event delivered again: a duplicate, nothing stored or announced.
    dispatch_event("wishes", "wish_published", "cixi", wish, event_id=envelope["event_id"])
    wait_for(
        lambda: sample(container, "pioneer_events_handled_total", **handler, outcome="duplicate")
    )
    time.sleep(0.5)  # the relay's poll: an event emitted by mistake would be out by now
    assert count("SELECT count(*) FROM notifications") == IN_PARTS
    assert len(sent.of_type("notification_sent")) == 3


def notifications_per_recipient(database) -> dict[str, int]:
    """How many notifications each recipient holds."""
    with database.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT recipient_id, count(*) FROM notifications GROUP BY recipient_id")
            ).all()
        )
