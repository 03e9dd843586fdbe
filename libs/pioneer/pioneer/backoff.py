"""One retry schedule for everything that tries again: the outbox relay, webhook and SMS
deliveries, complaints on their way to another service."""

from __future__ import annotations


def backoff_s(attempts: int, base_s: float = 1.0, cap_s: float = 300.0) -> float:
    """Seconds to wait after ``attempts`` failed tries: ``base_s``, twice that, four times...
    never more than ``cap_s``."""
    return float(min(cap_s, base_s * 2 ** min(max(attempts - 1, 0), 62)))
