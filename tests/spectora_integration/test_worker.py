"""Syncs through a real Celery worker process, the broker and the sandbox over HTTP."""

import threading

import pytest
from django.db import connection as db_connection

from spectora_integration.models import RunState, SpectoraLink, SyncRun, SyncState
from spectora_integration.sync import runs
from tests.spectora_fixtures import connect_company
from tests.spectora_integration.test_sync import book
from tests.worker import wait_for
from workorders.services import AssigneeInput, workorder_cancel, workorder_update

pytestmark = [
    pytest.mark.worker,
    pytest.mark.xdist_group("worker"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_auto_sync_on_booking"),  # counts the clicks' own runs
]


def settled(workorder, state=RunState.SUCCEEDED):
    def check():
        runs = list(SyncRun.objects.filter(workorder=workorder))
        if runs and all(r.state in (RunState.SUCCEEDED, RunState.FAILED, RunState.SKIPPED)
                        for r in runs):
            return runs
        return None

    runs = wait_for(check, timeout=60)
    assert {r.state for r in runs} == {state}, [(r.state, r.reason) for r in runs]
    return runs


def test_a_sync_request_is_carried_out_by_the_worker(celery_worker_process, company, sandbox,
                                                     office_user):
    wired = connect_company(company, sandbox)
    wo = book(wired)
    runs.sync_request(wo, office_user)
    settled(wo)
    link = SpectoraLink.objects.get(workorder=wo)
    assert link.sync_state == SyncState.SYNCED
    assert [job["id"] for job in wired.state()] == [link.remote_id]


def test_fifty_concurrent_clicks_make_one_job(celery_worker_process, company, sandbox):
    wired = connect_company(company, sandbox)
    wo = book(wired)

    def click():
        try:
            runs.sync_request(wo, None)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=click) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = settled(wo)
    # Clicks that land while a run is queued join it; the worker may already have
    # started one, and later clicks queue the next. Every click is accounted for.
    assert sum(len(r.requesters) for r in done) == 50
    assert len(done) < 50
    assert len(wired.state()) == 1


def test_transient_faults_are_retried_by_the_worker(celery_worker_process, company, sandbox):
    wired = connect_company(company, sandbox)
    wo = book(wired)
    wired.faults({"method": "POST", "path": "/v2/inspections*", "mode": "error", "status": 503,
                  "times": 2})
    runs.sync_request(wo, None)
    (run,) = settled(wo)
    assert run.attempts == 3
    assert len(wired.state()) == 1


def test_edits_and_cancel_follow_through_the_worker(celery_worker_process, company, sandbox,
                                                    office_user):
    wired = connect_company(company, sandbox)
    wo = book(wired)
    runs.sync_request(wo, office_user)
    settled(wo)
    workorder_update(wo, user=office_user, values={}, expected_version=None,
                     assignees=[AssigneeInput(wired.inspectors[3], True)])
    wait_for(lambda: [a["inspector_id"] for a in wired.state()[0]["assignments"]] == ["insp-4"])
    workorder_cancel(wo, user=office_user, reason="Buyer walked")
    wait_for(lambda: wired.state()[0]["canceled_at"])
    assert wired.state()[0]["cancel_reason"] == "Buyer walked"


def test_every_task_can_be_queued_with_its_time_limits():
    """A soft limit above the hard one makes Celery refuse the task when it is sent."""
    from attik.celery import app

    for name, task in app.tasks.items():
        if name.startswith("spectora."):
            soft = task.soft_time_limit or app.conf.task_soft_time_limit
            hard = task.time_limit or app.conf.task_time_limit
            assert soft is None or hard is None or soft <= hard, name
