"""Capped, jittered exponential backoff, for every retry the integration schedules."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, retry_after: float | None = None, *, base: float,
                  cap: float) -> float:
    """Seconds to wait before attempt ``attempt + 1``; honours Spectora's Retry-After.

    ``base * 2**(attempt-1)``, capped at ``cap``, drawn uniformly from its upper
    half (so retries of many runs spread out), and never below ``Retry-After``
    (itself capped).
    """
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = random.uniform(delay / 2, delay)
    if retry_after:
        delay = max(delay, min(retry_after, cap))
    return delay
