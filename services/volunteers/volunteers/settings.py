"""Volunteers configuration: the kernel's settings plus find and reinstatement knobs."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from pioneer.config import KernelSettings


class VolunteersSettings(KernelSettings):
    """``DEFAULT_NEAR_RADIUS_M``: the radius of ``find_volunteers(near=...)`` without ``radius_m``.
    ``REINSTATE_BATCH``: due suspensions ended per transaction by the reinstatement timer."""

    DEFAULT_NEAR_RADIUS_M: Annotated[int, Field(ge=1, le=50_000)] = 5000
    REINSTATE_BATCH: Annotated[int, Field(ge=1, le=10_000)] = 500
