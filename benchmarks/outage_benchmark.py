"""A Spectora outage at the product's settings, through a real worker and the sandbox.

    .venv/bin/python benchmarks/outage_benchmark.py [--outage 80] [--syncs 8]

Every call answers 503 for ``--outage`` seconds while ``--syncs`` new
workorders wait to be synced; then Spectora answers again. Reports the calls
that reached Spectora during the outage, the runs that failed, how long after
Spectora answered the last sync landed, and the admins' emails (one each way
is the goal). The circuit breaker's settings are the defaults (pause after 5
failures in a minute, probe after 10 s, each wait 1.5x the last, up to 5 min) unless the
SPECTORA_* environment variables say otherwise.

Prints the figures and writes benchmarks/results/outage_benchmark.json.
"""

from __future__ import annotations

import argparse
import time

from harness import setup_django, wait_until, write_result


def outage(wired, worker, seconds: float, syncs: int) -> dict:
    from spectora_integration.models import RunState, SpectoraConnection, SyncRun
    from spectora_integration.sync import runs
    from tests.spectora_integration.test_sync import book

    wired.faults({"method": "*", "path": "*", "mode": "error", "status": 503})
    started = time.monotonic()
    batch = [book(wired) for _ in range(syncs)]
    for wo in batch:
        runs.sync_request(wo, None)
    connection = SpectoraConnection.objects.filter(pk=wired.connection.pk)
    paused_after = None
    while time.monotonic() - started < seconds:
        if paused_after is None and connection.get().is_paused:
            paused_after = time.monotonic() - started
        time.sleep(0.2)
    during = wired.requests_log()
    failed_during = SyncRun.objects.filter(workorder__in=batch, state=RunState.FAILED).count()
    wired.faults()
    answered = time.monotonic()
    wait_until(lambda: not SyncRun.objects.filter(
        workorder__in=batch, state__in=[RunState.QUEUED, RunState.RUNNING]).exists(),
        timeout=900, interval=0.2)
    caught_up = time.monotonic() - answered
    done = SyncRun.objects.filter(workorder__in=batch)
    log = worker.log_path.read_text()
    return {
        "outage_seconds": seconds,
        "syncs": syncs,
        "paused_after_seconds": round(paused_after, 1) if paused_after is not None else None,
        "calls_during_outage": len(during),
        "probe_calls": sum(1 for r in during if r["path"] == "/v2/inspectors"),
        "failed_runs": failed_during + done.filter(state=RunState.FAILED).count(),
        "succeeded_runs": done.filter(state=RunState.SUCCEEDED).count(),
        "all_synced_seconds_after_spectora_answered": round(caught_up, 1),
        "jobs_in_spectora": len(wired.state()),
        "emails_paused": log.count("Subject: Spectora is not answering"),
        "emails_resumed": log.count("Subject: Spectora answers again"),
        "emails_failed": log.count("Subject: Spectora sync failed"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outage", type=float, default=80.0)
    parser.add_argument("--syncs", type=int, default=8)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings

    from spectora_sandbox import start_sandbox
    from tests.factories import CompanyFactory, member
    from tests.spectora_fixtures import connect_company
    from tests.worker import WorkerProcess, unique_queue
    from workorders.models import Role

    sandbox = start_sandbox()
    settings.CELERY_TASK_DEFAULT_QUEUE = unique_queue("outage")
    worker = WorkerProcess(settings.CELERY_TASK_DEFAULT_QUEUE, concurrency=2).start()
    try:
        company = CompanyFactory(slug="outage-bench")
        member(company, Role.ADMIN, username="outage-admin", email="admin@example.com")
        wired = connect_company(company, sandbox, rate_limit=10)
        result = outage(wired, worker, args.outage, args.syncs)
    finally:
        worker.stop()
        sandbox.stop()
    result["settings"] = {name: getattr(settings, name) for name in (
        "SPECTORA_BREAKER_FAILURES", "SPECTORA_BREAKER_WINDOW_SECONDS",
        "SPECTORA_PROBE_BASE_SECONDS", "SPECTORA_PROBE_CAP_SECONDS",
        "SPECTORA_BACKOFF_BASE_SECONDS")}
    for key, value in result.items():
        print(f"  {key}: {value}")
    path = write_result("outage_benchmark", result)
    print(f"Written to {path.relative_to(path.parents[2])}")


if __name__ == "__main__":
    main()
