"""The notify service: its entrypoints and who may call them. Each hands its validated
arguments to a use case (``usecases``) with a unit of work over the service's store."""

from __future__ import annotations

from pathlib import Path

from pioneer import auth
from pioneer.entrypoints import event_handler, rpc, timer
from pioneer.events import Event
from pioneer.replica import VolunteerReplicaHandlers
from pioneer.schemas import CityName, Cursor, Limit
from pioneer.service import PioneerService

from . import domain, usecases
from .channels import PushChannels
from .schemas import NotificationIds, PreferencesIn, RecipientId
from .settings import NotifySettings
from .store import NotifyStore

READERS = {auth.VOLUNTEER, *domain.READ_STAFF}
CHANGERS = {auth.VOLUNTEER, *domain.CHANGE_STAFF}
# An inbox's policy: a volunteer token on its own inbox only, the staff roles on any recipient
# of their city (``admins:<city>`` included), at the recipient's home deployment.
RECIPIENT_READ = {
    "acting_for": "recipient_id",
    "staff": domain.READ_STAFF,
    "home": ("recipient_id", "inbox"),
    "city_of": domain.recipient_city,
}
RECIPIENT_CHANGE = {**RECIPIENT_READ, "staff": domain.CHANGE_STAFF}
DELIVER_EVERY_S = 0.5


class NotifyService(VolunteerReplicaHandlers, PioneerService):
    """Turns events into notifications, exactly once per recipient and channel: stored in the
    inbox at once, pushed through webhooks and SMS/WeChat gateways (held in quiet hours unless
    urgent, retried with backoff, then dead-lettered and replayable)."""

    name = "notify"
    settings_model = NotifySettings
    store_class = NotifyStore
    publishes = ("notification_sent", "notification_failed")
    migrations = str(Path(__file__).parent / "migrations")

    pushing = PushChannels()

    # --- the contract ---------------------------------------------------------------------------

    @rpc(roles=READERS, **RECIPIENT_READ)
    def inbox(
        self,
        recipient_id: RecipientId,
        unread_only: bool = False,
        limit: Limit = 50,
        cursor: Cursor | None = None,
    ):
        """A recipient's notifications, newest first, paged (a volunteer reads only its own;
        admins, ops and systems any of their city, including ``admins:<city>``)."""
        return usecases.inbox(self.ctx.uow(), recipient_id, unread_only, limit, cursor)

    @rpc(roles=CHANGERS, **RECIPIENT_CHANGE)
    def mark_read(self, recipient_id: RecipientId, notification_ids: NotificationIds):
        """Mark inbox notifications read; ``{"recipient_id", "marked", "unread"}``."""
        return usecases.mark_read(self.ctx.uow(), recipient_id, notification_ids)

    @rpc(roles=CHANGERS, **RECIPIENT_CHANGE)
    def set_preferences(self, recipient_id: RecipientId, preferences: PreferencesIn):
        """Replace a recipient's channels (the inbox is always on), quiet hours (local
        ``HH:MM``, may wrap midnight, or null) and ``webhook_url`` (``https``, a public host).
        A new URL (or ``rotate_webhook_secret``) returns its signing secret, once, as
        ``webhook_secret``."""
        return usecases.set_preferences(
            self.ctx.uow(),
            recipient_id,
            preferences,
            self.ctx.settings.WEBHOOK_PLAIN_HTTP_HOSTS,
        )

    @rpc(roles=READERS, **RECIPIENT_READ)
    def get_preferences(self, recipient_id: RecipientId):
        """A recipient's preferences (the defaults if never set: inbox only)."""
        return usecases.get_preferences(self.ctx.uow(), recipient_id)

    @rpc(roles={auth.ADMIN, auth.OPS}, city="city", home=("city", "delivery"))
    def failed_deliveries(self, city: CityName, limit: Limit = 50, cursor: Cursor | None = None):
        """Dead-lettered push deliveries of a city, with attempts and the last error."""
        return usecases.failed_deliveries(self.ctx.uow(), city, limit, cursor)

    @rpc(roles={auth.ADMIN}, city="city", home=("city", "delivery"))
    def replay_deliveries(self, city: CityName, notification_ids: NotificationIds):
        """Send dead-lettered deliveries again from the first attempt; ``{"replayed": [...]}``."""
        return usecases.replay_deliveries(self.ctx.uow(), city, notification_ids, self.ctx.log)

    # --- events ---------------------------------------------------------------------------------

    @event_handler("wishes", "wish_published")
    def on_wish_published(self, uow, event: Event) -> None:
        ctx = self.ctx
        settings = ctx.settings
        usecases.wish_published(
            uow,
            event,
            ctx.catalog,
            ctx.cities,
            settings.wish_radius_m,
            ctx.log,
            settings.FANOUT_CHUNK,
        )

    @event_handler("wishes", "wish_claimed")
    def on_wish_claimed(self, uow, event: Event) -> None:
        usecases.wish_claimed(uow, event, self.ctx.cities)

    @event_handler("wishes", "request_dispatched")
    def on_request_dispatched(self, uow, event: Event) -> None:
        usecases.request_changed(uow, event, self.ctx.catalog, self.ctx.cities)

    @event_handler("wishes", "request_accepted")
    def on_request_accepted(self, uow, event: Event) -> None:
        usecases.request_changed(uow, event, self.ctx.catalog, self.ctx.cities)

    @event_handler("wishes", "request_declined")
    def on_request_declined(self, uow, event: Event) -> None:
        usecases.request_changed(uow, event, self.ctx.catalog, self.ctx.cities)

    @event_handler("wishes", "request_unassigned")
    def on_request_unassigned(self, uow, event: Event) -> None:
        usecases.request_changed(uow, event, self.ctx.catalog, self.ctx.cities)

    @event_handler("wishes", "request_cancelled")
    def on_request_cancelled(self, uow, event: Event) -> None:
        usecases.request_changed(uow, event, self.ctx.catalog, self.ctx.cities)

    @event_handler("points", "points_redeemed")
    def on_points_redeemed(self, uow, event: Event) -> None:
        usecases.points_redeemed(uow, event, self.ctx.cities)

    # The directory follows the kernel's replica handlers; registrations and profile changes
    # tell nobody, discipline events tell the volunteer (these three replace the kernel's).

    def replica_changed(self, uow, volunteer_ids: list[str], events: list[Event]) -> None:
        """Keep the directory in step with the volunteer replica."""
        usecases.volunteers_changed(uow, volunteer_ids)

    @event_handler("volunteers", "volunteer_suspended")
    def on_volunteer_suspended(self, uow, event: Event) -> None:
        usecases.volunteer_changed(uow, event, domain.VOLUNTEER_SUSPENDED, self.ctx.cities)

    @event_handler("volunteers", "volunteer_reinstated")
    def on_volunteer_reinstated(self, uow, event: Event) -> None:
        usecases.volunteer_changed(uow, event, domain.VOLUNTEER_REINSTATED, self.ctx.cities)

    @event_handler("volunteers", "volunteer_removed")
    def on_volunteer_removed(self, uow, event: Event) -> None:
        usecases.volunteer_changed(uow, event, domain.VOLUNTEER_REMOVED, self.ctx.cities)

    # --- push deliveries ------------------------------------------------------------------------

    @timer(DELIVER_EVERY_S)
    def deliver_due(self) -> None:
        """Push due deliveries (new, released at the end of quiet hours, or retried)."""
        usecases.send_due(
            self.ctx.uow(),
            self.ctx.settings,
            self.pushing.channels,
            self.pushing.count,
            self.ctx.log,
        )
