"""Sync at scale: a person's Sync goes first, and waiting for the rate never holds a worker.

Lanes: a run a person asked for is sent to the workers' first queue, automatic, drift
and bulk runs to the background queue (settings.CELERY_TASK_QUEUES). The rate limiter
admits a run only when its first slot is near (client/ratelimit.py); otherwise the run
goes back to the queue with a countdown and no attempt used.
"""

import time

import pytest
from django.utils import timezone

from spectora_integration.client import ratelimit
from spectora_integration.models import (
    RateLimitSlot,
    RunKind,
    RunState,
    SpectoraLink,
    SyncRun,
    SyncState,
    Trigger,
)
from spectora_integration.sync import engine, runs
from tests.spectora_integration.test_sync import book

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_auto_sync_on_booking")]


def lanes(queued, run):
    return [lane for run_id, lane in queued["lanes"] if run_id == run.pk]


@pytest.mark.parametrize(("trigger", "lane"), [
    (Trigger.MANUAL, "first"), (Trigger.API, "first"), (Trigger.ADMIN, "first"),
    (Trigger.RETRY, "first"), (Trigger.AUTO, "background"), (Trigger.DRIFT, "background"),
    ("bulk", "background"),
])
def test_a_person_s_sync_takes_the_first_lane_and_others_the_background(
        spectora, queued, trigger, lane, django_capture_on_commit_callbacks):
    wo = book(spectora)
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.sync_request(wo, None, trigger=trigger)
    assert lanes(queued, run) == [lane]


def test_a_cancel_takes_the_first_lane(spectora, queued, django_capture_on_commit_callbacks):
    wo = book(spectora)
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.sync_request(wo, None, trigger=Trigger.CANCEL, kind=RunKind.CANCEL)
    assert lanes(queued, run) == ["first"]


def test_a_click_joining_a_background_run_sends_it_on_the_first_lane(
        spectora, queued, django_capture_on_commit_callbacks):
    wo = book(spectora)
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.sync_request(wo, None, trigger=Trigger.DRIFT)
    with django_capture_on_commit_callbacks(execute=True):
        joined = runs.sync_request(wo, None, trigger=Trigger.MANUAL)
    assert joined.pk == run.pk
    assert lanes(queued, run) == ["background", "first"]
    with django_capture_on_commit_callbacks(execute=True):
        runs.sync_request(wo, None, trigger=Trigger.API)  # already first: not sent again
    assert lanes(queued, run) == ["background", "first"]
    assert engine.sync_execute(run.pk) == RunState.SUCCEEDED
    assert engine.sync_execute(run.pk) == "not_claimed"  # the background message, later


@pytest.fixture
def sleeps(monkeypatch):
    slept = []
    monkeypatch.setattr(ratelimit.time, "sleep", slept.append)
    return slept


def budget_spent_for(wired, seconds: float) -> None:
    """Other runs of the company have booked its rate budget ``seconds`` ahead (in the
    store the connection's limiter uses: Redis with a Redis broker, else the database)."""
    limiter = ratelimit.limiter_for(wired.connection)
    if isinstance(limiter, ratelimit.RedisLimiter):
        limiter.redis.set(f"attik:ratelimit:{limiter.key}", repr(time.time() + seconds),
                          ex=3600)
        BOOKED_IN_REDIS.append(limiter)
    else:
        RateLimitSlot.objects.update_or_create(
            key=limiter.key, defaults={"next_at": time.time() + seconds})


def budget_free(wired) -> None:
    budget_spent_for(wired, -1.0)


BOOKED_IN_REDIS: list = []


@pytest.fixture(autouse=True)
def no_budget_left_behind():
    """A Redis booking outlives the test's database: clear it for the next test."""
    yield
    while BOOKED_IN_REDIS:
        limiter = BOOKED_IN_REDIS.pop()
        limiter.redis.delete(f"attik:ratelimit:{limiter.key}")


def test_a_background_run_whose_budget_is_spent_goes_back_without_holding_the_worker(
        spectora, queued, sleeps):
    wo = book(spectora)
    run = runs.sync_request(wo, None, trigger=Trigger.DRIFT)
    budget_spent_for(spectora, 5.0)
    calls_before = len(spectora.requests_log())
    started = time.monotonic()
    assert engine.sync_execute(run.pk) == "deferred"
    assert time.monotonic() - started < 1.0
    assert not [s for s in sleeps if s > ratelimit.BACKGROUND_ADMIT_SECONDS]
    assert len(spectora.requests_log()) == calls_before  # nothing reached Spectora
    run.refresh_from_db()
    assert (run.state, run.attempts, run.deferrals) == (RunState.QUEUED, 0, 0)
    # Back when the budget has room, not before (no busy loop through the queue).
    assert run.next_attempt_at >= timezone.now() + timezone.timedelta(seconds=4)
    assert lanes(queued, run) == ["background"]
    link = SpectoraLink.objects.get(workorder=wo)
    assert (link.sync_state, link.last_error) == (SyncState.QUEUED, "")


def test_a_person_s_run_behind_the_same_backlog_is_admitted(spectora, queued, sleeps):
    wo = book(spectora)
    run = runs.sync_request(wo, None, trigger=Trigger.MANUAL)
    budget_spent_for(spectora, ratelimit.BACKGROUND_ADMIT_SECONDS + 0.15)
    assert engine.sync_execute(run.pk) == RunState.SUCCEEDED
    assert max(sleeps) <= ratelimit.URGENT_ADMIT_SECONDS


def test_a_person_s_run_refused_comes_back_as_soon_as_its_slot_is_near(spectora, queued,
                                                                        sleeps):
    wo = book(spectora)
    run = runs.sync_request(wo, None, trigger=Trigger.MANUAL)
    budget_spent_for(spectora, 3.0)
    assert engine.sync_execute(run.pk) == "deferred"
    run.refresh_from_db()
    due_in = (run.next_attempt_at - timezone.now()).total_seconds()
    assert 3.0 - ratelimit.URGENT_ADMIT_SECONDS - 0.5 < due_in < 3.0
    assert lanes(queued, run) == ["first"]  # sent back on its own lane


def test_waiting_for_the_own_rate_never_uses_up_the_deferrals(spectora, queued, sleeps):
    """A backlog of thousands may send a run back many times: it never fails for that."""
    wo = book(spectora)
    run = runs.sync_request(wo, None, trigger=Trigger.DRIFT)
    for _ in range(runs.MAX_RATE_LIMIT_DEFERRALS + 5):
        budget_spent_for(spectora, 5.0)
        SyncRun.objects.filter(pk=run.pk).update(next_attempt_at=None)
        assert engine.sync_execute(run.pk) == "deferred"
    budget_free(spectora)
    SyncRun.objects.filter(pk=run.pk).update(next_attempt_at=None)
    assert engine.sync_execute(run.pk) == RunState.SUCCEEDED
    run.refresh_from_db()
    assert (run.attempts, run.deferrals) == (1, 0)


def test_a_backlog_is_sent_spread_at_the_company_s_rate(spectora, queued,
                                                        django_capture_on_commit_callbacks):
    """A bulk re-sync never stands at the head of the queue: each run is due at its turn."""
    spectora.connection.rate_limit_per_second = 10
    spectora.connection.save()
    batch = [book(spectora, address=f"{n} Bulk St") for n in range(20)]
    with django_capture_on_commit_callbacks(execute=True):
        bulk = [runs.sync_request(wo, None, trigger="bulk") for wo in batch]
    due = [run.next_attempt_at for run in bulk]
    first_paced = next(n for n, at in enumerate(due) if at is not None)
    assert first_paced * runs.CALLS_PER_RUN / 10 > runs.PACE_FROM_SECONDS - 0.3
    paced = due[first_paced:]
    gaps = [(b - a).total_seconds() for a, b in zip(paced, paced[1:], strict=False)]
    # One slot apart (more only when booking one took longer than a slot on this machine).
    assert min(gaps) == pytest.approx(runs.CALLS_PER_RUN / 10, abs=0.01)
    assert sorted(gaps)[len(gaps) // 2] == pytest.approx(runs.CALLS_PER_RUN / 10, abs=0.01)
    assert all(lane == "background" for _, lane in queued["lanes"])
    # The sweeper leaves paced runs alone until they are due.
    assert runs.sweep_outbox(now=timezone.now() + timezone.timedelta(seconds=61)) < len(bulk)

    # A person's Sync on the last one runs it now, on the first lane.
    with django_capture_on_commit_callbacks(execute=True):
        runs.sync_request(batch[-1], None, trigger=Trigger.MANUAL)
    assert lanes(queued, bulk[-1]) == ["background", "first"]
    assert engine.sync_execute(bulk[-1].pk) == RunState.SUCCEEDED


def test_another_company_is_not_paced_by_a_backlog(spectora, queued):
    from tests.factories import CompanyFactory
    from tests.spectora_fixtures import connect_company

    for n in range(30):
        runs.sync_request(book(spectora, address=f"{n} Bulk St"), None, trigger="bulk")
    other = connect_company(CompanyFactory(slug="other-co"), spectora.sandbox)
    run = runs.sync_request(book(other), None, trigger=Trigger.AUTO)
    assert run.next_attempt_at is None
