"""Stations configuration: the kernel's settings plus the check-in signing keys."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from pydantic import StringConstraints, field_validator, model_validator

from pioneer.config import KernelSettings

KeyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,16}$")]


class StationsSettings(KernelSettings):
    """``CHECKIN_KEYS`` maps key ids to secrets; ``CHECKIN_KEY_ID`` signs new codes.

    To rotate: add a key, point ``CHECKIN_KEY_ID`` at it, and drop the old key once the codes
    it signed have expired. Without ``CHECKIN_KEYS`` one key (``k0``) is derived from the
    deployment's ``JWT_SECRET``.
    """

    CHECKIN_KEYS: dict[KeyId, Annotated[str, StringConstraints(min_length=16)]] = {}
    CHECKIN_KEY_ID: KeyId | None = None

    @field_validator("CHECKIN_KEYS", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        # ``${CHECKIN_KEYS:}`` in config.yml arrives as None or "" when the variable is unset.
        return {} if value in (None, "") else value

    @model_validator(mode="after")
    def _active_key_known(self) -> StationsSettings:
        if self.CHECKIN_KEYS and self.CHECKIN_KEY_ID not in self.CHECKIN_KEYS:
            raise ValueError("CHECKIN_KEY_ID must name one of CHECKIN_KEYS")
        return self

    def checkin_keys(self) -> tuple[dict[str, str], str]:
        """(keys by id, the id that signs new codes)."""
        if self.CHECKIN_KEYS:
            return dict(self.CHECKIN_KEYS), str(self.CHECKIN_KEY_ID)
        derived = hmac.new(
            self.JWT_SECRET.encode(), b"pioneer-checkin-codes", hashlib.sha256
        ).hexdigest()
        return {"k0": derived}, "k0"
