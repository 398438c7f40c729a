"""A Spectora outage, and a Sync click cutting a retry's wait, through real workers.

Each test starts its own worker with the settings it needs (a scaled-down
probe interval, or a long backoff), on a queue of its own.
"""

import time

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from spectora_integration.models import (
    RunState,
    SpectoraConnection,
    SpectoraLink,
    SyncRun,
    SyncState,
)
from spectora_integration.sync import runs
from tests.factories import member
from tests.spectora_fixtures import connect_company
from tests.spectora_integration.test_sync import book
from tests.spectora_integration.test_sync_api import client_for
from tests.worker import WorkerProcess, unique_queue, wait_for
from workorders.models import Role

pytestmark = [
    pytest.mark.worker,
    pytest.mark.xdist_group("worker"),
    pytest.mark.django_db(transaction=True),
]

OUTAGE_SECONDS = 20
PAUSED_EMAIL = "Subject: Spectora is not answering"
RESUMED_EMAIL = "Subject: Spectora answers again"


@pytest.fixture
def start_worker():
    started, original = [], django_settings.CELERY_TASK_DEFAULT_QUEUE

    def start(**env) -> WorkerProcess:
        queue = unique_queue("outage")
        django_settings.CELERY_TASK_DEFAULT_QUEUE = queue
        worker = WorkerProcess(queue, extra_env={k: str(v) for k, v in env.items()})
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()
    django_settings.CELERY_TASK_DEFAULT_QUEUE = original


def finished(batch):
    done = list(SyncRun.objects.filter(workorder__in=batch).exclude(
        state__in=[RunState.QUEUED, RunState.RUNNING]))
    return done if len(done) == len(batch) else None


def test_an_outage_pauses_the_connection_and_the_runs_catch_up(start_worker, company, sandbox):
    member(company, Role.ADMIN, username="outage-admin", email="boss@example.com")
    worker = start_worker(SPECTORA_PROBE_BASE_SECONDS=1, SPECTORA_PROBE_CAP_SECONDS=4)
    wired = connect_company(company, sandbox, rate_limit=20)
    wired.faults({"method": "*", "path": "*", "mode": "error", "status": 503})
    outage_started = time.monotonic()
    batch = [book(wired) for _ in range(8)]
    for wo in batch:
        runs.sync_request(wo, None)

    conn = SpectoraConnection.objects.filter(pk=wired.connection.pk)
    wait_for(lambda: conn.get().is_paused, timeout=15)
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
    assert not SyncRun.objects.filter(workorder__in=batch, state=RunState.FAILED).exists()
    assert conn.get().is_paused
    during_outage = len(wired.requests_log())
    wired.faults()  # Spectora answers again
    answered_at = time.monotonic()

    done = wait_for(lambda: finished(batch), timeout=60, interval=0.2)
    caught_up = time.monotonic() - answered_at
    assert {r.state for r in done} == {RunState.SUCCEEDED}, [(r.state, r.reason) for r in done]
    assert all(r.attempts <= 2 for r in done), [r.attempts for r in done]
    assert during_outage <= 30, during_outage
    assert caught_up < 15, caught_up  # the probe interval is capped at 4 s here
    assert not conn.get().is_paused
    assert len(wired.state()) == 8
    assert set(SpectoraLink.objects.filter(workorder__in=batch)
               .values_list("sync_state", flat=True)) == {SyncState.SYNCED}
    log = worker.log_path.read_text()
    assert (log.count(PAUSED_EMAIL), log.count(RESUMED_EMAIL)) == (1, 1)
    print(f"outage {OUTAGE_SECONDS} s: {during_outage} calls reached Spectora, all 8 synced "
          f"{caught_up:.1f} s after it answered")

    # A refused key is not an outage: it still fails at once, with its own message.
    wired.connection.set_api_key("a-wrong-key-123")
    wired.connection.save()
    wo = book(wired)
    runs.sync_request(wo, None)
    (run,) = wait_for(lambda: finished([wo]), timeout=30, interval=0.2)
    assert (run.state, run.attempts) == (RunState.FAILED, 1)
    assert "refused the API key" in run.reason
    assert not conn.get().is_paused


def test_a_sync_click_lands_a_waiting_retry_at_once(start_worker, company, sandbox,
                                                    office_user):
    start_worker(SPECTORA_BACKOFF_BASE_SECONDS=300, SPECTORA_BREAKER_FAILURES=1000)
    wired = connect_company(company, sandbox)
    wo = book(wired)
    wired.faults({"method": "POST", "path": "/v2/inspections", "mode": "error", "status": 503,
                  "times": 1})
    runs.sync_request(wo, None)
    run = wait_for(lambda: SyncRun.objects.filter(
        workorder=wo, state=RunState.QUEUED, attempts=1).first(), timeout=30)
    assert run.next_attempt_at > timezone.now() + timezone.timedelta(seconds=60)

    clicked = time.monotonic()
    response = client_for(office_user).post(f"/api/v1/workorders/{wo.pk}/spectora/sync/",
                                            {"force": False}, format="json")
    assert response.status_code == 202
    assert response.json()["sync_run"]["id"] == run.pk
    synced = SpectoraLink.objects.filter(workorder=wo, sync_state=SyncState.SYNCED)
    wait_for(synced.exists, timeout=30)
    assert time.monotonic() - clicked < 15
    run.refresh_from_db()
    assert (run.state, run.attempts) == (RunState.SUCCEEDED, 2)
    assert len(wired.state()) == 1
