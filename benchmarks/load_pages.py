"""Part 1 of the load benchmark: office pages under load while syncs run.

``--users`` office-staff members sign in through the real login form, then each
loops without think time: GET the list (a random page, search, or filter), GET a
random workorder's page, first without syncs (the baseline), then while the main
thread requests ``--syncs`` syncs that 2 Celery workers carry out against the
sandbox. Figures under syncs are reported as ratios to that baseline.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from datetime import timedelta

from benchmarks.harness import (
    WebServer,
    cpu_snapshot,
    cpu_use,
    log_problems,
    machine_load,
    purge_queue,
    ratio,
    seconds_until,
    summary,
)
from benchmarks.load_seed import LAST_NAMES, PAGE_SIZE, PASSWORD, seed_workorders, staff_users


def sign_in(base: str, username: str):
    import requests

    session = requests.Session()
    page = session.get(f"{base}/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if page.status_code != 200 or token is None:
        raise RuntimeError(f"login page answered {page.status_code} without a CSRF token")
    answer = session.post(
        f"{base}/login/",
        data={"username": username, "password": PASSWORD,
              "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/login/"}, allow_redirects=False, timeout=60,
    )
    if answer.status_code != 302 or "sessionid" not in session.cookies:
        raise RuntimeError(f"login of {username} answered {answer.status_code}")
    return session


def list_params(rng: random.Random, pages: int, inspectors: list[int], today) -> tuple:
    roll = rng.random()
    if roll < 0.4:
        return "page", {"page": rng.randint(1, pages)}
    if roll < 0.55:
        return "search", {"search": rng.choice(LAST_NAMES)}
    if roll < 0.7:
        return "status", {"status": rng.choice(["unconfirmed", "confirmed", "cancelled"]),
                          "page": rng.randint(1, 3)}
    if roll < 0.85:
        return "inspector", {"inspector": rng.choice(inspectors), "page": rng.randint(1, 3)}
    start = today + timedelta(days=rng.randint(-300, 300))
    return "date_range", {"date_from": start.isoformat(),
                          "date_to": (start + timedelta(days=14)).isoformat()}


def user_loop(session, base, ids, inspectors, pages, today, deadline, seed, out) -> None:
    import requests

    rng = random.Random(seed)
    records = []
    while time.monotonic() < deadline:
        variant, params = list_params(rng, pages, inspectors, today)
        for kind, url, query in (("list", f"{base}/workorders/", params),
                                 ("detail", f"{base}/workorders/{rng.choice(ids)}/", None)):
            started = time.perf_counter()
            try:
                status = session.get(url, params=query, allow_redirects=False,
                                     timeout=60).status_code
            except requests.RequestException as error:
                status = type(error).__name__
            records.append((kind, variant, (time.perf_counter() - started) * 1000, status))
            if time.monotonic() >= deadline:
                break
    out.extend(records)


def run_users(sessions, base, ids, inspectors, today, seconds, rng, during=None):
    """Each session loops list + detail for ``seconds``; ``during(start, deadline)`` meanwhile."""
    results: list[tuple] = []
    pages = -(-len(ids) // PAGE_SIZE)
    start = time.monotonic()
    deadline = start + seconds
    threads = [
        threading.Thread(target=user_loop, daemon=True,
                         args=(session, base, ids, inspectors, pages, today, deadline,
                               rng.random(), results))
        for session in sessions
    ]
    for thread in threads:
        thread.start()
    extra = during(start, deadline) if during else None
    for thread in threads:
        thread.join(timeout=90)
    return results, time.monotonic() - start, extra


def page_figures(results: list[tuple], elapsed: float) -> dict:
    errors: dict[str, int] = {}
    for record in results:
        if record[3] != 200:
            errors[f"{record[0]} {record[3]}"] = errors.get(f"{record[0]} {record[3]}", 0) + 1
    variants = {}
    for variant in ("page", "search", "status", "inspector", "date_range"):
        values = [r[2] for r in results if r[0] == "list" and r[1] == variant]
        variants[variant] = {k: v for k, v in summary(values).items() if k != "max_ms"}
    return {
        "seconds": round(elapsed, 1),
        "requests": len(results),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "pages_per_second": round(len(results) / elapsed, 1),
        "list": summary([r[2] for r in results if r[0] == "list"]),
        "detail": summary([r[2] for r in results if r[0] == "detail"]),
        "list_by_variant": variants,
    }


def ratios_to_baseline(figures: dict, baseline: dict | None) -> dict | None:
    """Each latency under syncs over the same figure without them (same run, same pages)."""
    if not baseline:
        return None
    out = {f"{kind}_{stat}": ratio(figures[kind][stat], baseline[kind][stat])
           for kind in ("list", "detail") for stat in ("p50_ms", "p95_ms", "p99_ms")}
    out["pages_per_second"] = ratio(figures["pages_per_second"], baseline["pages_per_second"])
    return out


def pages_under_load(args, rng: random.Random) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings
    from django.utils import timezone

    from spectora_integration.models import RunState, SyncRun
    from spectora_integration.sync import runs
    from spectora_sandbox import start_sandbox
    from tests.factories import CompanyFactory
    from tests.spectora_fixtures import connect_company
    from tests.worker import WorkerProcess, unique_queue
    from workorders.models import Workorder, WorkorderStatus

    token = uuid.uuid4().hex[:6]
    queue = settings.CELERY_TASK_DEFAULT_QUEUE = unique_queue("load")
    sandbox = start_sandbox()
    web, workers = None, []
    done_states = [RunState.SUCCEEDED, RunState.FAILED, RunState.SKIPPED]
    try:
        wired = connect_company(CompanyFactory(slug=f"load-{token}", name="Load Test Inspections"),
                                sandbox)
        company = wired.connection.company
        started = time.monotonic()
        ids = seed_workorders(company, args.seed, wired.inspectors, wired.services[:2],
                              wired.services[2:], rng)
        users = staff_users(company, args.users, f"load-{token}")
        print(f"  seeded {len(ids)} workorders and {len(users)} office staff "
              f"in {time.monotonic() - started:.1f} s")
        web = WebServer(queue, args.web_workers, args.web_threads).start()
        for _ in range(args.celery_workers):
            workers.append(WorkerProcess(queue, concurrency=args.worker_concurrency).start())
        groups = {"web (gunicorn)": {web.process.pid},
                  "celery workers": {w.process.pid for w in workers}}
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=min(8, len(users))) as pool:
            sessions = list(pool.map(lambda u: sign_in(web.url, u.username), users))
        login_seconds = time.monotonic() - started
        print(f"  gunicorn {args.web_workers}x{args.web_threads} at {web.url}, "
              f"{len(workers)} Celery workers (concurrency {args.worker_concurrency}); "
              f"{len(sessions)} users signed in through the form in {login_seconds:.1f} s")
        today = timezone.localdate()
        inspectors = [e.pk for e in wired.inspectors]

        baseline = None
        if args.baseline > 0:
            baseline_load = machine_load()
            before = cpu_snapshot()
            results, elapsed, _ = run_users(sessions, web.url, ids, inspectors, today,
                                            args.baseline, rng)
            baseline = {**page_figures(results, elapsed),
                        "cpu_cores_used": cpu_use(before, cpu_snapshot(), groups),
                        "machine_load_at_start": baseline_load}

        eligible = list(Workorder.objects.filter(pk__in=ids).exclude(
            status=WorkorderStatus.CANCELLED).values_list("pk", flat=True))
        to_sync = list(Workorder.objects.filter(pk__in=rng.sample(eligible, args.syncs)))

        def request_syncs(start, deadline) -> dict:
            run_ids = [runs.sync_request(wo, users[0]).pk for wo in to_sync]
            requested_after = time.monotonic() - start
            their_runs = SyncRun.objects.filter(pk__in=run_ids)
            all_done_at = None
            while time.monotonic() < deadline:
                if all_done_at is None and (
                        their_runs.filter(state__in=done_states).count() == len(run_ids)):
                    all_done_at = time.monotonic() - start
                time.sleep(0.5)
            return {"run_ids": run_ids, "requested_after": requested_after,
                    "all_done_at": all_done_at, "window": time.monotonic() - start,
                    "in_window": {state: their_runs.filter(state=state).count()
                                  for state in RunState.values}}

        load_at_start = machine_load()
        before = cpu_snapshot()
        results, elapsed, sync = run_users(sessions, web.url, ids, inspectors, today,
                                           args.seconds, rng, during=request_syncs)
        cpu = cpu_use(before, cpu_snapshot(), groups)
        their_runs = SyncRun.objects.filter(pk__in=sync["run_ids"])
        # None (recorded, not raised) when they do not all finish within --drain seconds
        drained = seconds_until(
            lambda: their_runs.filter(state__in=done_states).count() == their_runs.count(),
            timeout=args.drain, interval=0.5)
        after = {state: their_runs.filter(state=state).count() for state in RunState.values}
    finally:
        for worker in workers:
            worker.stop()
        if web is not None:
            web.stop()
        sandbox.stop()
        purge_queue(queue)

    logs = {"gunicorn": log_problems(web.log_text())}
    for n, worker in enumerate(workers):
        logs[f"worker_{n}"] = log_problems(worker.log_path.read_text(errors="replace"))
    in_window, window, all_done_at = sync["in_window"], sync["window"], sync["all_done_at"]
    figures = page_figures(results, elapsed)
    return {
        "users": len(sessions),
        "workorders": len(ids),
        "web": {"server": "gunicorn", "workers": args.web_workers, "threads": args.web_threads},
        "celery": {"processes": len(workers), "concurrency": args.worker_concurrency},
        "login_seconds": round(login_seconds, 1),
        **figures,
        "cpu_cores_used": cpu,
        "sync": {
            "requested": len(sync["run_ids"]),
            "requested_in_s": round(sync["requested_after"], 2),
            "window_s": round(window, 1),
            "in_window": in_window,
            "finished_in_window": sum(in_window[s] for s in done_states),
            # over the time the syncs took: the window, or less if all finished in it
            "succeeded_per_second_under_load": round(
                in_window[RunState.SUCCEEDED] / (all_done_at or window), 2),
            "all_finished_after_s": round(all_done_at, 1) if all_done_at else None,
            "after_drain": after,
            "drain_s": drained,
            "drain_wait_s": args.drain,
        },
        "baseline_without_syncs": baseline,
        "machine_load_at_start": load_at_start,
        "ratios_to_baseline": ratios_to_baseline(figures, baseline),
        "log_problems": logs,
    }


def print_pages(figures: dict) -> None:
    print(f"  {figures['requests']} requests in {figures['seconds']} s, {figures['errors']} errors "
          f"(non-200){' ' + str(figures['errors_by_kind']) if figures['errors'] else ''}, "
          f"{figures['pages_per_second']} pages/s")
    for kind in ("list", "detail"):
        row = figures[kind]
        print(f"  {kind:<7} {row['requests']:>5} req  p50 {row['p50_ms']:>7} ms  "
              f"p95 {row['p95_ms']:>7} ms  p99 {row['p99_ms']:>7} ms  max {row['max_ms']} ms")


def print_cpu(cpu: dict | None) -> None:
    if cpu:
        parts = ", ".join(f"{k} {v}" for k, v in cpu.items()
                          if k not in ("machine_busy_share", "cores") and v)
        print(f"  CPU cores used ({cpu['cores']} in all, machine busy "
              f"{cpu['machine_busy_share']:.0%}): {parts}")


def print_load(load: dict) -> None:
    print(f"Pages under load ({load['users']} users without think time, "
          f"{load['workorders']} workorders, gunicorn {load['web']['workers']}x"
          f"{load['web']['threads']}):")
    base = load["baseline_without_syncs"]
    if base:
        print(" baseline, no syncs running:")
        print_pages(base)
        print_cpu(base["cpu_cores_used"])
        print(f" while {load['sync']['requested']} syncs are requested and run:")
    print_pages(load)
    ratios = load["ratios_to_baseline"]
    if ratios:
        print("  as a ratio to the baseline: " + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    print("  load average (1 min) at the start: baseline "
          f"{base['machine_load_at_start']['loadavg_1m'] if base else '-'}, with syncs "
          f"{load['machine_load_at_start']['loadavg_1m']} ({load['machine_load_at_start']['cores']}"
          " cores)")
    for variant, row in load["list_by_variant"].items():
        print(f"    list/{variant:<11} {row['requests']:>5} req  p50 {row['p50_ms']:>7} ms  "
              f"p95 {row['p95_ms']:>7} ms")
    print_cpu(load["cpu_cores_used"])
    sync = load["sync"]
    print(f"  syncs: {sync['requested']} requested in {sync['requested_in_s']} s; "
          f"{sync['finished_in_window']} finished in the {sync['window_s']} s window "
          f"({sync['in_window']['succeeded']} succeeded, {sync['in_window']['failed']} failed, "
          f"{sync['in_window']['skipped']} skipped) = "
          f"{sync['succeeded_per_second_under_load']} succeeded/s under load")
    if sync["all_finished_after_s"]:
        print(f"  all {sync['requested']} finished {sync['all_finished_after_s']} s into the "
              f"window: {sync['after_drain']}")
    elif sync["drain_s"] is not None:
        print(f"  the rest finished {sync['drain_s']} s after the window (load stopped): "
              f"{sync['after_drain']}")
    else:
        print(f"  not all finished after a further {sync['drain_wait_s']} s wait: "
              f"{sync['after_drain']}")
    problems = {k: v["lines"] for k, v in load["log_problems"].items() if v["lines"]}
    if problems:
        print(f"  log lines with errors: {problems}")
        for name, value in load["log_problems"].items():
            for line in value["first"]:
                print(f"    {name}: {line[:160]}")
