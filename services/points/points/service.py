"""The points service: entrypoints only. Each validates (by its signature), then calls the
service layer in ``handlers``."""

from __future__ import annotations

from pathlib import Path

from pioneer import auth
from pioneer.batching import batch_event_handler
from pioneer.entrypoints import event_handler, rpc
from pioneer.events import Event
from pioneer.replica import VolunteerReplicaHandlers
from pioneer.schemas import CityName, Cursor, Limit, RecordId, ShortText
from pioneer.service import PioneerService

from . import handlers
from .schemas import BoardLimit, CatalogItemIn, Delta, IdempotencyKey, Period, Quantity, Year
from .settings import PointsSettings

# A check-in's points may show a few hundredths of a second later; in exchange, a steady
# stream is booked tens at a time instead of a commit for every two or three.
CHECKIN_LINGER_S = 0.02

ANYONE = auth.ANY_ROLE


class PointsService(VolunteerReplicaHandlers, PioneerService):
    """The ledger of volunteers' points (earned from check-ins, closed wishes and completed
    requests, credited in the volunteer's home city), redemption against a city's catalog,
    rankings by city, period and team, and the annual assessment."""

    name = "points"
    settings_model = PointsSettings
    publishes = ("points_awarded", "points_redeemed", "points_reversed")
    migrations = str(Path(__file__).parent / "migrations")

    # --- reading -------------------------------------------------------------------------------

    @rpc(roles=ANYONE)
    def balance(self, volunteer_id: RecordId):
        """``{volunteer_id, balance, earned, spent}`` (a volunteer reads only its own)."""
        return handlers.balance(self.ctx, volunteer_id)

    @rpc(roles=ANYONE)
    def history(self, volunteer_id: RecordId, limit: Limit = 50, cursor: Cursor | None = None):
        """The volunteer's ledger entries, newest first, paged."""
        return handlers.history(self.ctx, volunteer_id, limit, cursor)

    @rpc(roles=ANYONE)
    def leaderboard(
        self,
        city: CityName | None = None,
        period: Period = "all",
        team_id: RecordId | None = None,
        limit: BoardLimit = 10,
    ):
        """Ranks by points earned in ``period`` (``all``, ``YYYY`` or ``YYYY-MM``), in a city or
        (``city=None``) every city, optionally one team's members; ties share a rank."""
        return handlers.leaderboard(self.ctx, city, period, team_id, limit)

    @rpc(roles=handlers.REPORTERS)
    def annual_report(
        self, city: CityName, year: Year, limit: Limit = 50, cursor: Cursor | None = None
    ):
        """Per volunteer of the city: points, hours, activities, wishes, requests and rank of
        the work done in ``year``; highest first, paged (admin, ops, system)."""
        return handlers.annual_report(self.ctx, city, year, limit, cursor)

    # --- admin ---------------------------------------------------------------------------------

    @rpc(roles=handlers.ADMINS)
    def adjust(self, volunteer_id: RecordId, delta: Delta, reason: ShortText):
        """Correct a volunteer's points (admin of its city): an audited ledger entry that
        counts towards rankings; never below a zero balance."""
        return handlers.adjust(self.ctx, volunteer_id, delta, reason)

    # --- catalog and redemption (积分兑换) -----------------------------------------------------

    @rpc(roles=handlers.ADMINS)
    def add_catalog_item(self, city: CityName, item: CatalogItemIn):
        """Add ``{name, cost, stock}`` to the city's catalog (admin)."""
        return handlers.add_catalog_item(self.ctx, city, item)

    @rpc(roles=ANYONE)
    def catalog(self, city: CityName, limit: Limit = 50, cursor: Cursor | None = None):
        """The city's catalog with stock, paged."""
        return handlers.catalog(self.ctx, city, limit, cursor)

    @rpc(roles=handlers.REDEEMERS)
    def redeem(
        self,
        volunteer_id: RecordId,
        item_id: RecordId,
        quantity: Quantity,
        idempotency_key: IdempotencyKey,
    ):
        """Spend points on an item: never below a zero balance, never beyond the stock; the
        same ``idempotency_key`` redeems once and returns the first result."""
        return handlers.redeem(self.ctx, volunteer_id, item_id, quantity, idempotency_key)

    @rpc(roles=handlers.ADMINS)
    def reverse_redemption(self, redemption_id: RecordId, reason: ShortText):
        """Undo a redemption (admin): the points and the stock come back, once."""
        return handlers.reverse_redemption(self.ctx, redemption_id, reason)

    # --- earning -------------------------------------------------------------------------------

    # Check-ins come in bursts (an activity's volunteers arrive together): credited in batches,
    # which wait CHECKIN_LINGER_S for company while they are not full.
    @batch_event_handler("stations", "volunteer_checked_in", linger_s=CHECKIN_LINGER_S)
    def on_volunteer_checked_in(self, uow, events: list[Event]):
        return handlers.on_checked_in(self.ctx, uow, events)

    @event_handler("wishes", "wish_closed")
    def on_wish_closed(self, uow, event: Event) -> None:
        handlers.on_wish_closed(self.ctx, uow, event)

    @event_handler("wishes", "request_completed")
    def on_request_completed(self, uow, event: Event) -> None:
        handlers.on_request_completed(self.ctx, uow, event)

    @event_handler("wishes", "request_rated")
    def on_request_rated(self, uow, event: Event) -> None:
        handlers.on_request_rated(self.ctx, uow, event)

    # Only federated peers' copies reach this queue (peers_only: this deployment's own awards
    # stop at the broker); they are taken in batches.
    @batch_event_handler("points", "points_awarded", peers_only=True)
    def on_peer_points_awarded(self, uow, events: list[Event]):
        """Peers' ranked entries (federated mode) for the all-cities board."""
        return [handlers.on_peer_points(self.ctx, uow, event) for event in events]

    # --- the volunteer replica and team membership ---------------------------------------------

    def replica_changed(self, uow, volunteer_ids: list[str], events: list[Event]) -> None:
        """Team membership follows the kernel's volunteer replica."""
        handlers.update_memberships(uow, events)
