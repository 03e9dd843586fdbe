"""Wishes configuration: the kernel's settings plus the nearby default and the expiry batch."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from pioneer.config import KernelSettings


class WishesSettings(KernelSettings):
    """``DEFAULT_NEAR_RADIUS_M``: the radius of ``list_wishes(near=...)`` without ``radius_m``.
    ``EXPIRE_BATCH``: overdue published wishes expired per transaction by the expiry timer."""

    DEFAULT_NEAR_RADIUS_M: Annotated[int, Field(ge=1, le=50_000)] = 5000
    EXPIRE_BATCH: Annotated[int, Field(ge=1, le=10_000)] = 500
