"""Notify's use cases, one function each over a unit of work, by sub-domain:

- ``fanout``: events of wishes, volunteers and points turned into notifications, once per
  recipient and channel (run in the event handler's unit of work);
- ``inbox``: the inbox, read state and preferences;
- ``delivery``: push deliveries (the timer's send, retries, dead letters and replay).

Data is reached only through ``uow.store`` (``store.NotifyStore``), so the tests run these on a
fake store.
"""

from .delivery import failed_deliveries, record_outcomes, replay_deliveries, send_due
from .fanout import (
    points_redeemed,
    request_changed,
    volunteer_changed,
    volunteers_changed,
    wish_claimed,
    wish_published,
)
from .inbox import get_preferences, inbox, mark_read, set_preferences

__all__ = [
    "failed_deliveries",
    "get_preferences",
    "inbox",
    "mark_read",
    "points_redeemed",
    "record_outcomes",
    "replay_deliveries",
    "request_changed",
    "send_due",
    "set_preferences",
    "volunteer_changed",
    "volunteers_changed",
    "wish_claimed",
    "wish_published",
]
