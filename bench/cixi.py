"""Cixi, where the bench's stations, wishes and dispatch live: its extent and the skills its
dispatch is asked for (shared by ``bench.__main__`` and ``bench.plans``)."""

from __future__ import annotations

import random

# About 1,360 km² of land.
CIXI_BOX = (30.05, 30.33, 121.05, 121.55)
DISPATCH_SKILLS = ["repair", "plumbing_electrical", "elderly_care", "errands", "medical"]


def random_point(rng: random.Random) -> dict[str, float]:
    """A point anywhere in Cixi's extent."""
    south, north, west, east = CIXI_BOX
    return {"lat": rng.uniform(south, north), "lon": rng.uniform(west, east)}
