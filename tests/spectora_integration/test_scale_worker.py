"""Sync at scale through a real worker: a click and another company's runs never queue
behind a backlog that is waiting for its own rate limit (docs/performance.md)."""

import time

import pytest

from spectora_integration.models import RunState, SpectoraLink, SyncRun, SyncState, Trigger
from spectora_integration.sync import runs
from tests.factories import CompanyFactory
from tests.spectora_fixtures import connect_company
from tests.spectora_integration.test_sync import book
from tests.worker import WorkerProcess, unique_queue, wait_for
from workorders.models import Workorder

pytestmark = [
    pytest.mark.worker,
    pytest.mark.xdist_group("worker"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_auto_sync_on_booking"),
]

BACKLOG = 30
SLOW_RATE = 4  # 30 re-syncs of 2 calls each: 15 s of the company's budget


def settle(workorders, timeout=120):
    def done():
        return not SyncRun.objects.filter(
            workorder__in=workorders, state__in=[RunState.QUEUED, RunState.RUNNING]).exists()
    wait_for(done, timeout=timeout, interval=0.2)


def synced_once(wired, count, prefix):
    """``count`` workorders synced at full speed, then changed: each re-sync is 2 calls."""
    batch = [book(wired, address=f"{n} {prefix} St") for n in range(count)]
    for wo in batch:
        runs.sync_request(wo, None, trigger=Trigger.DRIFT)
    settle(batch)
    assert SpectoraLink.objects.filter(workorder__in=batch,
                                       sync_state=SyncState.SYNCED).count() == count
    Workorder.objects.filter(pk__in=[wo.pk for wo in batch]).update(notes="bulk change")
    return batch


def slow_backlog(wired, batch):
    wired.connection.rate_limit_per_second = SLOW_RATE
    wired.connection.save(update_fields=["rate_limit_per_second"])
    for wo in batch:
        runs.sync_request(wo, None, trigger=Trigger.DRIFT)
    time.sleep(1.0)  # the backlog is under way


def waiting(batch) -> int:
    return SyncRun.objects.filter(workorder__in=batch, state=RunState.QUEUED).count()


def test_a_click_behind_a_backlog_of_background_runs_lands_in_seconds(
        celery_worker_process, company, sandbox):
    wired = connect_company(company, sandbox)
    *backlog, clicked = synced_once(wired, BACKLOG + 1, "Backlog")
    slow_backlog(wired, backlog)

    started = time.monotonic()
    runs.sync_request(clicked, None, trigger=Trigger.MANUAL)
    wait_for(SpectoraLink.objects.filter(workorder=clicked, sync_state=SyncState.SYNCED).exists,
             timeout=60, interval=0.05)
    elapsed = time.monotonic() - started
    # In line behind the backlog the click would wait ~15 s at 4 calls a second.
    assert elapsed < 5.0, elapsed
    assert waiting(backlog) > BACKLOG // 3  # it did not wait for the backlog to drain
    settle(backlog)
    assert not SyncRun.objects.filter(state=RunState.FAILED).exists()


def resync_seconds(batch) -> float:
    Workorder.objects.filter(pk__in=[wo.pk for wo in batch]).update(notes=f"{time.time()}")
    started = time.monotonic()
    for wo in batch:  # automatic runs, on the same background lane as the backlog
        runs.sync_request(wo, None, trigger=Trigger.DRIFT)
    settle(batch, timeout=60)
    return time.monotonic() - started


def test_another_company_s_background_runs_pass_a_backlog_waiting_for_its_rate(
        celery_worker_process, company, sandbox):
    slow = connect_company(company, sandbox)
    other = connect_company(CompanyFactory(slug="other-co"), sandbox)
    backlog = synced_once(slow, BACKLOG, "Slow")
    theirs = synced_once(other, 6, "Other")
    idle = resync_seconds(theirs)
    slow_backlog(slow, backlog)

    contended = resync_seconds(theirs)
    # In line behind the backlog they would wait ~15 s; beside it, about as long as idle.
    assert contended < max(2 * idle, idle + 1.5), (idle, contended)
    assert waiting(backlog) > BACKLOG // 3
    settle(backlog)
    assert not SyncRun.objects.filter(state=RunState.FAILED).exists()


def test_the_procfile_s_lanes_a_person_s_sync_never_waits_for_the_background_worker(
        company, sandbox, settings):
    """The Procfile runs a worker per lane: the first lane's serves people (and every other
    task) even when the background worker is busy or gone, and the background lane's runs
    wait for their own worker, never for the first lane's."""
    queue = unique_queue("lanes")
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    wired = connect_company(company, sandbox)
    automatic, clicked = book(wired, address="1 Auto St"), book(wired, address="2 Click St")
    first = WorkerProcess(queue, concurrency=1, lane="first").start()
    background = WorkerProcess(queue, concurrency=1, lane="background")
    try:
        auto_run = runs.sync_request(automatic, None, trigger=Trigger.DRIFT)
        runs.sync_request(clicked, None, trigger=Trigger.MANUAL)
        wait_for(SpectoraLink.objects.filter(workorder=clicked,
                                             sync_state=SyncState.SYNCED).exists, timeout=60)
        time.sleep(1.0)  # the first lane's worker had time to take the other, and did not
        auto_run.refresh_from_db()
        assert (auto_run.state, auto_run.attempts) == (RunState.QUEUED, 0)
        background.start()
        wait_for(SpectoraLink.objects.filter(workorder=automatic,
                                             sync_state=SyncState.SYNCED).exists, timeout=60)
    finally:
        first.stop()
        background.stop()
