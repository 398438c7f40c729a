"""Sync engine cost and speed, against the sandbox over HTTP.

    .venv/bin/python benchmarks/sync_benchmark.py [--bulk 1000] [--clicks 20] [--calls-only]

1. API calls per sync, ours against a naive full push (PATCH everything, delete
   and re-create every child), for the no-op, one-change and force cases.
2. Click to synced: ``sync_request`` to the link showing ``synced``, through a
   real Celery worker on the embedded default (SQLite + filesystem broker).
3. Bulk re-sync of ``--bulk`` workorders against a sandbox limited to 50
   requests/s, as a ratio of the theoretical minimum (calls needed / limit).

Prints the figures and writes benchmarks/results/sync_benchmark.json.
"""

from __future__ import annotations

import argparse
import time

from harness import percentile, setup_django, wait_until, write_result

RATE = 50


def count_calls(wired, action) -> int:
    before = len(wired.requests_log())
    action()
    return len(wired.requests_log()) - before


def naive_push(client, workorder, remote_id) -> None:
    """What a simple integration does: overwrite the job, drop and re-add every child."""
    from spectora_integration.sync.planner import desired_state

    desired = desired_state(workorder)
    actual = client.inspection_get(remote_id)
    client.inspection_update(remote_id, {k: v for k, v in desired.attributes.items()
                                         if k != "external_ref"})
    for kind, children in (("assignments", actual.assignments),
                           ("line_items", actual.line_items), ("reports", actual.reports)):
        for child in children:
            client.child_remove(remote_id, kind, child.id)
    for n, (inspector, primary) in enumerate(desired.assignments.items()):
        client.child_add(remote_id, "assignments", {"inspector_id": inspector, "primary": primary},
                         idempotency_key=f"naive-{time.monotonic_ns()}-a{n}")
    for n, item in enumerate(desired.line_items):
        client.child_add(remote_id, "line_items", item.attributes(),
                         idempotency_key=f"naive-{time.monotonic_ns()}-l{n}")
    for n, template in enumerate(desired.template_ids):
        client.child_add(remote_id, "reports", {"template_id": template},
                         idempotency_key=f"naive-{time.monotonic_ns()}-r{n}")


def book(wired, n: int = 0):
    from datetime import timedelta

    from django.utils import timezone

    from workorders.services import AssigneeInput, LineItemInput, workorder_create

    return workorder_create(
        company=wired.connection.company, user=None,
        values={"scheduled_at": timezone.now() + timedelta(days=1 + n % 20),
                "duration_minutes": 120, "address": f"{n} Bench St", "client_name": "Bench"},
        assignees=[AssigneeInput(wired.inspectors[0], True), AssigneeInput(wired.inspectors[1])],
        line_items=[LineItemInput(s) for s in wired.services[:3]],
    )


def calls_per_sync(wired) -> dict:
    from spectora_integration.sync import engine, runs

    def sync(wo, **kw):
        run = runs.sync_request(wo, None, **kw)
        engine.sync_execute(run.pk)

    enqueue = runs.enqueue_run
    runs.enqueue_run = lambda run_id, countdown=0: None  # runs are executed inline here
    try:
        return _calls_per_sync(wired, sync)
    finally:
        runs.enqueue_run = enqueue


def _calls_per_sync(wired, sync) -> dict:
    from spectora_integration.client import SpectoraClient
    from spectora_integration.models import SpectoraLink

    wo = book(wired)
    ours = {"create": count_calls(wired, lambda: sync(wo))}
    remote_id = SpectoraLink.objects.get(workorder=wo).remote_id
    client = SpectoraClient.for_connection(wired.connection)
    ours["no_op"] = count_calls(wired, lambda: sync(wo))
    naive = {"create": ours["create"], "no_op": count_calls(wired, lambda: naive_push(
        client, wo, remote_id))}
    wo.notes = "changed"
    wo.save()
    ours["one_change"] = count_calls(wired, lambda: sync(wo))
    wo.notes = "changed again"
    wo.save()
    naive["one_change"] = count_calls(wired, lambda: naive_push(client, wo, remote_id))
    ours["force"] = count_calls(wired, lambda: sync(wo, force=True))
    naive["force"] = count_calls(wired, lambda: naive_push(client, wo, remote_id))
    job = wired.state()[0]
    assert len(job["assignments"]) == 2 and len(job["line_items"]) == 3
    return {
        case: {"ours": ours[case], "naive": naive[case],
               "ratio_naive_over_ours": round(naive[case] / ours[case], 2)}
        for case in ("create", "no_op", "one_change", "force")
    }


def click_to_synced(wired, clicks: int) -> dict:
    from django.conf import settings

    from spectora_integration.models import SpectoraLink, SyncState
    from spectora_integration.sync import runs
    from tests.worker import WorkerProcess, unique_queue

    settings.CELERY_TASK_DEFAULT_QUEUE = unique_queue("bench")
    worker = WorkerProcess(settings.CELERY_TASK_DEFAULT_QUEUE, concurrency=1).start()
    latencies = []
    try:
        for n in range(clicks):
            wo = book(wired, n)
            started = time.monotonic()
            runs.sync_request(wo, None)
            synced = SpectoraLink.objects.filter(workorder=wo, sync_state=SyncState.SYNCED)
            wait_until(synced.exists, timeout=60, interval=0.01)
            latencies.append((time.monotonic() - started) * 1000)
    finally:
        worker.stop()
    return {
        "clicks": clicks,
        "p50_ms": round(percentile(latencies, 50)),
        "p95_ms": round(percentile(latencies, 95)),
        "max_ms": round(max(latencies)),
    }


def bulk_resync(wired, count: int) -> dict:
    from django.conf import settings

    from spectora_integration.models import RunState, SyncRun
    from spectora_integration.sync import runs
    from tests.worker import WorkerProcess, unique_queue
    from workorders.models import Workorder

    settings.CELERY_TASK_DEFAULT_QUEUE = unique_queue("bulk")
    workers = [WorkerProcess(settings.CELERY_TASK_DEFAULT_QUEUE, concurrency=2) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        batch = [book(wired, n) for n in range(count)]
        for wo in batch:  # first sync at full speed: not what is measured
            runs.sync_request(wo, None)
        wait_until(lambda: not SyncRun.objects.filter(
            state__in=[RunState.QUEUED, RunState.RUNNING]).exists(), timeout=1800, interval=0.5)
        Workorder.objects.filter(pk__in=[wo.pk for wo in batch]).update(notes="bulk change")
        wired.connection.rate_limit_per_second = RATE
        wired.connection.save()
        wired.control("rate_limit", {"per_second": RATE, "burst": RATE})
        mark = len(wired.requests_log())
        started = time.monotonic()
        for wo in batch:
            runs.sync_request(wo, None, force=False)
        wait_until(lambda: not SyncRun.objects.filter(
            state__in=[RunState.QUEUED, RunState.RUNNING]).exists(), timeout=1800, interval=0.2)
        elapsed = time.monotonic() - started
    finally:
        for worker in workers:
            worker.stop()
        wired.control("rate_limit", {"per_second": None})
    log = wired.requests_log()[mark:]
    needed = 2 * count  # one GET and one PATCH per workorder
    theoretical = needed / RATE
    failed = SyncRun.objects.filter(state=RunState.FAILED).count()
    return {
        "workorders": count,
        "rate_limit_per_second": RATE,
        "calls_needed": needed,
        "calls_made": len(log),
        "answers_429": sum(1 for r in log if r["status"] == 429),
        "failed_runs": failed,
        "seconds": round(elapsed, 1),
        "theoretical_minimum_seconds": round(theoretical, 1),
        "ratio_to_minimum": round(elapsed / theoretical, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--calls-only", action="store_true",
                        help="only count API calls per sync (no worker; writes no result file)")
    args = parser.parse_args()
    setup_django()
    from spectora_sandbox import start_sandbox
    from tests.factories import CompanyFactory
    from tests.spectora_fixtures import connect_company

    sandbox = start_sandbox()
    try:
        wired = connect_company(CompanyFactory(slug="bench"), sandbox)
        calls = calls_per_sync(wired)
        print("API calls per sync (ours vs naive full push):")
        for case, row in calls.items():
            print(f"  {case:<11} ours {row['ours']:>3}  naive {row['naive']:>3}  "
                  f"naive/ours {row['ratio_naive_over_ours']}")
        if args.calls_only:
            return
        latency = click_to_synced(wired, args.clicks)
        print(f"Click to synced ({latency['clicks']} clicks, one worker): "
              f"p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms")
        bulk = bulk_resync(wired, args.bulk)
        print(f"Bulk re-sync of {bulk['workorders']} at {RATE} req/s: {bulk['seconds']} s "
              f"against a minimum of {bulk['theoretical_minimum_seconds']} s "
              f"(ratio {bulk['ratio_to_minimum']}), {bulk['answers_429']} answers 429, "
              f"{bulk['failed_runs']} failed runs")
    finally:
        sandbox.stop()
    path = write_result("sync_benchmark", {
        "calls_per_sync": calls, "click_to_synced": latency, "bulk_resync": bulk,
    })
    print(f"Written to {path.relative_to(path.parents[2])}")


if __name__ == "__main__":
    main()
