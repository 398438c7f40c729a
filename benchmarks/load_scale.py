"""Part 2 of the load benchmark: the workorder list at scale.

Timed through Django's test client; plans of the list's workorder queries
(EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite).
"""

from __future__ import annotations

import random
import re
import statistics
import time
import uuid
from datetime import timedelta

from benchmarks.harness import cpu_snapshot, cpu_use, machine_load, percentile, ratio
from benchmarks.load_seed import FIRST_NAMES, PAGE_SIZE, seed_workorders, staff_users


def plan_of(sql: str) -> list[str]:
    from django.db import connection

    prefix = ("EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql"
              else "EXPLAIN QUERY PLAN ")
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        rows = cursor.fetchall()
    return [str(row[0]) if connection.vendor == "postgresql" else str(row[-1]) for row in rows]


def access_to_workorders(plan: list[str]) -> str:
    """How the plan reads workorders_workorder: index, bitmap, seq_scan (or mixed)."""
    found = set()
    for line in plan:
        if "workorders_workorder" not in line and "workorder_" not in line:
            continue
        if re.search(r"Seq Scan on workorders_workorder\b", line) or re.search(
                r"\bSCAN workorders_workorder\s*$", line):
            found.add("seq_scan")
        elif re.search(r"Bitmap (Heap|Index) Scan on (workorders_workorder|workorder_)", line):
            found.add("bitmap")
        elif re.search(r"Index (Only )?Scan (Backward )?using \S+ on workorders_workorder\b",
                       line) or re.search(r"(SEARCH|SCAN) workorders_workorder USING", line):
            found.add("index")
    return "+".join(sorted(found)) or "none"


def rows_removed(plan: list[str]) -> int:
    """The most rows one node read and threw away (per loop): an index that narrows nothing."""
    found = [int(m.group(1)) for line in plan
             if (m := re.search(r"Rows Removed by Filter: (\d+)", line))]
    return max(found, default=0)


def execution_ms(plan: list[str]) -> float | None:
    for line in plan:
        match = re.search(r"Execution Time: ([\d.]+) ms", line)
        if match:
            return float(match.group(1))
    return None


def workorder_plans(captured) -> list[dict]:
    """The plans of the captured queries that read workorders_workorder (count and rows)."""
    plans = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if re.match(r'SELECT .*? FROM "workorders_workorder"', sql, re.S):
            plan = plan_of(sql)
            plans.append({
                "query": "count" if "COUNT(*)" in sql[:60] else "rows",
                "access": access_to_workorders(plan),
                "execution_ms": execution_ms(plan),
                "rows_removed_by_filter": rows_removed(plan),
                "plan": plan[:40],
            })
    return plans


def build_company(rows: int, rng: random.Random, label: str) -> dict:
    """A company with ``rows`` workorders (20 inspectors, 3 inspections, 5 add-ons)."""
    from workorders.models import Company, Employee, Service, ServiceKind

    token = uuid.uuid4().hex[:6]
    company = Company.objects.create(name=f"Scale {label}", slug=f"scale-{label}-{token}")
    employees = Employee.objects.bulk_create([
        Employee(company=company, name=f"{rng.choice(FIRST_NAMES)} Inspector {n}")
        for n in range(20)
    ])
    primaries = Service.objects.bulk_create([
        Service(company=company, name=f"Home inspection {n}", price_cents=40000 + 5000 * n)
        for n in range(3)
    ])
    add_ons = Service.objects.bulk_create([
        Service(company=company, name=f"Add-on {n}", kind=ServiceKind.ADD_ON,
                price_cents=5000 + 2500 * n) for n in range(5)
    ])
    started = time.monotonic()
    ids = seed_workorders(company, rows, employees, primaries, add_ons, rng)
    seconds = time.monotonic() - started
    user = staff_users(company, 1, f"scale-{label}-{token}")[0]
    return {"company": company, "employees": employees, "ids": ids, "user": user,
            "seed_seconds": round(seconds, 1), "rows": len(ids)}


def cases_for(built: dict) -> dict:
    from django.utils import timezone

    from workorders import selectors

    today = timezone.localdate()
    ids = built["ids"]
    sample = selectors.workorder_list(built["company"])[len(ids) // 2]
    return {
        "first_page": {},
        "page_200": {"page": "200"},  # the last page (40) at 1,000 rows
        "search_client_name": {"search": sample.client_name},
        "search_last_name": {"search": sample.client_name.split()[-1]},
        "status_filter": {"status": "unconfirmed"},
        "date_range": {"date_from": today.isoformat(),
                       "date_to": (today + timedelta(days=30)).isoformat()},
        "inspector_filter": {"inspector": str(built["employees"][3].pk)},
    }


def list_at_scale(args, rng: random.Random) -> dict:
    """The same list pages on a small and a large company, timed in alternation.

    Requests alternate small, large, small, large... so both sizes meet the same
    machine (other people's work on a shared machine shows in both); the figure
    is the ratio large/small of the p95 (and p50) over ``--repeat`` requests.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from workorders import selectors
    from workorders.filters import workorder_filterset

    sizes = {"small": build_company(args.small, rng, "small"),
             "large": build_company(args.rows, rng, "large")}
    if connection.vendor == "postgresql":
        # What autovacuum would have done by now (it vacuums after inserts since
        # PostgreSQL 13): statistics, and the visibility map for index-only scans.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE workorders_workorder, workorders_assignment, "
                           "workorders_lineitem")
    for label, built in sizes.items():
        print(f"  seeded {built['rows']} workorders ({label}) on {connection.vendor} in "
              f"{built['seed_seconds']} s (with their assignments and line items)")
    clients = {}
    for label, built in sizes.items():
        clients[label] = Client()
        clients[label].force_login(built["user"])
    url = reverse("workorders:list")
    cases = {label: cases_for(built) for label, built in sizes.items()}
    out: dict = {}
    load_at_start = machine_load()
    before = cpu_snapshot()
    for name in cases["small"]:
        row: dict = {}
        runs: dict[str, list[float]] = {"small": [], "large": []}
        for label in sizes:
            clients[label].get(url, cases[label][name])  # warm-up, not counted
        for _ in range(args.repeat):
            for label in sizes:
                started = time.perf_counter()
                response = clients[label].get(url, cases[label][name])
                runs[label].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (name, label, response.status_code)
        for label, built in sizes.items():
            params = cases[label][name]
            filterset = workorder_filterset()(
                params or None, queryset=selectors.workorder_list(built["company"]),
                company=built["company"])
            with CaptureQueriesContext(connection) as captured:
                clients[label].get(url, params)
            row[label] = {
                "params": params, "matches": filterset.qs.count(),
                "p50_ms": round(percentile(runs[label], 50), 1),
                "p95_ms": round(percentile(runs[label], 95), 1),
                "median_ms": round(statistics.median(runs[label]), 1),
                "queries": len(captured.captured_queries),
                "workorder_queries": workorder_plans(captured) if label == "large" else [],
            }
        row["ratio_p95_large_over_small"] = ratio(row["large"]["p95_ms"], row["small"]["p95_ms"])
        row["ratio_p50_large_over_small"] = ratio(row["large"]["p50_ms"], row["small"]["p50_ms"])
        out[name] = row
    cpu = cpu_use(before, cpu_snapshot(), {})
    main = selectors.workorder_list(sizes["large"]["company"]).order_by(
        "-scheduled_at", "-number")[:PAGE_SIZE]
    if connection.vendor == "postgresql":
        main_plan = main.explain(analyze=True).splitlines()
    else:
        main_plan = main.explain().splitlines()
    access = access_to_workorders(main_plan)
    return {
        "rows": {label: built["rows"] for label, built in sizes.items()},
        "database": connection.vendor,
        "repeat": args.repeat,
        "seed_seconds": {label: built["seed_seconds"] for label, built in sizes.items()},
        "queries_per_list_page": out["first_page"]["large"]["queries"],
        "machine_load_at_start": load_at_start,
        "machine_load_at_end": machine_load(),
        "cpu_cores_used_while_timing": cpu,
        "cases": out,
        "main_list_query": {
            "access": access,
            "uses_index": access in ("index", "bitmap", "bitmap+index"),
            "seq_scan": "seq_scan" in access,
            "plan": main_plan,
        },
    }


def print_scale(scale: dict) -> None:
    rows = scale["rows"]
    print(f"List pages at scale ({rows['large']} against {rows['small']} workorders, "
          f"{scale['database']}; Django test client, {scale['repeat']} requests each, "
          f"alternating; load average {scale['machine_load_at_start']['loadavg_1m']} at the "
          f"start, {scale['machine_load_at_end']['loadavg_1m']} at the end):")
    for name, case in scale["cases"].items():
        large = case["large"]
        access = ", ".join(
            f"{p['query']}: {p['access']}" + (f" {p['execution_ms']} ms" if p["execution_ms"]
                                              else "")
            for p in large["workorder_queries"])
        print(f"  {name:<19} p95 {large['p95_ms']:>7} ms vs {case['small']['p95_ms']:>6} ms "
              f"= x{case['ratio_p95_large_over_small']:<5} p50 x"
              f"{case['ratio_p50_large_over_small']:<5} {large['matches']:>6} matches  "
              f"{large['queries']} queries  [{access}]")
    main = scale["main_list_query"]
    cpu = scale["cpu_cores_used_while_timing"]
    if cpu and cpu.get("other", 0) >= 0.2:
        print(f"  (other processes used {cpu['other']} cores while these were timed)")
    print(f"  queries per list page: {scale['queries_per_list_page']}; main list query "
          f"(first 25): {main['access']} (uses index: {main['uses_index']})")
