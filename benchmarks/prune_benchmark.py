"""Retention on PostgreSQL: prune a large SyncCall table while the database stays usable.

    createdb attik_prune_bench
    DATABASE_URL=postgres:///attik_prune_bench \\
        .venv/bin/python benchmarks/prune_benchmark.py [--rows 1000000] [--old 0.8]

Loads ``--rows`` SyncCall rows with COPY (``--old`` of them 31-60 days old, the
rest from the last day, ids in time order as in production) under 10,000 runs
of 1,000 workorders, then times ``manage.py prune`` while a thread issues
simple queries without pause (read a workorder, read a run's latest calls,
insert a call) and records each query's latency. Also records the same
queries' latency for a few seconds before the prune, as the baseline.

``--batch-size 1000000`` deletes everything in one statement, for comparison
(``--result prune-one-statement`` keeps prune.json).

Also times one ``/metrics`` scrape (its grouped queries read every kept
SyncCall row) before and after the prune.

Writes benchmarks/results/prune.json (or ``--result``). The database's tables are emptied at the
start, so re-runs are comparable; the database itself is left for inspection.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import percentile, setup_django, write_result

RUNS = 10_000
WORKORDERS = 1_000
BASELINE_SECONDS = 5.0


def load(rows: int, old_share: float) -> dict:
    from django.db import connection
    from django.utils import timezone

    from spectora_integration.models import SyncCall, SyncRun
    from tests.factories import CompanyFactory
    from workorders.models import Workorder

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE spectora_integration_synccall, spectora_integration_syncoutbox, "
            "spectora_integration_syncrun, workorders_workorder, workorders_company CASCADE"
        )
    company = CompanyFactory(name="Bench", slug="bench")
    now = timezone.now()
    Workorder.objects.bulk_create(
        Workorder(company=company, number=10_000 + n, scheduled_at=now, duration_minutes=60,
                  address=f"{n} Main St", client_name=f"Client {n}")
        for n in range(WORKORDERS)
    )
    workorder_ids = list(Workorder.objects.values_list("pk", flat=True))
    SyncRun.objects.bulk_create(
        (SyncRun(company=company, workorder_id=workorder_ids[n % WORKORDERS], state="succeeded",
                 started_at=now, finished_at=now) for n in range(RUNS)),
        batch_size=5_000,
    )
    run_ids = list(SyncRun.objects.values_list("pk", flat=True))
    old = int(rows * old_share)
    started = time.monotonic()
    table = SyncCall._meta.db_table
    columns = ("run_id, attempt, method, path, status, duration_ms, request_body, "
               "response_body, error, at")
    body = json.dumps({"data": {"type": "inspections", "attributes": {"duration": 120}}})
    with connection.cursor() as cursor, cursor.connection.cursor() as raw:
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            chunk = io.StringIO()
            for n in range(rows):
                if n < old:  # 60 .. 31 days ago, in id order
                    at = now - timedelta(days=60) + timedelta(days=29) * (n / max(1, old))
                else:
                    at = now - timedelta(hours=23) + timedelta(hours=22) * ((n - old) / rows)
                chunk.write(f"{run_ids[n % RUNS]}\t1\tPOST\t/v2/inspections\t201\t42\t"
                            f"{body}\t{body}\t\t{at.isoformat()}\n")
                if n % 50_000 == 49_999:
                    copy.write(chunk.getvalue())
                    chunk = io.StringIO()
            copy.write(chunk.getvalue())
        cursor.execute(f"ANALYZE {table}")
    return {"rows": rows, "old_rows": old, "load_seconds": round(time.monotonic() - started, 1)}


class Prober(threading.Thread):
    """Simple queries back to back on their own connection; each one's latency in ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.latencies: list[tuple[float, str, float]] = []  # (monotonic, query, ms)

    def run(self):
        from django.db import connection

        from spectora_integration.models import SyncCall, SyncRun
        from workorders.models import Workorder

        run = SyncRun.objects.order_by("-pk").first()
        workorder_ids = list(Workorder.objects.values_list("pk", flat=True)[:1000])
        queries = {
            "workorder_get": lambda n: Workorder.objects.get(pk=workorder_ids[n % 1000]),
            "run_calls": lambda n: list(SyncCall.objects.filter(run=run).order_by("-pk")[:20]),
            "call_insert": lambda n: SyncCall.objects.create(
                run=run, method="GET", path="/v2/inspections/1", status=200),
        }
        n = 0
        while not self.stop.is_set():
            for name, query in queries.items():
                started = time.monotonic()
                query(n)
                self.latencies.append((started, name, (time.monotonic() - started) * 1000))
            n += 1
        connection.close()

    def between(self, start: float, end: float) -> list[float]:
        return [ms for at, _, ms in self.latencies if start <= at <= end]

    def slowest(self, start: float, end: float) -> dict:
        worst = max(((ms, name) for at, name, ms in self.latencies if start <= at <= end),
                    default=(0.0, ""))
        return {"ms": round(worst[0], 1), "query": worst[1]}


def scrape_seconds() -> float:
    """One /metrics scrape (all of its queries), median of three."""
    from prometheus_client import generate_latest

    from operations.metrics import registry

    times = []
    for _ in range(3):
        started = time.monotonic()
        generate_latest(registry())
        times.append(time.monotonic() - started)
    return round(statistics.median(times), 3)


def summary(values: list[float]) -> dict:
    return {
        "queries": len(values),
        "median_ms": round(statistics.median(values), 2) if values else 0,
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values, default=0.0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--old", type=float, default=0.8, help="share older than 30 days")
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--result", default="prune",
                        help="results file name (benchmarks/results/<name>.json)")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL=postgres:///attik_prune_bench (createdb it first).")
    setup_django()
    from django.core.management import call_command

    from spectora_integration.models import SyncCall

    loaded = load(args.rows, args.old)
    print(f"loaded {loaded}", flush=True)
    scrape_before = scrape_seconds()
    prober = Prober()
    prober.start()
    time.sleep(BASELINE_SECONDS)
    started = time.monotonic()
    call_command("prune", batch_size=args.batch_size, stdout=io.StringIO())
    finished = time.monotonic()
    time.sleep(0.5)
    prober.stop.set()
    prober.join()
    remaining = SyncCall.objects.count()
    scrape_after = scrape_seconds()
    result = {
        **loaded,
        "batch_size": args.batch_size,
        "deleted": loaded["rows"] + len(prober.between(0, float("inf"))) // 3 - remaining,
        "remaining": remaining,
        "prune_seconds": round(finished - started, 2),
        "latency_before_prune": summary(prober.between(started - BASELINE_SECONDS, started)),
        "latency_during_prune": summary(prober.between(started, finished)),
        "slowest_during_prune": prober.slowest(started, finished),
        "metrics_scrape_seconds": {f"{loaded['rows']} calls": scrape_before,
                                   f"{remaining} calls": scrape_after},
        "command": "DATABASE_URL=postgres:///attik_prune_bench .venv/bin/python "
                   f"benchmarks/prune_benchmark.py --rows {args.rows} "
                   f"--batch-size {args.batch_size} --result {args.result}",
    }
    path = write_result(args.result, result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
