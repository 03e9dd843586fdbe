"""The wishes service: its entrypoints and who may call them. Each hands its validated
arguments to a use case (``usecases``) with a unit of work over the service's store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pioneer import auth
from pioneer.entrypoints import rpc, timer
from pioneer.events import Event
from pioneer.replica import VolunteerReplicaHandlers
from pioneer.schemas import CityName, Code, Cursor, Limit, Location, Page, RecordId, ShortText
from pioneer.service import PioneerService

from . import domain
from .metrics import WishesMetrics
from .schemas import (
    ComplaintFiledOut,
    ComplaintIn,
    CompletionIn,
    ConfirmationIn,
    FulfillmentIn,
    NearbyWishOut,
    Radius,
    RatingIn,
    RequestIn,
    RequestOut,
    RequestStatus,
    WishIn,
    WishOut,
    WishStatus,
)
from .settings import WishesSettings
from .store import WishesStore
from .usecases import complaints, requests, wishes
from .volunteers_client import VolunteersClient

ANYONE = auth.ANY_ROLE
# Who submits, confirms and cancels wishes for residents.
STAFF = {auth.ADMIN, auth.DISPATCHER, auth.STATION_MANAGER, auth.SYSTEM}
# Who raises, rates and cancels hotline requests, and files complaints.
DISPATCHERS = {auth.ADMIN, auth.DISPATCHER, auth.SYSTEM}
# A volunteer for itself; admins, dispatchers and systems for their city's volunteers.
ACTING = {auth.VOLUNTEER, auth.ADMIN, auth.DISPATCHER, auth.SYSTEM}
EXPIRE_EVERY_S = 2.0
OFFER_TIMER_S = 1.0
COMPLAINT_RETRY_S = 2.0


class WishesService(VolunteerReplicaHandlers, PioneerService):
    """Micro-wishes (微心愿): submitted, reviewed, claimed exactly once, fulfilled, confirmed;
    hotline service requests dispatched to the nearest eligible volunteer in the service circle."""

    name = "wishes"
    settings_model = WishesSettings
    store_class = WishesStore
    publishes = (
        "wish_submitted",
        "wish_published",
        "wish_rejected",
        "wish_claimed",
        "wish_released",
        "wish_fulfilled",
        "wish_closed",
        "wish_cancelled",
        "wish_expired",
        "request_raised",
        "request_dispatched",
        "request_accepted",
        "request_declined",
        "request_completed",
        "request_rated",
        "request_unassigned",
        "request_cancelled",
        "complaint_filed",
    )
    migrations = str(Path(__file__).parent / "migrations")

    volunteers = VolunteersClient()
    own_metrics = WishesMetrics()

    # --- micro-wishes ---------------------------------------------------------------------------

    @rpc(roles=STAFF, sensitive=("wish",), city="wish.city", home=("wish.city", "wish"))
    def submit_wish(self, wish: WishIn) -> WishOut:
        """Submit a resident's wish (status ``submitted``); the beneficiary stays in this service."""
        return wishes.submit_wish(self.ctx.uow(), self.ctx.catalog, self.ctx.caller, wish)

    @rpc(roles={auth.ADMIN}, city="wish_id", home=("wish_id", "wish"))
    def review_wish(
        self, wish_id: RecordId, approve: bool, reason: ShortText | None = None
    ) -> WishOut:
        """Publish (``approve=True``) or reject a submitted wish (admin of its city)."""
        return wishes.review_wish(self.ctx.uow(), self.ctx.caller, wish_id, approve, reason)

    @rpc(roles=ACTING, acting_for="volunteer_id", home=("wish_id", "wish"))
    def claim_wish(self, wish_id: RecordId, volunteer_id: RecordId) -> WishOut:
        """Claim a published wish: exactly one of any number of concurrent claims wins."""
        return wishes.claim_wish(self.ctx.uow(), self.ctx.caller, wish_id, volunteer_id)

    @rpc(roles=ACTING, acting_for="volunteer_id", home=("wish_id", "wish"))
    def release_wish(self, wish_id: RecordId, volunteer_id: RecordId) -> WishOut:
        """Give a claimed wish back (it is ``published`` again)."""
        return wishes.release_wish(self.ctx.uow(), self.ctx.caller, wish_id, volunteer_id)

    @rpc(roles=ACTING, acting_for="volunteer_id", home=("wish_id", "wish"))
    def fulfill_wish(
        self, wish_id: RecordId, volunteer_id: RecordId, fulfillment: FulfillmentIn
    ) -> WishOut:
        """The volunteer holding the wish reports it done (``fulfilled``)."""
        return wishes.fulfill_wish(
            self.ctx.uow(), self.ctx.caller, wish_id, volunteer_id, fulfillment
        )

    @rpc(roles=STAFF, city="wish_id", home=("wish_id", "wish"))
    def confirm_wish(self, wish_id: RecordId, confirmation: ConfirmationIn) -> WishOut:
        """Confirm a fulfilled wish with a rating 1..5 (``closed``; ``wish_closed`` credits the
        volunteer)."""
        return wishes.confirm_wish(self.ctx.uow(), self.ctx.caller, wish_id, confirmation)

    @rpc(roles=STAFF, city="wish_id", home=("wish_id", "wish"))
    def cancel_wish(self, wish_id: RecordId, reason: ShortText) -> WishOut:
        """Cancel a wish that is submitted, published or claimed."""
        return wishes.cancel_wish(self.ctx.uow(), self.ctx.caller, wish_id, reason)

    @rpc(
        roles=ANYONE,
        city="wish_id",
        volunteers=domain.VOLUNTEER_WISHES,
        home=("wish_id", "wish"),
    )
    def get_wish(self, wish_id: RecordId) -> WishOut:
        """One wish; the beneficiary only for the claimer and the city's admins."""
        return wishes.get_wish(self.ctx.uow(), self.ctx.caller, wish_id)

    @rpc(roles=ANYONE, city="city", volunteers=domain.VOLUNTEER_WISHES, home=("city", "wish"))
    def list_wishes(
        self,
        city: CityName,
        status: WishStatus | None = None,
        category: Code | None = None,
        near: Location | None = None,
        radius_m: Radius | None = None,
        limit: Limit = 50,
        cursor: Cursor | None = None,
    ) -> Page[WishOut] | Page[NearbyWishOut]:
        """Wishes of a city by status and category, in id order; with ``near``, within
        ``radius_m`` and nearest first. Paged."""
        point = (near.lat, near.lon) if near is not None else None
        default_radius_m = self.ctx.settings.DEFAULT_NEAR_RADIUS_M
        return wishes.list_wishes(
            self.ctx.uow(),
            self.ctx.caller,
            city,
            status,
            category,
            point,
            radius_m,
            default_radius_m,
            limit,
            cursor,
        )

    @timer(EXPIRE_EVERY_S)
    def expire_due(self) -> None:
        """Expire published wishes past their deadline (``wish_expired``)."""
        expired = wishes.expire_due(self.ctx.uow(), self.ctx.settings.EXPIRE_BATCH)
        if expired:
            self.ctx.log.info("wishes_expired", count=expired)

    # --- service requests -----------------------------------------------------------------------

    @rpc(
        roles=DISPATCHERS,
        sensitive=("request",),
        city="request.city",
        home=("request.city", "request"),
    )
    def raise_request(self, request: RequestIn) -> RequestOut:
        """Store a hotline request and dispatch it: offered to the nearest active volunteer with
        the skill inside the city's service circle who is not busy (the three nearest at once in
        an emergency), or ``unassigned`` when there is none."""
        return requests.raise_request(
            self.ctx.uow(), self.ctx.catalog, self._dispatch(), self.ctx.caller, request
        )

    @rpc(roles=ACTING, acting_for="volunteer_id", home=("request_id", "request"))
    def accept_request(self, request_id: RecordId, volunteer_id: RecordId) -> RequestOut:
        """Accept an open offer (only an offered volunteer; the first of an emergency's wins)."""
        return requests.accept_request(self.ctx.uow(), self.ctx.caller, request_id, volunteer_id)

    @rpc(roles=ACTING, acting_for="volunteer_id", home=("request_id", "request"))
    def decline_request(self, request_id: RecordId, volunteer_id: RecordId) -> RequestOut:
        """Decline an open offer; the request moves on to the next candidate."""
        return requests.decline_request(
            self.ctx.uow(), self._dispatch(), self.ctx.caller, request_id, volunteer_id
        )

    @rpc(roles=ACTING, acting_for="volunteer_id", home=("request_id", "request"))
    def complete_request(
        self, request_id: RecordId, volunteer_id: RecordId, completion: CompletionIn
    ) -> RequestOut:
        """The assigned volunteer reports the work done (``request_completed``)."""
        return requests.complete_request(
            self.ctx.uow(), self.ctx.caller, request_id, volunteer_id, completion
        )

    @rpc(roles=DISPATCHERS, city="request_id", home=("request_id", "request"))
    def rate_request(self, request_id: RecordId, rating: RatingIn) -> RequestOut:
        """Rate a completed request 1..5 (``closed``)."""
        return requests.rate_request(self.ctx.uow(), self.ctx.caller, request_id, rating)

    @rpc(roles=DISPATCHERS, city="request_id", home=("request_id", "request"))
    def cancel_request(self, request_id: RecordId, reason: ShortText) -> RequestOut:
        """Cancel a request that is not completed; open offers are withdrawn."""
        return requests.cancel_request(self.ctx.uow(), self.ctx.caller, request_id, reason)

    @rpc(
        roles=ANYONE,
        city="request_id",
        volunteers=domain.VOLUNTEER_REQUESTS,
        home=("request_id", "request"),
    )
    def get_request(self, request_id: RecordId) -> RequestOut:
        """One request with its attempts; the requester only for staff and the assignee."""
        return requests.get_request(self.ctx.uow(), self.ctx.caller, request_id)

    @rpc(roles=ANYONE, city="city", volunteers=domain.VOLUNTEER_REQUESTS, home=("city", "request"))
    def list_requests(
        self,
        city: CityName,
        status: RequestStatus | None = None,
        limit: Limit = 50,
        cursor: Cursor | None = None,
    ) -> Page[RequestOut]:
        """Requests of a city by status, in id order, paged."""
        return requests.list_requests(self.ctx.uow(), self.ctx.caller, city, status, limit, cursor)

    @timer(OFFER_TIMER_S)
    def expire_offers(self) -> None:
        """Offers not answered within ``OFFER_TIMEOUT_S`` time out; the request moves on."""
        requests.expire_offers(self.ctx.uow(), self._dispatch(), self.ctx.settings.EXPIRE_BATCH)

    def _dispatch(self) -> requests.Dispatch:
        settings = self.ctx.settings
        return requests.Dispatch(
            settings.circle, settings.OFFER_TIMEOUT_S, self.own_metrics.request_unassigned
        )

    def replica_changed(self, uow: Any, volunteer_ids: list[str], events: list[Event]) -> None:
        """Keep the dispatch index in step with the volunteer replica."""
        requests.follow_replica(uow, volunteer_ids)

    # --- complaints -----------------------------------------------------------------------------

    @rpc(roles=DISPATCHERS, city="request_id", home=("request_id", "request"))
    def complain(self, request_id: RecordId, complaint: ComplaintIn) -> ComplaintFiledOut:
        """File a complaint against the request's assigned volunteer, recorded in volunteers
        (where ``uphold_complaint`` decides it); kept and delivered later if volunteers is down.
        Returns ``{"complaint_id"}``, the id volunteers records it under."""
        return complaints.complain(self.ctx.uow(), self.volunteers, request_id, complaint)

    @timer(COMPLAINT_RETRY_S)
    def deliver_complaints(self) -> None:
        """Deliver the complaints volunteers has not recorded yet (with backoff)."""
        complaints.deliver_pending_complaints(self.ctx.uow(), self.volunteers)
