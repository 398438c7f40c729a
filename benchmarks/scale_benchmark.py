"""Sync at scale, in one process tree: the sandbox (threads), the Procfile's workers
(one for the first lane, 2 slots, nice 5; two for the background lane, 2 slots each,
nice 10).

    .venv/bin/python benchmarks/scale_benchmark.py [--bulk 1000] [--backlog 300]
        [--backlog-rate 10] [--clicks 20] [--result NAME] [--no-png]

Two companies, A and B, on one sandbox (its global limit is set to the sum of theirs;
each company's own pace comes from its connection's limit, calls and 429s per company
from the SyncCall rows):

1. Click overhead (idle): a person's Sync of a changed workorder of company B, request
   to "synced"; the overhead is that time minus the run's own HTTP calls (SyncCall).
2. Bulk ratio: company A re-syncs ``--bulk`` workorders at 50 req/s (the sandbox
   enforces it too); elapsed time over the floor (calls / rate), and answers 429.
3. Click behind a backlog and fairness: A re-syncs ``--backlog`` workorders at 10 req/s
   (bulk trigger) while people click, in turn, another workorder of A (click-behind-
   backlog latency) and one of B (B's contended latency, set against its idle one: B's
   clicks alone, at the same 10 req/s limit of B's own, just before A's backlog).

Ratios are what to compare; absolute times on a shared 2-core machine are noisy.
Writes benchmarks/results/scale.json (scale_redis.json on Redis) and
docs/scale-calls-per-second.png.
Set DATABASE_URL / CELERY_BROKER_URL to run on PostgreSQL + Redis (harness.py).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from harness import ROOT, percentile, setup_django, wait_until, write_result

BULK_RATE = 50
BACKLOG_RATE = 10  # --backlog-rate
PNG = ROOT / "docs" / "scale-calls-per-second.png"


def book(wired, n: int, prefix: str):
    from datetime import timedelta

    from django.utils import timezone

    from workorders.services import AssigneeInput, LineItemInput, workorder_create

    return workorder_create(
        company=wired.connection.company, user=None,
        values={"scheduled_at": timezone.now() + timedelta(days=1 + n % 20),
                "duration_minutes": 120, "address": f"{n} {prefix} St", "client_name": "Scale"},
        assignees=[AssigneeInput(wired.inspectors[0], True), AssigneeInput(wired.inspectors[1])],
        line_items=[LineItemInput(s) for s in wired.services[:3]],
    )


def idle(company=None) -> bool:
    from spectora_integration.models import RunState, SyncRun

    active = SyncRun.objects.filter(state__in=[RunState.QUEUED, RunState.RUNNING])
    if company is not None:
        active = active.filter(company=company)
    return not active.exists()


def set_rate(wired, rate: int | None, sandbox_rate: int | None = None) -> None:
    """The connection's limit and the sandbox's (``sandbox_rate``, default the same)."""
    wired.connection.rate_limit_per_second = rate or 1000
    wired.connection.save(update_fields=["rate_limit_per_second"])
    sandbox_rate = sandbox_rate or rate
    wired.control("rate_limit", {"per_second": sandbox_rate, "burst": sandbox_rate}
                  if sandbox_rate else {"per_second": None})


def answers_429(company, since) -> int:
    from spectora_integration.models import SyncCall

    return SyncCall.objects.filter(run__company=company, at__gte=since, status=429).count()


def prepare(wired, count: int, prefix: str) -> list:
    """``count`` workorders synced once at full speed (creates: not what is measured)."""
    from spectora_integration.models import Trigger
    from spectora_integration.sync import runs

    batch = [book(wired, n, prefix) for n in range(count)]
    for wo in batch:
        runs.sync_request(wo, None, trigger=Trigger.DRIFT)
    wait_until(lambda: idle(wired.connection.company), timeout=3600, interval=0.5)
    return batch


def touch(workorders) -> None:
    from workorders.models import Workorder

    Workorder.objects.filter(pk__in=[wo.pk for wo in workorders]).update(
        notes=f"changed {time.time()}")


def click(workorder) -> dict:
    """A person's Sync of a changed workorder, to "synced": total and HTTP milliseconds."""
    from django.db.models import Sum

    from spectora_integration.models import (
        RunState,
        SpectoraLink,
        SyncCall,
        SyncRun,
        SyncState,
        Trigger,
    )
    from spectora_integration.sync import runs

    touch([workorder])
    started = time.monotonic()
    run = runs.sync_request(workorder, None, trigger=Trigger.MANUAL)
    synced = SpectoraLink.objects.filter(workorder=workorder, sync_state=SyncState.SYNCED)
    gone_wrong = SyncRun.objects.filter(pk=run.pk, state__in=[RunState.FAILED, RunState.SKIPPED])

    def landed() -> bool:
        if gone_wrong.exists():
            raise RuntimeError(f"run {run.pk} did not succeed: {gone_wrong.get().reason}")
        return synced.exists()

    wait_until(landed, timeout=300, interval=0.005)
    total = (time.monotonic() - started) * 1000
    http = SyncCall.objects.filter(run_id=run.pk).aggregate(ms=Sum("duration_ms"))["ms"] or 0
    return {"total_ms": total, "http_ms": http, "overhead_ms": total - http}


def summary(samples: list[dict], key: str = "total_ms") -> dict:
    values = [s[key] for s in samples]
    return {"n": len(values), "p50_ms": round(percentile(values, 50)),
            "p95_ms": round(percentile(values, 95)), "max_ms": round(max(values))}


def click_overhead(b, pool_b, clicks: int) -> tuple[dict, list[dict]]:
    samples = [click(wo) for wo in pool_b[:clicks]]
    result = summary(samples)
    result["http_p50_ms"] = round(percentile([s["http_ms"] for s in samples], 50))
    result["overhead_p50_ms"] = round(percentile([s["overhead_ms"] for s in samples], 50))
    result["overhead_p95_ms"] = round(percentile([s["overhead_ms"] for s in samples], 95))
    return result, samples


def bulk_ratio(a, pool: list) -> dict:
    from django.utils import timezone

    from spectora_integration.sync import runs

    set_rate(a, BULK_RATE)
    touch(pool)
    mark = len(a.requests_log())
    since = timezone.now()
    started = time.monotonic()
    # The product's bulk path (Sync all, a re-sync after a mapping fix): one call, paced.
    runs.sync_request_many(a.connection.company, pool, None, trigger="bulk")
    enqueued = time.monotonic() - started
    wait_until(lambda: idle(a.connection.company), timeout=3600, interval=0.1)
    elapsed = time.monotonic() - started
    log = a.requests_log()[mark:]
    set_rate(a, None)
    floor = 2 * len(pool) / BULK_RATE
    return {
        "workorders": len(pool), "rate_limit_per_second": BULK_RATE,
        "calls_needed": 2 * len(pool), "calls_made": len(log),
        "answers_429": sum(1 for r in log if r["status"] == 429),
        "answers_429_recorded": answers_429(a.connection.company, since),
        "seconds": round(elapsed, 1), "seconds_to_request_all": round(enqueued, 1),
        "floor_seconds": round(floor, 1), "ratio_to_floor": round(elapsed / floor, 3),
    }


def backlog_and_fairness(a, b, backlog: list, a_clicks: list, b_clicks: list,
                         idle_b: list[dict], rate: int) -> tuple[dict, dict]:
    from django.utils import timezone

    from spectora_integration.sync import runs

    set_rate(a, rate, 2 * rate)  # one sandbox: its limit is the sum
    set_rate(b, rate, 2 * rate)
    touch(backlog)
    since = timezone.now()
    started = time.monotonic()
    runs.sync_request_many(a.connection.company, backlog, None, trigger="bulk")
    time.sleep(2.0)  # the backlog is under way
    behind, contended = [], []
    for wo_a, wo_b in zip(a_clicks, b_clicks, strict=False):
        if idle(a.connection.company):
            break
        behind.append(click(wo_a))
        contended.append(click(wo_b))
        time.sleep(0.5)
    clicks_done = time.monotonic() - started
    wait_until(lambda: idle(), timeout=3600, interval=0.2)
    elapsed = time.monotonic() - started
    set_rate(a, None)
    set_rate(b, None)
    without_backlog = rate and 2 * len(backlog) / rate
    behind_result = {
        "backlog_workorders": len(backlog), "rate_limit_per_second": rate,
        "backlog_seconds": round(elapsed, 1),
        "backlog_floor_seconds": round(without_backlog, 1),
        "clicks_during_backlog_seconds": round(clicks_done, 1),
        "click": summary(behind), "goal_ms": 8000,
        "answers_429": {"company_a": answers_429(a.connection.company, since),
                        "company_b": answers_429(b.connection.company, since)},
    }
    idle_p95 = percentile([s["total_ms"] for s in idle_b], 95)
    fair = {
        "company_b_idle": summary(idle_b), "company_b_contended": summary(contended),
        "company_b_contended_ms_in_order": [round(c["total_ms"]) for c in contended],
        "p95_ratio_contended_over_idle": round(
            percentile([s["total_ms"] for s in contended], 95) / idle_p95, 2),
        "goal_ratio": 2.0,
    }
    return behind_result, fair


def calls_per_second(since, until) -> dict:
    """SyncCall rows per company and second, between two datetimes."""
    from collections import Counter

    from spectora_integration.models import SyncCall

    rows = SyncCall.objects.filter(at__gte=since, at__lte=until).values_list(
        "run__company__slug", "at")
    counts: dict[str, Counter] = {}
    for slug, at in rows:
        counts.setdefault(slug, Counter())[int((at - since).total_seconds())] += 1
    return {slug: [c.get(s, 0) for s in range(int((until - since).total_seconds()) + 1)]
            for slug, c in counts.items()}


def draw(series: dict, rate: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    for slug, label in (("company-a", "company A (bulk re-sync)"),
                        ("company-b", "company B (clicks)")):
        values = series.get(slug, [])
        ax.step(range(len(values)), values, where="post", label=label)
    ax.axhline(rate, color="red", linestyle="--", label=f"rate limit ({rate} req/s each)")
    ax.set_xlabel("seconds since the bulk re-sync was requested")
    ax.set_ylabel("calls to Spectora per second")
    ax.set_title(title)
    ax.set_ylim(0, rate * 1.4)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--backlog", type=int, default=300)
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--backlog-rate", type=int, default=BACKLOG_RATE,
                        help="A's and B's limit during the backlog (req/s)")
    parser.add_argument("--result", default="",
                        help="result file name (default scale, or scale_redis on Redis)")
    parser.add_argument("--no-png", action="store_true")
    args = parser.parse_args()
    rate = args.backlog_rate
    setup_django()
    from django.conf import settings
    from django.utils import timezone

    from spectora_integration import integration
    from spectora_sandbox import start_sandbox
    from tests.factories import CompanyFactory
    from tests.spectora_fixtures import connect_company
    from tests.worker import WorkerProcess, unique_queue

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the workers on the way out
    integration.workorder_booked = lambda workorder, *, user: None  # syncs are requested here
    settings.CELERY_TASK_DEFAULT_QUEUE = unique_queue("scale")
    sandbox = start_sandbox()
    # The Procfile's layout: a worker per lane, the background one niced below the first.
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    # The first lane polls the embedded broker every 0.05 s (ignored on Redis).
    workers = [WorkerProcess(queue, concurrency=2, lane="first", nice=5,
                             extra_env={"CELERY_POLLING_INTERVAL": "0.05"}),
               *(WorkerProcess(queue, concurrency=2, lane="background", nice=10)
                 for _ in range(2))]
    try:
        for worker in workers:
            worker.start()
        a = connect_company(CompanyFactory(slug="company-a"), sandbox)
        b = connect_company(CompanyFactory(slug="company-b"), sandbox)
        pool_a = prepare(a, max(args.bulk, args.backlog) + args.clicks, "A")
        pool_b = prepare(b, 3 * args.clicks, "B")
        overhead, _ = click_overhead(b, pool_b, args.clicks)
        print(f"Click to synced, idle ({overhead['n']} clicks): p50 {overhead['p50_ms']} ms, "
              f"of which HTTP {overhead['http_p50_ms']} ms; overhead p50 "
              f"{overhead['overhead_p50_ms']} ms, p95 {overhead['overhead_p95_ms']} ms")
        bulk = bulk_ratio(a, pool_a[:args.bulk]) if args.bulk else {}
        if bulk:
            print(f"Bulk re-sync of {bulk['workorders']} at {BULK_RATE} req/s: {bulk['seconds']} "
                  f"s against a floor of {bulk['floor_seconds']} s (ratio "
                  f"{bulk['ratio_to_floor']}), {bulk['answers_429']} answers 429")
        # B's baseline: B alone, at the limit it keeps beside A's backlog (its own pace
        # spaces a run's two calls 1/rate apart; that is B's limit, not A's doing).
        set_rate(b, rate, 2 * rate)
        idle_b = [click(wo) for wo in pool_b[args.clicks:2 * args.clicks]]
        since = timezone.now()
        behind, fair = backlog_and_fairness(
            a, b, pool_a[:args.backlog], pool_a[-args.clicks:], pool_b[2 * args.clicks:],
            idle_b, rate)
        until = timezone.now()
        print(f"Click behind a backlog of {behind['backlog_workorders']} at {rate} "
              f"req/s: p50 {behind['click']['p50_ms']} ms, max {behind['click']['max_ms']} ms "
              f"({behind['click']['n']} clicks; goal under 8000 ms)")
        print(f"Company B's click p95 at its limit of {rate} req/s: idle "
              f"{fair['company_b_idle']['p95_ms']} ms, beside A's "
              f"backlog {fair['company_b_contended']['p95_ms']} ms "
              f"(ratio {fair['p95_ratio_contended_over_idle']}; goal under 2)")
        series = calls_per_second(since, until)
        if not args.no_png:
            draw(series, rate, PNG,
                 f"{len(pool_a[:args.backlog])} re-syncs of company A beside company B's clicks")
            print(f"Chart: {PNG.relative_to(ROOT)}")
    finally:
        for worker in workers:
            worker.stop()
        sandbox.stop()
    # The embedded default writes scale.json; PostgreSQL + Redis its own file beside it.
    name = args.result or (
        "scale" if settings.CELERY_BROKER_URL.startswith("filesystem") else "scale_redis")
    path = write_result(name, {
        "command": " ".join(sys.argv[1:]),
        "workers": "first lane 1 x 2 slots (nice 5), background 2 x 2 slots (nice 10)",
        "click_overhead": overhead, "bulk_resync": bulk,
        "click_behind_backlog": behind, "fairness": fair,
        "calls_per_second": series,
        "prefetch_multiplier": settings.CELERY_WORKER_PREFETCH_MULTIPLIER,
    })
    print(f"Written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
