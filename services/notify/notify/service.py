"""The notify service: entrypoints only. Each validates (by its signature), then calls the
service layer in ``handlers``."""

from __future__ import annotations

from pathlib import Path

from pioneer import auth
from pioneer.entrypoints import event_handler, rpc, timer
from pioneer.events import Event
from pioneer.replica import VolunteerReplicaHandlers
from pioneer.schemas import CityName, Cursor, Limit
from pioneer.service import PioneerService

from . import domain, handlers
from .channels import Channel, build_channels
from .schemas import NotificationIds, PreferencesIn, RecipientId
from .settings import NotifySettings

READERS = {auth.VOLUNTEER, auth.ADMIN, auth.OPS, auth.SYSTEM}
CHANGERS = {auth.VOLUNTEER, auth.ADMIN, auth.SYSTEM}
DELIVER_EVERY_S = 0.5


class NotifyService(VolunteerReplicaHandlers, PioneerService):
    """Turns events into notifications, exactly once per recipient and channel: stored in the
    inbox at once, pushed through webhooks and SMS/WeChat gateways (held in quiet hours unless
    urgent, retried with backoff, then dead-lettered and replayable)."""

    name = "notify"
    settings_model = NotifySettings
    publishes = ("notification_sent", "notification_failed")
    migrations = str(Path(__file__).parent / "migrations")

    # --- the contract ---------------------------------------------------------------------------

    @rpc(roles=READERS)
    def inbox(
        self,
        recipient_id: RecipientId,
        unread_only: bool = False,
        limit: Limit = 50,
        cursor: Cursor | None = None,
    ):
        """A recipient's notifications, newest first, paged (a volunteer reads only its own;
        admins, ops and systems any of their city, including ``admins:<city>``)."""
        return handlers.inbox(self.ctx, recipient_id, unread_only, limit, cursor)

    @rpc(roles=CHANGERS)
    def mark_read(self, recipient_id: RecipientId, notification_ids: NotificationIds):
        """Mark inbox notifications read; ``{"recipient_id", "marked", "unread"}``."""
        return handlers.mark_read(self.ctx, recipient_id, notification_ids)

    @rpc(roles=CHANGERS)
    def set_preferences(self, recipient_id: RecipientId, preferences: PreferencesIn):
        """Replace a recipient's channels (the inbox is always on), quiet hours (local
        ``HH:MM``, may wrap midnight, or null) and ``webhook_url``."""
        return handlers.set_preferences(self.ctx, recipient_id, preferences)

    @rpc(roles=READERS)
    def get_preferences(self, recipient_id: RecipientId):
        """A recipient's preferences (the defaults if never set: inbox only)."""
        return handlers.get_preferences(self.ctx, recipient_id)

    @rpc(roles={auth.ADMIN, auth.OPS})
    def failed_deliveries(self, city: CityName, limit: Limit = 50, cursor: Cursor | None = None):
        """Dead-lettered push deliveries of a city, with attempts and the last error."""
        return handlers.failed_deliveries(self.ctx, city, limit, cursor)

    @rpc(roles={auth.ADMIN})
    def replay_deliveries(self, city: CityName, notification_ids: NotificationIds):
        """Send dead-lettered deliveries again from the first attempt; ``{"replayed": [...]}``."""
        return handlers.replay_deliveries(self.ctx, city, notification_ids)

    # --- events ---------------------------------------------------------------------------------

    @event_handler("wishes", "wish_published")
    def on_wish_published(self, uow, event: Event) -> None:
        handlers.wish_published(self.ctx, uow, event)

    @event_handler("wishes", "wish_claimed")
    def on_wish_claimed(self, uow, event: Event) -> None:
        handlers.wish_claimed(self.ctx, uow, event)

    @event_handler("wishes", "request_dispatched")
    def on_request_dispatched(self, uow, event: Event) -> None:
        handlers.request_changed(self.ctx, uow, event)

    @event_handler("wishes", "request_accepted")
    def on_request_accepted(self, uow, event: Event) -> None:
        handlers.request_changed(self.ctx, uow, event)

    @event_handler("wishes", "request_declined")
    def on_request_declined(self, uow, event: Event) -> None:
        handlers.request_changed(self.ctx, uow, event)

    @event_handler("wishes", "request_unassigned")
    def on_request_unassigned(self, uow, event: Event) -> None:
        handlers.request_changed(self.ctx, uow, event)

    @event_handler("wishes", "request_cancelled")
    def on_request_cancelled(self, uow, event: Event) -> None:
        handlers.request_changed(self.ctx, uow, event)

    @event_handler("points", "points_redeemed")
    def on_points_redeemed(self, uow, event: Event) -> None:
        handlers.points_redeemed(self.ctx, uow, event)

    # The directory follows the kernel's replica handlers; registrations and profile changes
    # tell nobody, discipline events tell the volunteer (these three replace the kernel's).

    def replica_changed(self, uow, volunteer_ids: list[str], events: list[Event]) -> None:
        """Keep the directory in step with the volunteer replica."""
        handlers.volunteers_changed(uow, volunteer_ids)

    @event_handler("volunteers", "volunteer_suspended")
    def on_volunteer_suspended(self, uow, event: Event) -> None:
        handlers.volunteer_changed(self.ctx, uow, event, domain.VOLUNTEER_SUSPENDED)

    @event_handler("volunteers", "volunteer_reinstated")
    def on_volunteer_reinstated(self, uow, event: Event) -> None:
        handlers.volunteer_changed(self.ctx, uow, event, domain.VOLUNTEER_REINSTATED)

    @event_handler("volunteers", "volunteer_removed")
    def on_volunteer_removed(self, uow, event: Event) -> None:
        handlers.volunteer_changed(self.ctx, uow, event, domain.VOLUNTEER_REMOVED)

    # --- push deliveries ------------------------------------------------------------------------

    @timer(DELIVER_EVERY_S)
    def deliver_due(self) -> None:
        """Push due deliveries (new, released at the end of quiet hours, or retried)."""
        handlers.send_due(self.ctx, self._channels())

    def _channels(self) -> dict[str, Channel]:
        kernel = self.ctx.kernel
        channels = kernel.__dict__.get("_notify_channels")
        if channels is None:
            channels = build_channels(kernel.settings, kernel.log)
            kernel.__dict__["_notify_channels"] = channels
        return channels
