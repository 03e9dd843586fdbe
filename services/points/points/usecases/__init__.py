"""Points' use cases: each is a function of its command and a unit of work, by sub-domain.

Who may call them is declared with the entrypoints and checked before they run; here are the
rules that need the stored records, the writes and their events. Data is reached only through
``uow.store`` (``store.PointsStore``), so the tests run these on a fake store.

- ``accounts``: balance, history, admins' adjustments;
- ``earning``: crediting work told of by events, peers' entries, team membership;
- ``redemption``: the catalog, redeeming and reversing;
- ``rankings``: leaderboards and the annual report;
- ``ledger``: the bookkeeping they share (entries, totals, events, the balance rule).
"""

from .accounts import adjust, balance, history
from .earning import (
    count_peer_entries,
    credit_checkins,
    credit_rating,
    credit_request,
    credit_wish,
    update_memberships,
)
from .rankings import annual_report, annual_report_items, leaderboard
from .redemption import add_catalog_item, catalog, redeem, reverse_redemption

__all__ = [
    "add_catalog_item",
    "adjust",
    "annual_report",
    "annual_report_items",
    "balance",
    "catalog",
    "count_peer_entries",
    "credit_checkins",
    "credit_rating",
    "credit_request",
    "credit_wish",
    "history",
    "leaderboard",
    "redeem",
    "reverse_redemption",
    "update_memberships",
]
