"""The points service: its entrypoints and who may call them. Each hands its validated
arguments to a use case (``usecases``) with a unit of work over the service's store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pioneer import auth
from pioneer.batching import batch_event_handler
from pioneer.entrypoints import event_handler, rpc
from pioneer.events import Event
from pioneer.replica import VolunteerReplicaHandlers
from pioneer.schemas import CityName, Cursor, Limit, Page, RecordId, ShortText
from pioneer.service import PioneerService

from . import usecases
from .schemas import (
    AdjustmentOut,
    BalanceOut,
    Board,
    BoardLimit,
    CatalogItemIn,
    CatalogItemOut,
    Delta,
    EntryOut,
    IdempotencyKey,
    Period,
    Quantity,
    RedemptionOut,
    ReportItem,
    Year,
)
from .settings import PointsSettings
from .store import PointsStore

# A check-in's points may show a few hundredths of a second later; in exchange, a steady
# stream is booked tens at a time instead of a commit for every two or three.
CHECKIN_LINGER_S = 0.02

ANYONE = auth.ANY_ROLE
# Who reads any volunteer's points in their city (a volunteer reads only its own).
READERS = frozenset({auth.ADMIN, auth.DISPATCHER, auth.SYSTEM, auth.OPS})
# Who redeems for a volunteer of their city (a volunteer redeems only for itself).
REDEEM_STAFF = frozenset({auth.ADMIN, auth.SYSTEM})
REDEEMERS = REDEEM_STAFF | {auth.VOLUNTEER}
ADMINS = frozenset({auth.ADMIN})
REPORTERS = frozenset({auth.ADMIN, auth.OPS, auth.SYSTEM})
VOLUNTEER_HOME = ("volunteer_id", "volunteer")


class PointsService(VolunteerReplicaHandlers, PioneerService):
    """The ledger of volunteers' points (earned from check-ins, closed wishes and completed
    requests, credited in the volunteer's home city), redemption against a city's catalog,
    rankings by city, period and team, and the annual assessment."""

    name = "points"
    settings_model = PointsSettings
    store_class = PointsStore
    publishes = ("points_awarded", "points_redeemed", "points_reversed")
    migrations = str(Path(__file__).parent / "migrations")

    # --- reading -------------------------------------------------------------------------------

    @rpc(roles=ANYONE, acting_for="volunteer_id", staff=READERS, home=VOLUNTEER_HOME)
    def balance(self, volunteer_id: RecordId) -> BalanceOut:
        """``{volunteer_id, balance, earned, spent}`` (a volunteer reads only its own)."""
        return usecases.balance(self.ctx.uow(), volunteer_id)

    @rpc(roles=ANYONE, acting_for="volunteer_id", staff=READERS, home=VOLUNTEER_HOME)
    def history(
        self, volunteer_id: RecordId, limit: Limit = 50, cursor: Cursor | None = None
    ) -> Page[EntryOut]:
        """The volunteer's ledger entries, newest first, paged."""
        return usecases.history(self.ctx.uow(), volunteer_id, limit, cursor)

    @rpc(roles=ANYONE)
    def leaderboard(
        self,
        city: CityName | None = None,
        period: Period = "all",
        team_id: RecordId | None = None,
        limit: BoardLimit = 10,
    ) -> Board:
        """Ranks by points earned in ``period`` (``all``, ``YYYY`` or ``YYYY-MM``), in a city or
        (``city=None``) every city, optionally one team's members; ties share a rank."""
        return usecases.leaderboard(self.ctx.uow(), city, period, team_id, limit)

    @rpc(roles=REPORTERS, city="city", home=("city", "report"))
    def annual_report(
        self, city: CityName, year: Year, limit: Limit = 50, cursor: Cursor | None = None
    ) -> Page[ReportItem]:
        """Per volunteer of the city: points, hours, activities, wishes, requests and rank of
        the work done in ``year``; highest first, paged (admin, ops, system)."""
        return usecases.annual_report(self.ctx.uow(), city, year, limit, cursor)

    # --- admin ---------------------------------------------------------------------------------

    @rpc(roles=ADMINS, city="volunteer_id", home=VOLUNTEER_HOME)
    def adjust(self, volunteer_id: RecordId, delta: Delta, reason: ShortText) -> AdjustmentOut:
        """Correct a volunteer's points (admin of its city): an audited ledger entry that
        counts towards rankings; never below a zero balance."""
        self.ctx.bind(volunteer_id=volunteer_id, delta=delta)
        return usecases.adjust(self.ctx.uow(), volunteer_id, delta, reason, self.ctx.caller.sub)

    # --- catalog and redemption (积分兑换) -----------------------------------------------------

    @rpc(roles=ADMINS, city="city", home=("city", "catalog"))
    def add_catalog_item(self, city: CityName, item: CatalogItemIn) -> CatalogItemOut:
        """Add ``{name, cost, stock}`` to the city's catalog (admin)."""
        return usecases.add_catalog_item(self.ctx.uow(), city, item)

    @rpc(roles=ANYONE, home=("city", "catalog"))
    def catalog(
        self, city: CityName, limit: Limit = 50, cursor: Cursor | None = None
    ) -> Page[CatalogItemOut]:
        """The city's catalog with stock, paged."""
        return usecases.catalog(self.ctx.uow(), city, limit, cursor)

    @rpc(roles=REDEEMERS, acting_for="volunteer_id", staff=REDEEM_STAFF, home=VOLUNTEER_HOME)
    def redeem(
        self,
        volunteer_id: RecordId,
        item_id: RecordId,
        quantity: Quantity,
        idempotency_key: IdempotencyKey,
    ) -> RedemptionOut:
        """Spend points on an item: never below a zero balance, never beyond the stock; the
        same ``idempotency_key`` redeems once and returns the first result."""
        redeemed = usecases.redeem(
            self.ctx.uow(), volunteer_id, item_id, quantity, idempotency_key, self.ctx.caller.sub
        )
        self.ctx.bind(volunteer_id=volunteer_id, redemption_id=redeemed.id)
        return redeemed

    @rpc(roles=ADMINS, city="redemption_id", home=("redemption_id", "redemption"))
    def reverse_redemption(self, redemption_id: RecordId, reason: ShortText) -> RedemptionOut:
        """Undo a redemption (admin): the points and the stock come back, once."""
        return usecases.reverse_redemption(
            self.ctx.uow(), redemption_id, reason, self.ctx.caller.sub
        )

    # --- earning -------------------------------------------------------------------------------

    # Check-ins come in bursts (an activity's volunteers arrive together): credited in batches,
    # which wait CHECKIN_LINGER_S for company while they are not full.
    @batch_event_handler("stations", "volunteer_checked_in", linger_s=CHECKIN_LINGER_S)
    def on_volunteer_checked_in(self, uow: Any, events: list[Event]) -> list[str | None]:
        """Credit the check-ins that arrived together."""
        return usecases.credit_checkins(uow, self.ctx.cities, events, self.ctx.settings.rules)

    @event_handler("wishes", "wish_closed")
    def on_wish_closed(self, uow: Any, event: Event) -> None:
        """Credit whoever did the wish."""
        rules = self.ctx.settings.rules
        self.ctx.outcome = usecases.credit_wish(uow, self.ctx.cities, rules, event)

    @event_handler("wishes", "request_completed")
    def on_request_completed(self, uow: Any, event: Event) -> None:
        """Credit the request's assignee."""
        rules = self.ctx.settings.rules
        self.ctx.outcome = usecases.credit_request(uow, self.ctx.cities, rules, event)

    @event_handler("wishes", "request_rated")
    def on_request_rated(self, uow: Any, event: Event) -> None:
        """The top-rating bonus, if the rating earns it."""
        rules = self.ctx.settings.rules
        self.ctx.outcome = usecases.credit_rating(uow, self.ctx.cities, rules, event)

    # Only federated peers' copies reach this queue (peers_only: this deployment's own awards
    # stop at the broker); they are taken in batches.
    @batch_event_handler("points", "points_awarded", peers_only=True)
    def on_peer_points_awarded(self, uow: Any, events: list[Event]) -> list[str | None]:
        """Peers' ranked entries (federated mode) for the all-cities board."""
        return usecases.count_peer_entries(uow, self.ctx.cities, events)

    # --- the volunteer replica and team membership ---------------------------------------------

    def replica_changed(self, uow: Any, volunteer_ids: list[str], events: list[Event]) -> None:
        """Team membership follows the kernel's volunteer replica."""
        usecases.update_memberships(uow, events)
