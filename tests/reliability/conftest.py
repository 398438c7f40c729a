"""Real workers with short timeouts, a sweeper standing in for beat, and the checks
every reliability test ends with: Spectora equals Attik, nothing duplicated."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from spectora_integration.models import RunState, SyncRun
from spectora_integration.sync import runs
from spectora_integration.sync.planner import external_ref_for
from tests.worker import WorkerProcess, unique_queue

# What the workers and the test process use here: quick timeouts, quick backoff, a
# short lease, and a sweeper that re-enqueues after a few seconds.
FAST = {
    "SPECTORA_READ_TIMEOUT_SECONDS": "0.5",
    "SPECTORA_BACKOFF_BASE_SECONDS": "0.2",
    "SPECTORA_SYNC_LEASE_SECONDS": "25",
    "SPECTORA_SWEEP_AFTER_SECONDS": "3",
    "SPECTORA_PROBE_BASE_SECONDS": "0.5",
    "SPECTORA_PROBE_CAP_SECONDS": "2",
    "LOG_LEVEL": "WARNING",
}


@pytest.fixture
def fast(settings, monkeypatch):
    settings.SPECTORA_READ_TIMEOUT_SECONDS = 0.5
    settings.SPECTORA_PROBE_BASE_SECONDS = 0.5
    settings.SPECTORA_PROBE_CAP_SECONDS = 2
    monkeypatch.setattr(runs, "BACKOFF_BASE_SECONDS", 0.2)
    monkeypatch.setattr(runs, "LEASE_SECONDS", 25)
    monkeypatch.setattr(runs, "SWEEP_AFTER_SECONDS", 3)


@pytest.fixture
def workers(fast):
    """Start ``n`` real worker processes on a queue of this test's own."""
    started: list[WorkerProcess] = []
    original = django_settings.CELERY_TASK_DEFAULT_QUEUE
    queue = unique_queue("rel")
    django_settings.CELERY_TASK_DEFAULT_QUEUE = queue

    def start(n: int = 2, concurrency: int = 2) -> list[WorkerProcess]:
        for _ in range(n):
            started.append(WorkerProcess(queue, concurrency, extra_env=FAST).start())
        return started

    yield start
    for worker in started:
        worker.stop()
    django_settings.CELERY_TASK_DEFAULT_QUEUE = original


def settle(timeout: float = 600, sweep_every: float = 2.0) -> None:
    """Wait until no run is queued or running, sweeping like beat would."""
    deadline = time.monotonic() + timeout
    last_sweep = 0.0
    while time.monotonic() < deadline:
        if not SyncRun.objects.filter(state__in=[RunState.QUEUED, RunState.RUNNING]).exists():
            return
        if time.monotonic() - last_sweep > sweep_every:
            runs.sweep_outbox()
            last_sweep = time.monotonic()
        time.sleep(0.2)
    stuck = list(SyncRun.objects.filter(state__in=[RunState.QUEUED, RunState.RUNNING])
                 .values_list("id", "state", "reason")[:10])
    raise AssertionError(f"runs did not settle in {timeout}s: {stuck}")


def retry_failed_until_clean(rounds: int = 5, timeout: float = 600) -> int:
    """What an admin does on the Failed syncs page: retry all, until nothing fails."""
    retried = 0
    for _ in range(rounds):
        failed = SyncRun.objects.filter(state=RunState.FAILED, dismissed_at__isnull=True)
        if not failed.exists():
            return retried
        retried += runs.sync_retry(failed, None)
        settle(timeout)
    assert not SyncRun.objects.filter(state=RunState.FAILED, dismissed_at__isnull=True).exists()
    return retried


def assert_spectora_equals_attik(wired, workorders) -> None:
    """One job per workorder, each equal to Attik's, no duplicate child anywhere."""
    jobs = wired.state()
    refs = Counter(job["external_ref"] for job in jobs)
    assert [ref for ref, n in refs.items() if n > 1] == [], "duplicate inspections"
    by_ref = {job["external_ref"]: job for job in jobs}
    problems = []
    for wo in workorders:
        wo.refresh_from_db()
        job = by_ref.get(external_ref_for(wo))
        if job is None:
            problems.append(f"{wo}: no Spectora job")
            continue
        assignees = sorted((a.employee.spectora_inspector_id, a.primary)
                           for a in wo.assignments.select_related("employee"))
        if sorted((a["inspector_id"], a["primary"]) for a in job["assignments"]) != assignees:
            problems.append(f"{wo}: assignments {job['assignments']} != {assignees}")
        items = sorted((li.service.spectora_service_id, li.price_cents, li.quantity)
                       for li in wo.line_items.select_related("service"))
        got = sorted((i["service_id"], i["price_cents"], i["quantity"]) for i in job["line_items"])
        if got != items:
            problems.append(f"{wo}: line items {got} != {items}")
        templates = [r["template_id"] for r in job["reports"]]
        if len(templates) != len(set(templates)):
            problems.append(f"{wo}: duplicate reports {templates}")
        if job["notes"] != wo.notes:
            problems.append(f"{wo}: notes {job['notes']!r} != {wo.notes!r}")
        if bool(job["canceled_at"]) != wo.is_cancelled:
            problems.append(f"{wo}: canceled_at {job['canceled_at']} but status {wo.status}")
    assert problems == [], problems[:20]


def every_run_finished_visibly() -> None:
    runs = SyncRun.objects.all()
    assert not runs.filter(state__in=[RunState.QUEUED, RunState.RUNNING]).exists()
    assert not runs.filter(state=RunState.FAILED, reason="").exists()


def recent(seconds: int = 3600):
    return timezone.now() - timedelta(seconds=seconds)


SOAK_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "reliability.json"


def record(test: str, **figures) -> None:
    """Keep what a soak run survived (faults fired, retries, runs) for docs/reliability.md."""
    from django.conf import settings

    data = json.loads(SOAK_RESULTS.read_text()) if SOAK_RESULTS.exists() else {}
    data[test] = {
        "at": timezone.now().isoformat(timespec="seconds"),
        "database": connection.vendor,
        "broker": settings.CELERY_BROKER_URL.split(":", 1)[0],
        **figures,
    }
    SOAK_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    SOAK_RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def run_figures() -> dict:
    runs = SyncRun.objects.all()
    return {
        "runs": runs.count(),
        "runs_succeeded": runs.filter(state=RunState.SUCCEEDED).count(),
        "runs_failed_then_retried": runs.filter(state=RunState.FAILED).count(),
        "attempts": sum(runs.values_list("attempts", flat=True)),
        "rate_limit_deferrals": sum(runs.values_list("deferrals", flat=True)),
    }
