"""The shared rate limiter, on its database slot (SQLite here), against a fake clock.

What is measured is the slot each call is handed, never wall time: the fake clock
records every sleep, so the tests take milliseconds and cannot flake on a busy machine.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from spectora_integration.client import ratelimit
from spectora_integration.client.errors import RateLimited, SpectoraError
from spectora_integration.client.ratelimit import (
    BACKGROUND_ADMIT_SECONDS,
    URGENT_ADMIT_SECONDS,
    DatabaseLimiter,
    RedisLimiter,
    limiter_for,
)
from spectora_integration.models import RateLimitSlot

pytestmark = pytest.mark.django_db

START = 1_800_000_000.0


class FakeClock:
    """Stands in for the ``time`` module inside ratelimit.py."""

    def __init__(self, now: float = START, *, sleeping_advances: bool = True):
        self.now = now
        self.sleeping_advances = sleeping_advances
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.sleeping_advances:
            self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


def next_at(key: str) -> float:
    return RateLimitSlot.objects.get(key=key).next_at


@pytest.mark.parametrize("rate", [1, 4, 20])
def test_calls_arriving_together_get_slots_one_interval_apart(clock, rate):
    """Ten workers call at the same instant: each waits one interval more than the last."""
    clock.sleeping_advances = False  # every call arrives at START
    limiter = DatabaseLimiter("spectora:1", per_second=rate, max_wait=60)
    for _ in range(10):
        limiter.acquire()
    # The first call goes at once (no sleep); then 1/r, 2/r, ... 9/r.
    assert clock.sleeps == pytest.approx([n / rate for n in range(1, 10)])
    assert next_at("spectora:1") == pytest.approx(START + 10 / rate)


def test_calls_in_a_row_go_out_one_interval_apart(clock):
    """One worker calling as fast as it can is let through at exactly r calls a second."""
    limiter = DatabaseLimiter("spectora:1", per_second=5, max_wait=60)
    released = []
    for _ in range(6):
        limiter.acquire()
        released.append(clock.now)
    gaps = [b - a for a, b in zip(released, released[1:], strict=False)]
    assert released[0] == START
    assert gaps == pytest.approx([0.2] * 5)


def test_a_slot_further_away_than_max_wait_raises_and_books_nothing(clock):
    clock.sleeping_advances = False
    limiter = DatabaseLimiter("spectora:1", per_second=1, max_wait=3)
    for _ in range(4):  # waits 0, 1, 2, 3: all within max_wait
        limiter.acquire()
    booked = next_at("spectora:1")
    assert booked == START + 4

    with pytest.raises(RateLimited) as raised:
        limiter.acquire()  # would wait 4 s > 3 s
    error = raised.value
    assert isinstance(error, SpectoraError) and not error.permanent
    assert error.retry_after == 1  # in 1 s the slot is within max_wait again
    assert error.code == "rate_limited_locally"
    assert next_at("spectora:1") == booked  # the refused call took no slot
    assert clock.sleeps == [1, 2, 3]  # and did not sleep

    clock.now = START + 2  # two slots have passed: it fits again
    limiter.acquire()
    assert clock.sleeps[-1] == pytest.approx(2)


def test_an_idle_limiter_does_not_bank_slots(clock):
    limiter = DatabaseLimiter("spectora:1", per_second=2, max_wait=60)
    limiter.acquire()
    clock.now += 100  # quiet for a while
    clock.sleeping_advances = False
    limiter.acquire()
    limiter.acquire()
    assert clock.sleeps == [pytest.approx(0.5)]  # no burst of 200 saved-up calls


def test_connections_are_paced_separately(clock):
    clock.sleeping_advances = False
    first = DatabaseLimiter("spectora:1", per_second=1, max_wait=60)
    second = DatabaseLimiter("spectora:2", per_second=1, max_wait=60)
    first.acquire()
    second.acquire()
    assert clock.sleeps == []


def test_two_limiters_on_one_key_share_its_pace(clock):
    """Two processes build their own limiter for one connection: the slot row is shared."""
    clock.sleeping_advances = False
    for _ in range(3):
        DatabaseLimiter("spectora:1", per_second=10, max_wait=60).acquire()
    assert clock.sleeps == pytest.approx([0.1, 0.2])


def test_the_connection_picks_the_pace_and_the_store(settings):
    connection = SimpleNamespace(pk=7, rate_limit_per_second=4)
    settings.CELERY_BROKER_URL = "filesystem://"
    limiter = limiter_for(connection)
    assert isinstance(limiter, DatabaseLimiter)
    assert (limiter.key, limiter.interval) == ("spectora:7", 0.25)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6399/0"  # never connected to here
    assert isinstance(limiter_for(connection), RedisLimiter)


# ---------------------------------------------------------------- admission

def book_ahead(key: str, seconds: float) -> None:
    """Other runs have booked the connection's budget ``seconds`` ahead."""
    RateLimitSlot.objects.update_or_create(key=key, defaults={"next_at": START + seconds})


def test_a_background_run_is_refused_at_once_when_its_slot_is_not_near(clock):
    """A worker never sleeps through a spent budget: the refusal says how long to wait."""
    book_ahead("spectora:1", 5.0)
    limiter = DatabaseLimiter("spectora:1", per_second=10,
                              admit_wait=BACKGROUND_ADMIT_SECONDS)
    with pytest.raises(RateLimited) as raised:
        limiter.acquire()
    assert clock.sleeps == []
    assert raised.value.retry_after == pytest.approx(5.0 - BACKGROUND_ADMIT_SECONDS)
    assert next_at("spectora:1") == START + 5.0


def test_a_person_is_admitted_where_a_background_run_is_not(clock):
    ahead = (BACKGROUND_ADMIT_SECONDS + URGENT_ADMIT_SECONDS) / 2
    book_ahead("spectora:1", ahead)
    background = DatabaseLimiter("spectora:1", per_second=10,
                                 admit_wait=BACKGROUND_ADMIT_SECONDS)
    with pytest.raises(RateLimited):
        background.acquire()
    urgent = DatabaseLimiter("spectora:1", per_second=10, admit_wait=URGENT_ADMIT_SECONDS)
    urgent.acquire()
    assert clock.sleeps == [pytest.approx(ahead)]


def test_an_admitted_run_books_its_plan_in_one_step(clock, django_assert_max_num_queries):
    clock.sleeping_advances = False
    limiter = DatabaseLimiter("spectora:1", per_second=10, admit_wait=BACKGROUND_ADMIT_SECONDS)
    limiter.reserve(1)  # admission
    limiter.reserve(5)  # the plan: 4 more slots
    assert next_at("spectora:1") == pytest.approx(START + 0.5)
    with django_assert_max_num_queries(0):  # the calls take their booked slots
        for _ in range(5):
            limiter.acquire()
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.3, 0.4])
    # Once admitted, a run's later calls wait up to max_wait (the plan is under way).
    book_ahead("spectora:1", 2.0)
    limiter.acquire()
    assert clock.sleeps[-1] == pytest.approx(2.0)


def test_the_connection_and_the_urgency_pick_the_admission(settings):
    connection = SimpleNamespace(pk=7, rate_limit_per_second=4)
    settings.CELERY_BROKER_URL = "filesystem://"
    assert limiter_for(connection).admit_wait == URGENT_ADMIT_SECONDS
    assert limiter_for(connection, urgent=False).admit_wait == BACKGROUND_ADMIT_SECONDS
