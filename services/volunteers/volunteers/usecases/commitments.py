"""Public commitments (承诺): one per volunteer and year, read by anyone by city and year."""

from __future__ import annotations

from typing import Any

from pioneer import clock, ids
from pioneer.db import row_of
from pioneer.errors import Conflict, NotFound
from pioneer.paging import decode_id_cursor, page
from pioneer.schemas import Page

from .. import presenters
from ..schemas import CommitmentIn, CommitmentOut


def make_commitment(uow: Any, volunteer_id: str, commitment: CommitmentIn) -> CommitmentOut:
    """The volunteer's commitment for a year; a second one for the same year is refused."""
    with uow:
        volunteer = uow.store.volunteer(volunteer_id)
        if volunteer is None:
            raise NotFound(f"no volunteer {volunteer_id}")
        values = {
            "id": ids.new_id(ids.city_of(volunteer_id), "cmt"),
            "volunteer_id": volunteer_id,
            "city": volunteer.city,
            "year": commitment.year,
            "text": commitment.text,
            "created_at": clock.utcnow(),
        }
        if not uow.store.add_commitment(values):
            raise Conflict(
                f"volunteer {volunteer_id} has already made a commitment for {commitment.year}"
            )
    return presenters.commitment_out(row_of({**values, "volunteer_name": volunteer.name}))


def list_commitments(
    uow: Any, city: str, year: int, limit: int, cursor: str | None
) -> Page[CommitmentOut]:
    """The commitments of a city for a year, in id order, paged."""
    after = decode_id_cursor(cursor)
    with uow.reading() as store:
        rows = store.commitments_page(city, year, after, limit + 1)
    items, next_cursor = page(rows, limit, lambda r: [r.id])
    return Page[CommitmentOut](
        items=[presenters.commitment_out(r) for r in items], next_cursor=next_cursor
    )
