"""The development adapter for SMS and WeChat: the delivery is written to the JSON log (ids and
kind only) instead of leaving the machine. Selected by ``SMS_ADAPTER``/``WECHAT_ADAPTER`` =
``logging`` (the default)."""

from __future__ import annotations

from typing import Any

from .base import Delivery


class LoggingChannel:
    """Always accepts; logs which notification would have been pushed to whom."""

    def __init__(self, name: str, log: Any) -> None:
        self.name = name
        self._log = log

    def send(self, delivery: Delivery) -> None:
        """Log the delivery (no title or body: the log is not a message store)."""
        self._log.info(
            "notification_pushed",
            channel=self.name,
            notification_id=delivery.notification_id,
            recipient_id=delivery.recipient_id,
            kind=delivery.kind,
            subject_id=delivery.subject_id,
        )
