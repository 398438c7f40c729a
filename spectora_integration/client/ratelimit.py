"""A per-connection pace shared by every process that calls Spectora.

Each call reserves the next free slot (slots ``1/rate`` seconds apart) and
sleeps until it. The slot pointer lives in Redis when the broker is Redis
(one atomic Lua script), else in the database (a row lock), never in process
memory, so any number of workers together stay under the connection's limit.
A call that would wait longer than ``max_wait`` reserves nothing and raises a
transient error with ``retry_after`` so the task gives its worker back.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

from django.apps import apps
from django.conf import settings
from django.db import transaction

from spectora_integration.client.errors import RateLimited

MAX_WAIT_SECONDS = 10.0


class _Limiter(ABC):
    def __init__(self, key: str, per_second: float, max_wait: float = MAX_WAIT_SECONDS):
        self.key = key
        self.interval = 1.0 / max(per_second, 0.001)
        self.max_wait = max_wait

    def acquire(self) -> None:
        wait = self._reserve(time.time())
        if wait is None:
            raise RateLimited(
                "Spectora's rate limit is fully booked for now; it will be retried.",
                code="rate_limited_locally", retry_after=self.max_wait,
            )
        if wait > 0:
            time.sleep(wait)

    @abstractmethod
    def _reserve(self, now: float) -> float | None:
        """Book the next slot; seconds to wait for it, or None when too far away."""


class DatabaseLimiter(_Limiter):
    """Must not run inside a longer transaction: the row lock would be held by it."""

    def _reserve(self, now: float) -> float | None:
        # The table is looked up by name: the client sits below the integration's models.
        RateLimitSlot = apps.get_model("spectora_integration", "RateLimitSlot")
        with transaction.atomic():
            slot, _ = RateLimitSlot.objects.select_for_update().get_or_create(key=self.key)
            start = max(slot.next_at, now)
            wait = start - now
            if wait > self.max_wait:
                return None
            slot.next_at = start + self.interval
            slot.save(update_fields=["next_at"])
        return wait


_RESERVE_LUA = """
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local start = math.max(nxt, now)
if start - now > tonumber(ARGV[3]) then return '-1' end
redis.call('SET', KEYS[1], tostring(start + tonumber(ARGV[2])), 'EX', 3600)
return tostring(start - now)
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

    def _reserve(self, now: float) -> float | None:
        result = float(
            self.redis.eval(
                _RESERVE_LUA, 1, f"attik:ratelimit:{self.key}", now, self.interval, self.max_wait
            )
        )
        return None if result < 0 else result


def limiter_for(connection) -> _Limiter:
    key = f"spectora:{connection.pk}"
    per_second = connection.rate_limit_per_second or 10
    broker = settings.CELERY_BROKER_URL
    if broker.startswith(("redis://", "rediss://")):
        return RedisLimiter(broker, key, per_second)
    return DatabaseLimiter(key, per_second)
