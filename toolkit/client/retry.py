"""Retry timing shared by the visitor client, `chat` and the soak: jittered backoff and
Retry-After parsing (RFC 9110 §10.2.3: delay-seconds or an HTTP date)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["MIN_DELAY", "backoff_delay", "parse_retry_after"]

MIN_DELAY = 0.1
"""No wait is ever shorter than this, so a failing loop cannot spin."""


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    rng: Callable[[], float] = random.random,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first retry).

    Exponential with full jitter, `rng() * min(cap, base * 2**attempt)`, so clients that
    failed together do not come back together. A server's Retry-After is honoured as given.
    Never less than MIN_DELAY.
    """
    if retry_after is not None:
        return max(MIN_DELAY, retry_after)
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 0), 32))
    return max(MIN_DELAY, rng() * ceiling)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header (delay-seconds or an HTTP date) in seconds; None when unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
