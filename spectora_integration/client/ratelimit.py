"""A per-connection pace shared by every process that calls Spectora.

Calls take slots ``1/rate`` seconds apart. The slot pointer lives in Redis when the
broker is Redis (one atomic Lua script), else in the database (a row lock), never
in process memory, so any number of workers together stay under the connection's
limit.

Waiting never holds a worker for long (docs/performance.md):

- A run is *admitted* by its first call only if that call's slot is near: within
  ``URGENT_ADMIT_SECONDS`` for a run a person asked for, ``BACKGROUND_ADMIT_SECONDS``
  for automatic, drift and bulk runs. Otherwise nothing is booked and ``RateLimited``
  says when the budget frees up (``retry_after``); the engine sends the run back to
  the queue with that countdown, without using an attempt, and the worker takes the
  next message (perhaps another company's). Background runs therefore never book
  more than a few hundred ms ahead, and a person's click always finds a slot within
  half a second even behind a backlog of thousands.
- An admitted run books its plan's slots at once (``reserve``): one limiter round
  trip for the whole plan, and its remaining calls only wait for their own pace.

Why not pyrate-limiter: it answers "may I call now?" (or blocks the thread until
it may), while the engine needs "when is my slot?" without blocking, so that it can
hand the run back with an exact countdown; it needs the booking of several slots in
one atomic step, and a database bucket that works with SQLite's and PostgreSQL's row
locks inside Django's transactions. Those three are the whole of this module.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque

from django.apps import apps
from django.conf import settings
from django.db import transaction

from spectora_integration.client.errors import RateLimited

URGENT_ADMIT_SECONDS = 0.5
BACKGROUND_ADMIT_SECONDS = 0.25
# An admitted run's later calls (outside its reservation) wait at most this long.
MAX_WAIT_SECONDS = 3.0


class _Limiter(ABC):
    def __init__(self, key: str, per_second: float, max_wait: float = MAX_WAIT_SECONDS,
                 admit_wait: float | None = None):
        self.key = key
        self.interval = 1.0 / max(per_second, 0.001)
        self.max_wait = max_wait
        self.admit_wait = max_wait if admit_wait is None else admit_wait
        self.admitted = False
        self._booked: deque[float] = deque()

    def acquire(self) -> None:
        """Wait for this call's slot: a booked one, or the next free one."""
        start = self._booked.popleft() if self._booked else self._book(1)[0]
        wait = start - time.time()
        if wait > 0:
            time.sleep(wait)

    def reserve(self, count: int) -> None:
        """Book ``count`` more slots in one step, for the calls a plan is about to make."""
        count -= len(self._booked)
        if count > 0:
            self._booked.extend(self._book(count))

    def _book(self, count: int) -> list[float]:
        limit = self.max_wait if self.admitted else self.admit_wait
        now = time.time()
        ok, start = self._reserve(now, count, limit)
        if not ok:
            raise RateLimited(
                "Spectora's rate limit is fully booked for now; it will be retried.",
                code="rate_limited_locally", retry_after=max(0.0, start - now - limit),
            )
        self.admitted = True
        return [start + n * self.interval for n in range(count)]

    @abstractmethod
    def _reserve(self, now: float, count: int, limit: float) -> tuple[bool, float]:
        """Book ``count`` consecutive slots if the first is at most ``limit`` s away.

        Returns (booked, time of the first slot: booked or the next free one)."""


class DatabaseLimiter(_Limiter):
    """Must not run inside a longer transaction: the row lock would be held by it."""

    def _reserve(self, now: float, count: int, limit: float) -> tuple[bool, float]:
        # The table is looked up by name: the client sits below the integration's models.
        RateLimitSlot = apps.get_model("spectora_integration", "RateLimitSlot")
        with transaction.atomic():
            slot, _ = RateLimitSlot.objects.select_for_update().get_or_create(key=self.key)
            start = max(slot.next_at, now)
            if start - now > limit:
                return False, start
            slot.next_at = start + count * self.interval
            slot.save(update_fields=["next_at"])
        return True, start


_RESERVE_LUA = """
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local start = math.max(nxt, now)
if start - now > tonumber(ARGV[3]) then return {0, tostring(start)} end
redis.call('SET', KEYS[1], tostring(start + tonumber(ARGV[2]) * tonumber(ARGV[4])), 'EX', 3600)
return {1, tostring(start)}
"""


class RedisLimiter(_Limiter):
    _clients: dict[str, object] = {}

    def __init__(self, url: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import redis

        if url not in self._clients:
            self._clients[url] = redis.Redis.from_url(url, socket_timeout=5,
                                                      socket_connect_timeout=3)
        self.redis = self._clients[url]

    def _reserve(self, now: float, count: int, limit: float) -> tuple[bool, float]:
        booked, start = self.redis.eval(
            _RESERVE_LUA, 1, f"attik:ratelimit:{self.key}", repr(now), repr(self.interval),
            repr(limit), count,
        )
        return bool(int(booked)), float(start)


def limiter_for(connection, *, urgent: bool = True) -> _Limiter:
    key = f"spectora:{connection.pk}"
    per_second = connection.rate_limit_per_second or 10
    admit = URGENT_ADMIT_SECONDS if urgent else BACKGROUND_ADMIT_SECONDS
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        return RedisLimiter(broker, key, per_second, admit_wait=admit)
    return DatabaseLimiter(key, per_second, admit_wait=admit)
