"""What the sync survives, with real workers and the sandbox over HTTP.

The long runs are marked ``soak`` (``bin/test --full`` runs them, one at a time,
after the main suite); ``ATTIK_SOAK_WORKORDERS`` scales them.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from datetime import datetime

import pytest

from spectora_integration.models import RunState, SyncRun
from spectora_integration.sync import runs
from tests.factories import EmployeeFactory
from tests.reliability.conftest import (
    assert_spectora_equals_attik,
    every_run_finished_visibly,
    record,
    retry_failed_until_clean,
    run_figures,
    settle,
)
from tests.spectora_fixtures import connect_company
from tests.spectora_integration.test_sync import book
from workorders.services import AssigneeInput

WORKORDERS = int(os.environ.get("ATTIK_SOAK_WORKORDERS", "1000"))

pytestmark = [
    pytest.mark.timeout(2400),  # soak runs are long by design; each is bounded inside
    pytest.mark.worker,
    pytest.mark.xdist_group("worker"),
    pytest.mark.django_db(transaction=True),
]


def faults_on_every_write_path(error=0.30, timeout=0.10, applied=0.05, seed=11) -> dict:
    """Per write: ``error`` 5xx, ``timeout`` timeouts, ``applied`` applied-then-error.

    Rules are tried in order and the first that fires wins, so each later rate
    is conditioned on the earlier ones not firing.
    """
    rules = []
    for method in ("POST", "PATCH", "DELETE"):
        rules += [
            {"method": method, "path": "/v2/*", "mode": "error", "status": 503, "rate": error},
            {"method": method, "path": "/v2/*", "mode": "timeout", "delay_ms": 800,
             "rate": timeout / (1 - error)},
            {"method": method, "path": "/v2/*", "mode": "applied_then_error", "status": 502,
             "rate": applied / (1 - error - timeout)},
        ]
    return {"rules": rules, "seed": seed}


def test_a_poison_workorder_fails_once_and_does_not_block_the_queue(workers, company, sandbox):
    wired = connect_company(company, sandbox)
    workers(1)
    ghost = EmployeeFactory(company=company, name="Ghost", spectora_inspector_id="insp-999")
    poison = book(wired, inspectors=[ghost])
    healthy = [book(wired) for _ in range(5)]
    runs.sync_request(poison, None)
    for wo in healthy:
        runs.sync_request(wo, None)
    settle(120)
    run = SyncRun.objects.get(workorder=poison)
    assert (run.state, run.attempts) == (RunState.FAILED, 1)
    assert "insp-999" in run.reason or "inspector" in run.reason.lower()
    assert all(SyncRun.objects.get(workorder=wo).state == RunState.SUCCEEDED for wo in healthy)
    assert_spectora_equals_attik(wired, healthy)


@pytest.mark.soak
def test_syncs_survive_5xx_timeouts_and_applied_then_error_with_two_workers(
    workers, company, sandbox
):
    wired = connect_company(company, sandbox)
    batch = [book(wired) for _ in range(WORKORDERS)]
    workers(2)
    wired.control("faults", faults_on_every_write_path())
    started = time.monotonic()
    for wo in batch:
        runs.sync_request(wo, None)
    settle(1800)
    every_run_finished_visibly()
    failed_first_pass = SyncRun.objects.filter(state=RunState.FAILED).count()
    fired = Counter(r["fault"] for r in wired.requests_log() if r.get("fault"))
    assert fired["error"] and fired["timeout"] and fired["applied_then_error"], fired
    retried = retry_failed_until_clean(rounds=10, timeout=1800)
    assert_spectora_equals_attik(wired, batch)
    record("fault_storm", workorders=len(batch), workers=2, calls=len(wired.requests_log()),
           faults_fired=dict(fired), failed_after_first_pass=failed_first_pass,
           retried_by_admin=retried, seconds=round(time.monotonic() - started),
           duplicates=0, **run_figures())


@pytest.mark.soak
def test_a_worker_killed_mid_sync_loses_nothing_and_applies_nothing_twice(
    workers, company, sandbox
):
    wired = connect_company(company, sandbox)
    count = min(WORKORDERS, 200)
    batch = [book(wired) for _ in range(count)]
    pool = workers(2)
    stop = threading.Event()
    kills = []

    def killer():
        rng = random.Random(5)
        while not stop.is_set() and len(kills) < 6:
            time.sleep(rng.uniform(0.5, 1.5))
            victim = rng.choice(pool)
            victim.kill()
            kills.append(time.monotonic())
            victim.start()

    thread = threading.Thread(target=killer)
    thread.start()
    for wo in batch:
        runs.sync_request(wo, None)
    time.sleep(3)
    stop.set()
    thread.join()
    assert len(kills) >= 2
    settle(600)
    every_run_finished_visibly()
    retried = retry_failed_until_clean()
    assert_spectora_equals_attik(wired, batch)
    record("worker_sigkill", workorders=len(batch), kills=len(kills), retried_by_admin=retried,
           duplicates=0, **run_figures())


@pytest.mark.soak
def test_a_429_storm_fails_nothing_and_stays_under_the_limit(workers, company, sandbox):
    wired = connect_company(company, sandbox)
    count = min(WORKORDERS, 500)
    batch = [book(wired) for _ in range(count)]
    workers(2)
    for wo in batch:  # create at full speed first
        runs.sync_request(wo, None)
    settle(900)
    rate = 10
    wired.connection.rate_limit_per_second = rate
    wired.connection.save()
    wired.control("rate_limit", {"per_second": rate, "burst": rate})
    mark = len(wired.requests_log())
    for n, wo in enumerate(batch):
        wo.notes = f"storm {n}"
        wo.save(update_fields=["notes"])
        runs.sync_request(wo, None)
    started = time.monotonic()
    settle(900)
    seconds = time.monotonic() - started
    wired.control("rate_limit", {"per_second": None})
    assert not SyncRun.objects.filter(state=RunState.FAILED).exists()
    log = wired.requests_log()[mark:]
    accepted = [r for r in log if r["status"] != 429]
    per_second = Counter(int(datetime.fromisoformat(r["at"]).timestamp()) for r in accepted)
    assert max(per_second.values()) <= 2 * rate  # the limit plus the burst
    assert_spectora_equals_attik(wired, batch)
    record("rate_limit_storm", workorders=len(batch), limit_per_second=rate,
           calls=len(log), answers_429=len(log) - len(accepted),
           busiest_second=max(per_second.values()), seconds=round(seconds),
           minimum_seconds=round(len(accepted) / rate), failed_runs=0, **run_figures())


def test_reassignments_under_faults_keep_spectora_equal(workers, company, sandbox):
    wired = connect_company(company, sandbox)
    batch = [book(wired) for _ in range(10)]
    workers(1)
    for wo in batch:
        runs.sync_request(wo, None)
    settle(120)
    wired.control("faults", faults_on_every_write_path(error=0.2, timeout=0.05, applied=0.05))
    rng = random.Random(3)
    from workorders.services import workorder_update

    for _ in range(3):
        for wo in batch:
            wo.refresh_from_db()
            team = rng.sample(wired.inspectors, k=rng.randint(1, 3))
            workorder_update(wo, user=None, values={}, expected_version=None,
                             assignees=[AssigneeInput(e, i == 0) for i, e in enumerate(team)])
        settle(300)
    retry_failed_until_clean()
    assert_spectora_equals_attik(wired, batch)
