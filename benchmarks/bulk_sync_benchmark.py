"""How long "Sync all upcoming workorders" takes to queue, and how many queries.

    .venv/bin/python benchmarks/bulk_sync_benchmark.py [--sizes 1000 5000]

A throwaway embedded install (SQLite + the filesystem broker under a temporary
``ATTIK_VAR_DIR``) unless ``DATABASE_URL`` / ``CELERY_BROKER_URL`` are set. One
connected company; each size gets that many upcoming workorders (bulk-created, two
linked inspectors and two mapped services each, one service with a report type) plus
a tenth that wait for an unlinked inspector. Times ``bulk.sync_all`` (queueing only:
no worker runs them; the enqueue to the broker is included), then a second call that
joins the queued runs, and, for comparison, ``sync_request`` called once per workorder.
Prints the figures and writes benchmarks/results/bulk_sync_benchmark.json.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from harness import setup_django, write_result


def seed(company, n: int, employees, services, unlinked) -> list[int]:
    from django.utils import timezone

    from workorders.models import Assignment, LineItem, Workorder

    start = company.last_workorder_number + 1
    when = timezone.now() + timedelta(days=1)
    rows = Workorder.objects.bulk_create([
        Workorder(company=company, number=start + i, scheduled_at=when + timedelta(minutes=i),
                  address=f"{i} Main St", client_name=f"Client {i}")
        for i in range(n + n // 10)
    ], batch_size=2000)
    company.last_workorder_number = start + len(rows)
    company.save(update_fields=["last_workorder_number"])
    assignments, items = [], []
    for i, wo in enumerate(rows):
        first = unlinked if i >= n else employees[0]
        assignments += [Assignment(workorder=wo, employee=first, primary=True),
                        Assignment(workorder=wo, employee=employees[1])]
        items += [LineItem(workorder=wo, service=s, price_cents=100) for s in services]
    Assignment.objects.bulk_create(assignments, batch_size=2000)
    LineItem.objects.bulk_create(items, batch_size=2000)
    return [wo.pk for wo in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    args = parser.parse_args()
    setup_django()
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from spectora_integration.models import (
        ConnectionState,
        SpectoraConnection,
        SyncBatch,
        SyncRun,
    )
    from spectora_integration.sync import bulk, runs
    from workorders.models import Company, Employee, ReportType, Service, Workorder

    results = []
    for size in args.sizes:
        company = Company.objects.create(name=f"Bench {size}",
                                         slug=f"bench-{size}-{time.time_ns()}")
        conn = SpectoraConnection(company=company, base_url="https://connect.spectora.com",
                                  state=ConnectionState.CONNECTED)
        conn.set_api_key("bench-key-0000")
        conn.save()
        employees = [Employee.objects.create(company=company, name=f"E{i}",
                                             spectora_inspector_id=f"insp-{i}")
                     for i in range(2)]
        unlinked = Employee.objects.create(company=company, name="Maria Lopez")
        report_type = ReportType.objects.create(company=company, name="Report",
                                                spectora_template_id="tpl-1")
        services = [Service.objects.create(company=company, name=f"S{i}",
                                           spectora_service_id=f"svc-{i}") for i in range(2)]
        services[0].report_types.add(report_type)
        seed(company, size, employees, services, unlinked)

        reset_queries()
        with CaptureQueriesContext(connection) as first_q:
            started = time.perf_counter()
            result = bulk.sync_all(company, None)
            first_s = time.perf_counter() - started
        with CaptureQueriesContext(connection) as join_q:
            started = time.perf_counter()
            again = bulk.sync_all(company, None)
            join_s = time.perf_counter() - started
        assert (result.new, again.joined) == (size, size), (result, again)
        # The same first call without the broker: what the database part costs.
        SyncRun.objects.filter(company=company).delete()
        sent = runs.enqueue_run
        runs.enqueue_run = lambda run_id, countdown=0: None
        try:
            started = time.perf_counter()
            bulk.sync_all(company, None)
            no_broker_s = time.perf_counter() - started
        finally:
            runs.enqueue_run = sent

        one_by_one_s = None
        if size <= 1000:  # the per-row path, for comparison (slow by design)
            SyncRun.objects.filter(company=company).delete()
            SyncBatch.objects.filter(company=company).delete()
            eligible = list(Workorder.objects.filter(company=company,
                                                     assignments__employee=employees[0]))
            with CaptureQueriesContext(connection) as row_q:
                started = time.perf_counter()
                for wo in eligible:
                    runs.sync_request(wo, None, trigger="bulk")
                one_by_one_s = time.perf_counter() - started
        row = {
            "workorders_queued": size, "left_out": result.skipped,
            "sync_all_seconds": round(first_s, 3), "sync_all_queries": len(first_q),
            "sync_all_without_broker_seconds": round(no_broker_s, 3),
            "second_call_joining_seconds": round(join_s, 3),
            "second_call_queries": len(join_q),
            "sync_request_each_seconds": round(one_by_one_s, 3) if one_by_one_s else None,
            "sync_request_each_queries": len(row_q) if one_by_one_s else None,
        }
        results.append(row)
        print(row)
    path = write_result("bulk_sync_benchmark", {"runs": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
