"""The wishes service: entrypoints only. Each validates (by its signature), then calls the
service layer in ``handlers``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nameko.rpc import RpcProxy

from pioneer import auth, ids
from pioneer.entrypoints import rpc, timer
from pioneer.events import Event
from pioneer.replica import VolunteerReplicaHandlers
from pioneer.schemas import CityName, Code, Cursor, Limit, Location, RecordId, ShortText
from pioneer.service import PioneerService

from . import handlers
from .schemas import (
    ComplaintIn,
    CompletionIn,
    ConfirmationIn,
    FulfillmentIn,
    Radius,
    RatingIn,
    RequestIn,
    RequestStatus,
    WishIn,
    WishStatus,
)
from .settings import WishesSettings

ANYONE = auth.ANY_ROLE
STAFF = handlers.STAFF
ACTING = {auth.VOLUNTEER, auth.ADMIN, auth.DISPATCHER, auth.SYSTEM}
DISPATCHERS = handlers.DISPATCHERS
EXPIRE_EVERY_S = 2.0
OFFER_TIMER_S = 1.0
COMPLAINT_RETRY_S = 2.0
SERVICE_TOKEN_TTL_S = 300


class WishesService(VolunteerReplicaHandlers, PioneerService):
    """Micro-wishes (微心愿): submitted, reviewed, claimed exactly once, fulfilled, confirmed;
    hotline service requests dispatched to the nearest eligible volunteer in the service circle."""

    name = "wishes"
    settings_model = WishesSettings
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

    volunteers = RpcProxy("volunteers")

    @rpc(roles=STAFF, sensitive=("wish",))
    def submit_wish(self, wish: WishIn):
        """Submit a resident's wish (status ``submitted``); the beneficiary stays in this service."""
        return handlers.submit_wish(self.ctx, wish)

    @rpc(roles={auth.ADMIN})
    def review_wish(self, wish_id: RecordId, approve: bool, reason: ShortText | None = None):
        """Publish (``approve=True``) or reject a submitted wish (admin of its city)."""
        return handlers.review_wish(self.ctx, wish_id, approve, reason)

    @rpc(roles=ACTING)
    def claim_wish(self, wish_id: RecordId, volunteer_id: RecordId):
        """Claim a published wish: exactly one of any number of concurrent claims wins."""
        return handlers.claim_wish(self.ctx, wish_id, volunteer_id)

    @rpc(roles=ACTING)
    def release_wish(self, wish_id: RecordId, volunteer_id: RecordId):
        """Give a claimed wish back (it is ``published`` again)."""
        return handlers.release_wish(self.ctx, wish_id, volunteer_id)

    @rpc(roles=ACTING)
    def fulfill_wish(self, wish_id: RecordId, volunteer_id: RecordId, fulfillment: FulfillmentIn):
        """The volunteer holding the wish reports it done (``fulfilled``)."""
        return handlers.fulfill_wish(self.ctx, wish_id, volunteer_id, fulfillment)

    @rpc(roles=STAFF)
    def confirm_wish(self, wish_id: RecordId, confirmation: ConfirmationIn):
        """Confirm a fulfilled wish with a rating 1..5 (``closed``; ``wish_closed`` credits the
        volunteer)."""
        return handlers.confirm_wish(self.ctx, wish_id, confirmation)

    @rpc(roles=STAFF)
    def cancel_wish(self, wish_id: RecordId, reason: ShortText):
        """Cancel a wish that is submitted, published or claimed."""
        return handlers.cancel_wish(self.ctx, wish_id, reason)

    @rpc(roles=ANYONE)
    def get_wish(self, wish_id: RecordId):
        """One wish; the beneficiary only for the claimer and the city's admins."""
        return handlers.get_wish(self.ctx, wish_id)

    @rpc(roles=ANYONE)
    def list_wishes(
        self,
        city: CityName,
        status: WishStatus | None = None,
        category: Code | None = None,
        near: Location | None = None,
        radius_m: Radius | None = None,
        limit: Limit = 50,
        cursor: Cursor | None = None,
    ):
        """Wishes of a city by status and category, in id order; with ``near``, within
        ``radius_m`` and nearest first. Paged."""
        point = (near.lat, near.lon) if near is not None else None
        return handlers.list_wishes(
            self.ctx, city, status, category, point, radius_m, limit, cursor
        )

    @timer(EXPIRE_EVERY_S)
    def expire_due(self) -> None:
        """Expire published wishes past their deadline (``wish_expired``)."""
        handlers.expire_due(self.ctx)

    # --- service requests -----------------------------------------------------------------------

    @rpc(roles=DISPATCHERS, sensitive=("request",))
    def raise_request(self, request: RequestIn):
        """Store a hotline request and dispatch it: offered to the nearest active volunteer with
        the skill inside the city's service circle who is not busy (the three nearest at once in
        an emergency), or ``unassigned`` when there is none."""
        return handlers.raise_request(self.ctx, request)

    @rpc(roles=ACTING)
    def accept_request(self, request_id: RecordId, volunteer_id: RecordId):
        """Accept an open offer (only an offered volunteer; the first of an emergency's wins)."""
        return handlers.accept_request(self.ctx, request_id, volunteer_id)

    @rpc(roles=ACTING)
    def decline_request(self, request_id: RecordId, volunteer_id: RecordId):
        """Decline an open offer; the request moves on to the next candidate."""
        return handlers.decline_request(self.ctx, request_id, volunteer_id)

    @rpc(roles=ACTING)
    def complete_request(
        self, request_id: RecordId, volunteer_id: RecordId, completion: CompletionIn
    ):
        """The assigned volunteer reports the work done (``request_completed``)."""
        return handlers.complete_request(self.ctx, request_id, volunteer_id, completion)

    @rpc(roles=DISPATCHERS)
    def rate_request(self, request_id: RecordId, rating: RatingIn):
        """Rate a completed request 1..5 (``closed``)."""
        return handlers.rate_request(self.ctx, request_id, rating)

    @rpc(roles=DISPATCHERS)
    def cancel_request(self, request_id: RecordId, reason: ShortText):
        """Cancel a request that is not completed; open offers are withdrawn."""
        return handlers.cancel_request(self.ctx, request_id, reason)

    @rpc(roles=ANYONE)
    def get_request(self, request_id: RecordId):
        """One request with its attempts; the requester only for staff and the assignee."""
        return handlers.get_request(self.ctx, request_id)

    @rpc(roles=ANYONE)
    def list_requests(
        self,
        city: CityName,
        status: RequestStatus | None = None,
        limit: Limit = 50,
        cursor: Cursor | None = None,
    ):
        """Requests of a city by status, in id order, paged."""
        return handlers.list_requests(self.ctx, city, status, limit, cursor)

    @timer(OFFER_TIMER_S)
    def expire_offers(self) -> None:
        """Offers not answered within ``OFFER_TIMEOUT_S`` time out; the request moves on."""
        handlers.expire_offers(self.ctx)

    @rpc(roles=DISPATCHERS)
    def complain(self, request_id: RecordId, complaint: ComplaintIn):
        """File a complaint against the request's assigned volunteer, recorded in volunteers
        (where ``uphold_complaint`` decides it); kept and delivered later if volunteers is down.
        Returns ``{"complaint_id"}``, the id volunteers records it under."""
        return handlers.complain(self.ctx, request_id, complaint, self._record_complaint)

    @timer(COMPLAINT_RETRY_S)
    def deliver_complaints(self) -> None:
        """Deliver the complaints volunteers has not recorded yet (with backoff)."""
        handlers.deliver_pending_complaints(self.ctx, self._record_complaint)

    def _record_complaint(
        self, volunteer_id: str, complaint: dict[str, str], complaint_id: str
    ) -> Any:
        """volunteers.record_complaint as this service (a short-lived ``system`` token of the
        volunteer's city), whoever the current caller is."""
        token = auth.issue_token(
            self.ctx.settings.JWT_SECRET,
            f"service:{self.name}",
            ids.city_of(volunteer_id),
            [auth.SYSTEM],
            SERVICE_TOKEN_TTL_S,
        )
        context = self.ctx.worker_ctx.data  # what outgoing calls carry (context_data is a copy)
        caller = context.get("authorization")
        context["authorization"] = f"Bearer {token}"
        try:
            return self.volunteers.record_complaint(
                volunteer_id, complaint, complaint_id=complaint_id
            )
        finally:
            if caller is None:
                context.pop("authorization", None)
            else:
                context["authorization"] = caller

    def replica_changed(self, uow, volunteer_ids: list[str], events: list[Event]) -> None:
        """Keep the dispatch index in step with the volunteer replica."""
        handlers.rebuild_dispatch_skills(uow, volunteer_ids)
