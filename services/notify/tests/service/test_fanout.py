"""Fan-out at scale: 3,000 matching volunteers in the directory (bulk-seeded the way the
volunteers events leave it), one ``wish_published`` delivered twice, and every matching inbox
holds exactly one notification; other skills, far away, suspended or removed get none. And the
unique key itself refuses a second row for the same (event, recipient, channel)."""

from __future__ import annotations

import time

from notify_testdata import FANGJIAHETOU, FAR_AWAY, near, seed_directory, wish_data
from sqlalchemy import text

from notify.domain import Notice, Prefs, rows_for
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
    with database.connect() as conn:
        per_recipient = dict(
            conn.execute(
                text("SELECT recipient_id, count(*) FROM notifications GROUP BY recipient_id")
            ).all()
        )
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
