"""Notify end to end: volunteers registered in the volunteers service reach notify's directory
through events; a wish submitted and approved in wishes lands in exactly the matching
volunteers' inboxes (and a claim in the city admins' inbox), read over RPC from the processes
``pioneer up`` starts."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import DBAPIError

from pioneer.replica import volunteer_replica

from .conftest import poll

# Guanhaiwei town, Cixi: away from the other end-to-end tests' volunteers.
GUANHAIWEI = {"lat": 30.2540, "lon": 121.3530}
FAR = {"lat": 30.1000, "lon": 121.3530}
BENEFICIARY = {"name": "赵阿公", "phone": "13811112222", "address": "观海卫镇鸣鹤村9号"}


def volunteer(skills, location):
    return {
        "name": "孙丽华",
        "phone": f"136{random.randrange(10**8):08d}",
        "city": "cixi",
        "district": "观海卫镇",
        "community": "鸣鹤村",
        "is_party_member": True,
        "skills": skills,
        "location": location,
    }


def in_directory(deployment, volunteer_ids) -> bool:
    """Whether notify's directory (its own database) holds them."""
    engine = create_engine(deployment.database_url("notify"))
    try:
        with engine.connect() as conn:
            found = conn.execute(
                select(func.count())
                .select_from(volunteer_replica)
                .where(volunteer_replica.c.volunteer_id.in_(volunteer_ids))
            ).scalar_one()
    except DBAPIError:  # not created yet
        return False
    finally:
        engine.dispose()
    return found == len(volunteer_ids)


def test_a_reviewed_wish_reaches_the_matching_inboxes(shared):
    _, deployment = shared
    with deployment.proxy(deployment.token("admin", "cixi")) as rpc:
        matching = [
            rpc.volunteers.register(volunteer=volunteer(["tutoring", "reading"], GUANHAIWEI))["id"]
            for _ in range(3)
        ]
        other_skill = rpc.volunteers.register(volunteer=volunteer(["haircut"], GUANHAIWEI))["id"]
        far = rpc.volunteers.register(volunteer=volunteer(["tutoring"], FAR))["id"]
        everyone = [*matching, other_skill, far]
        poll(lambda: in_directory(deployment, everyone))

        wish = rpc.wishes.submit_wish(
            wish={
                "city": "cixi",
                "title": "孩子需要数学辅导",
                "description": "留守儿童",
                "category": "tutoring",
                "beneficiary": BENEFICIARY,
                "location": GUANHAIWEI,
                "deadline": (datetime.now(UTC) + timedelta(days=5)).isoformat(),
            }
        )
        rpc.wishes.review_wish(wish_id=wish["id"], approve=True)

        def told(volunteer_id):
            items = rpc.notify.inbox(recipient_id=volunteer_id)["items"]
            return [n for n in items if n["subject_id"] == wish["id"]]

        for volunteer_id in matching:
            (note,) = poll(lambda v=volunteer_id: told(v))
            assert note["kind"] == "wish_published" and "数学辅导" in note["title"]
        assert told(other_skill) == [] and told(far) == []

        # The volunteer reads its own inbox with its own token and marks it read.
        me = matching[0]
        with deployment.proxy(deployment.token("volunteer", "cixi", sub=me)) as own:
            (mine,) = [
                n
                for n in own.notify.inbox(recipient_id=me)["items"]
                if n["subject_id"] == wish["id"]
            ]
            assert (
                own.notify.mark_read(recipient_id=me, notification_ids=[mine["id"]])["marked"] == 1
            )

        # A claim reaches the city admins' shared inbox.
        rpc.wishes.claim_wish(wish_id=wish["id"], volunteer_id=me)
        claims = poll(
            lambda: [
                n
                for n in rpc.notify.inbox(recipient_id="admins:cixi", limit=500)["items"]
                if n["subject_id"] == wish["id"]
            ]
        )
        assert claims[0]["kind"] == "wish_claimed" and me in claims[0]["body"]

        # The beneficiary never reaches a notification.
        seen = json.dumps([told(v) for v in matching] + claims, ensure_ascii=False)
        assert not any(value in seen for value in BENEFICIARY.values())
