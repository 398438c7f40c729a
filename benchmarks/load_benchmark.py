"""Office pages under load while syncs run, and the workorder list at scale.

    .venv/bin/python benchmarks/load_benchmark.py [--users 20] [--seconds 30] [--rows 100000]

Uses ``DATABASE_URL`` / ``CELERY_BROKER_URL`` when set (a PostgreSQL database
named in ``DATABASE_URL`` is created if missing and dropped at the end), else a
throwaway embedded install (temporary ``ATTIK_VAR_DIR``: SQLite + the
filesystem broker).

1. Pages under load: one company with ``--seed`` workorders (bulk-created), the
   web app under gunicorn (3 processes x 4 threads), the sandbox and 2 Celery
   worker processes. ``--users`` office-staff members sign in through the real
   login form, then each of ``--users`` threads loops without think time for
   ``--seconds``: GET the list (a random page, search, or filter), GET a random
   workorder's page. Meanwhile the main thread requests syncs for ``--syncs``
   eligible workorders and the workers carry them out against the sandbox.
2. The list at scale: ``--rows`` workorders in one company (bulk_create in
   batches of 5,000), list pages timed through Django's test client (median of
   5 after one warm-up), the queries one list page makes, and the plans of the
   list's workorder queries (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN
   on SQLite).

Prints the figures and writes benchmarks/results/load_benchmark.json.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    ROOT,
    percentile,
    setup_django,
    wait_until,
    write_result,
)

PASSWORD = "load-bench-password"
BATCH = 5000
PAGE_SIZE = 25
PROTECTED_DATABASES = {"attik", "attik_ci", "attik_rel", "postgres", "template0", "template1"}
FIRST_NAMES = [
    "Alice", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal",
    "Keiko", "Liam", "Maria", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe", "Amara", "Boris", "Carmen", "Diego",
]
LAST_NAMES = [
    "Anderson", "Baptiste", "Castillo", "Dubois", "Eriksen", "Fischer", "Gallagher", "Haddad",
    "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quintero", "Rossi", "Schmidt", "Tanaka", "Umarov", "Varga", "Whitfield", "Xu", "Yilmaz",
    "Zimmermann", "Abbott", "Brennan", "Carvalho", "Delgado", "Esposito", "Fontaine",
    "Greenberg", "Holloway", "Ishikawa", "Jovanovic", "Kaminski", "Lombardi", "Mbeki", "Novak",
]
STREETS = ["Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Elm St", "Pine Rd", "Lakeview Blvd",
           "Hillcrest Way", "River Rd", "Sunset Ave", "Park Pl", "Church St"]
CITIES = ["Springfield", "Riverton", "Fairview", "Greenville", "Madison", "Georgetown"]


# ------------------------------------------------------------------ database and processes

def prepare_database() -> dict:
    """Create the PostgreSQL database named in DATABASE_URL when it does not exist yet."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        return {"postgres": False, "created": False}
    import environ
    import psycopg
    from psycopg import sql

    config = environ.Env.db_url_config(url)
    name = config["NAME"]
    if name in PROTECTED_DATABASES or name.startswith("test_"):
        sys.exit(f"refusing to benchmark in database {name!r}: use your own, e.g. attik_bench")
    kwargs = {key: config[field] for key, field in
              (("host", "HOST"), ("port", "PORT"), ("user", "USER"), ("password", "PASSWORD"))
              if config.get(field)}
    with psycopg.connect(dbname="postgres", autocommit=True, **kwargs) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return {"postgres": True, "created": not exists, "name": name, "connect": kwargs}


def drop_database(db: dict) -> None:
    import psycopg
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    with psycopg.connect(dbname="postgres", autocommit=True, **db["connect"]) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(db["name"])))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebServer:
    """gunicorn serving attik.wsgi from the venv, with the benchmark's environment."""

    def __init__(self, queue: str, workers: int, threads: int):
        from django.conf import settings
        from django.db import connection

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(settings.VAR_DIR) / f"gunicorn-{self.port}.log"
        self.cmd = [
            str(Path(sys.prefix) / "bin" / "gunicorn"), "attik.wsgi",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
            "--threads", str(threads), "--timeout", "60", "--graceful-timeout", "5",
            "--log-level", "warning", "--error-logfile", str(self.log_path),
        ]
        self.env = dict(os.environ)
        self.env.update({
            "ATTIK_VAR_DIR": str(settings.VAR_DIR),
            "ATTIK_DB_NAME": str(connection.settings_dict["NAME"]),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "ATTIK_QUEUE": queue,
            "DJANGO_SETTINGS_MODULE": "attik.settings",
        })
        self.process: subprocess.Popen | None = None

    def start(self) -> WebServer:
        import requests

        self.process = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)

        def up() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_text()[-3000:]}")
            try:
                return requests.get(f"{self.url}/login/", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, timeout=60, interval=0.2)
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def purge_queue(queue: str) -> None:
    """Leave nothing of this run on the broker (Redis keeps a queue's messages forever)."""
    from django.conf import settings

    from attik.celery import app

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return  # lives in the var dir, removed with it

    try:
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            channel.queue_purge(queue)
            if hasattr(channel, "keyprefix_queue"):  # Redis: the run's own exchange's tables
                prefix = getattr(channel, "global_keyprefix", "")
                channel.client.delete(prefix + channel.keyprefix_queue % queue,
                                      prefix + channel.keyprefix_binding_permanent % queue)
    except Exception as error:  # nothing was ever sent to it, or the broker is gone
        print(f"  (could not purge queue {queue}: {error})")


def log_problems(text: str) -> dict:
    lines = text.splitlines()
    bad = [line for line in lines if "Traceback" in line or " ERROR " in line
           or "CRITICAL" in line]
    return {"lines": len(bad), "first": bad[:3]}


# ------------------------------------------------------------------ seeding

def client_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def seed_workorders(company, count: int, employees: list, primaries: list, add_ons: list,
                    rng: random.Random, *, cancelled_share: float = 0.1) -> list[int]:
    """Bulk-create ``count`` workorders with 1-2 assignees and 1-3 line items each."""
    from django.utils import timezone

    from workorders.models import Assignment, LineItem, Workorder, WorkorderStatus

    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    number = company.last_workorder_number
    ids: list[int] = []
    for start in range(0, count, BATCH):
        batch = []
        for _ in range(min(BATCH, count - start)):
            number += 1
            roll = rng.random()
            status = (WorkorderStatus.CANCELLED if roll < cancelled_share else
                      WorkorderStatus.UNCONFIRMED if roll < cancelled_share + 0.3 else
                      WorkorderStatus.CONFIRMED)
            name = client_name(rng)
            batch.append(Workorder(
                company=company, number=number, status=status,
                scheduled_at=now + timedelta(minutes=30 * rng.randint(-17520, 17520)),
                duration_minutes=rng.choice([90, 120, 180]),
                address=f"{rng.randint(1, 9999)} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
                client_name=name,
                client_email=f"{name.lower().replace(' ', '.')}@example.com",
                cancel_reason="Client rescheduled" if status == WorkorderStatus.CANCELLED else "",
            ))
        created = Workorder.objects.bulk_create(batch, batch_size=BATCH)
        assignments, items = [], []
        for wo in created:
            crew = rng.sample(employees, 2 if rng.random() < 0.3 else 1)
            assignments += [Assignment(workorder_id=wo.pk, employee=e, primary=n == 0)
                            for n, e in enumerate(crew)]
            services = [rng.choice(primaries), *rng.sample(add_ons, rng.randint(0, 2))]
            items += [LineItem(workorder_id=wo.pk, service=s, price_cents=s.price_cents)
                      for s in services]
        Assignment.objects.bulk_create(assignments, batch_size=BATCH)
        LineItem.objects.bulk_create(items, batch_size=BATCH)
        ids += [wo.pk for wo in created]
    company.last_workorder_number = number
    company.save(update_fields=["last_workorder_number"])
    return ids


def staff_users(company, count: int, prefix: str) -> list:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from workorders.models import Membership, Role

    user_model = get_user_model()
    hashed = make_password(PASSWORD)  # hashed once: signing in still runs the real hasher
    users = user_model.objects.bulk_create([
        user_model(username=f"{prefix}-{n}", email=f"{prefix}-{n}@example.com", password=hashed)
        for n in range(count)
    ])
    users = list(user_model.objects.filter(username__startswith=f"{prefix}-").order_by("id"))
    Membership.objects.bulk_create([
        Membership(user=user, company=company, role=Role.OFFICE_STAFF) for user in users
    ])
    return users


def summary(latencies: list[float]) -> dict:
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1) if latencies else 0.0,
    }


# ------------------------------------------------------------------ 1. pages under load

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


def cpu_snapshot() -> dict | None:
    """CPU ticks per process (pid: (pgrp, comm, ticks)) and the machine's busy/total, Linux."""
    try:
        procs = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                raw = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2:].split()
            if comm.startswith("postgres"):  # "postgres: 15/main: user db [local] idle"
                with contextlib.suppress(OSError):
                    comm = Path(entry.path, "cmdline").read_text().replace("\0", " ")
            procs[int(entry.name)] = (int(fields[2]), comm, int(fields[11]) + int(fields[12]))
        cpu = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return {"procs": procs, "total": sum(cpu), "idle": cpu[3] + cpu[4]}
    except (OSError, ValueError):
        return None


def cpu_use(before, after, groups: dict[str, set[int]]) -> dict | None:
    """Cores used in the interval by each group of process groups, the rest, and in all.

    PostgreSQL backends serving another database (other people's tests on a shared
    machine) count as "other", with every process this benchmark did not start.
    """
    from django.db import connection

    if not before or not after:
        return None
    other_db = re.compile(r"postgres: [^:]+: \S+ (\S+) (\[local\]|\d)")  # user db host
    ours = str(connection.settings_dict["NAME"])
    total = (after["total"] - before["total"]) / (os.cpu_count() or 1)  # ticks of wall time
    if total <= 0:
        return None
    used = dict.fromkeys([*groups, "load generator + sandbox", "postgres", "redis", "other"], 0)
    if not groups:
        used["this process"] = used.pop("load generator + sandbox")
    for pid, (pgrp, comm, ticks) in after["procs"].items():
        delta = ticks - before["procs"].get(pid, (0, "", 0))[2]
        if delta <= 0:
            continue
        name = next((g for g, members in groups.items() if pgrp in members), None)
        backend = other_db.match(comm)
        if name is None:
            name = (("this process" if not groups else "load generator + sandbox")
                    if pid == os.getpid() else
                    "other" if backend and backend.group(1) != ours else
                    "postgres" if comm.startswith("postgres") else
                    "redis" if comm.startswith("redis") else "other")
        used[name] += delta
    busy = 1 - (after["idle"] - before["idle"]) / (after["total"] - before["total"])
    return {
        **{name: round(ticks / total, 2) for name, ticks in used.items()},
        "machine_busy_share": round(busy, 2),
        "cores": os.cpu_count(),
    }


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
            before = cpu_snapshot()
            results, elapsed, _ = run_users(sessions, web.url, ids, inspectors, today,
                                            args.baseline, rng)
            baseline = {**page_figures(results, elapsed),
                        "cpu_cores_used": cpu_use(before, cpu_snapshot(), groups)}

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

        before = cpu_snapshot()
        results, elapsed, sync = run_users(sessions, web.url, ids, inspectors, today,
                                           args.seconds, rng, during=request_syncs)
        cpu = cpu_use(before, cpu_snapshot(), groups)
        their_runs = SyncRun.objects.filter(pk__in=sync["run_ids"])
        drain_started = time.monotonic()
        try:
            wait_until(
                lambda: their_runs.filter(state__in=done_states).count() == their_runs.count(),
                timeout=args.drain, interval=0.5)
            drained = round(time.monotonic() - drain_started, 1)
        except TimeoutError:
            drained = None
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
    return {
        "users": len(sessions),
        "workorders": len(ids),
        "web": {"server": "gunicorn", "workers": args.web_workers, "threads": args.web_threads},
        "celery": {"processes": len(workers), "concurrency": args.worker_concurrency},
        "login_seconds": round(login_seconds, 1),
        **page_figures(results, elapsed),
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
        "log_problems": logs,
    }


# ------------------------------------------------------------------ 2. the list at scale

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


def date_range_alternative(company, date_from, date_to) -> dict:
    """The date-range filter written as a range on scheduled_at itself (not what the page does).

    ``scheduled_at__date`` compares a cast of the column, which no index on
    scheduled_at can serve; the same days as aware datetimes can use
    workorder_company_sched.
    """
    from datetime import datetime
    from datetime import time as day_time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from workorders import selectors

    start = timezone.make_aware(datetime.combine(date_from, day_time.min))
    end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), day_time.min))
    qs = selectors.workorder_list(company).filter(scheduled_at__gte=start, scheduled_at__lt=end)
    page_qs = selectors.workorder_list(company, date_from=date_from, date_to=date_to)

    def median_ms(queryset) -> float:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            queryset.count()
            list(queryset[:PAGE_SIZE])
            runs.append((time.perf_counter() - started) * 1000)
        return round(statistics.median(runs), 1)

    with CaptureQueriesContext(connection) as captured:
        matches = qs.count()
        list(qs[:PAGE_SIZE])
    return {"matches": matches, "page_matches": page_qs.count(),
            "count_and_first_25_median_ms": median_ms(qs),
            "page_filter_count_and_first_25_median_ms": median_ms(page_qs),
            "workorder_queries": workorder_plans(captured)}


def list_at_scale(args, rng: random.Random) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from workorders import selectors
    from workorders.filters import workorder_filterset
    from workorders.models import Company, Employee, Service, ServiceKind

    token = uuid.uuid4().hex[:6]
    company = Company.objects.create(name="Scale Inspections", slug=f"scale-{token}")
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
    ids = seed_workorders(company, args.rows, employees, primaries, add_ons, rng)
    seed_seconds = time.monotonic() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # what autovacuum would have done by now
            cursor.execute("ANALYZE workorders_workorder, workorders_assignment, "
                           "workorders_lineitem")
    print(f"  seeded {len(ids)} workorders on {connection.vendor} in {seed_seconds:.1f} s "
          f"({len(ids) / seed_seconds:.0f} rows/s, with their assignments and line items)")
    user = staff_users(company, 1, f"scale-{token}")[0]
    client = Client()
    client.force_login(user)
    url = reverse("workorders:list")
    today = timezone.localdate()
    sample = selectors.workorder_list(company)[len(ids) // 2]
    cases = {
        "first_page": {},
        "page_200": {"page": "200"},
        "search_client_name": {"search": sample.client_name},
        "status_filter": {"status": "unconfirmed"},
        "date_range": {"date_from": today.isoformat(),
                       "date_to": (today + timedelta(days=30)).isoformat()},
        "inspector_filter": {"inspector": str(employees[3].pk)},
    }
    out: dict = {}
    before = cpu_snapshot()
    for name, params in cases.items():
        filterset = workorder_filterset()(
            params or None, queryset=selectors.workorder_list(company), company=company
        )
        matches = filterset.qs.count()
        client.get(url, params)  # warm-up, not counted
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            response = client.get(url, params)
            runs.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.status_code)
        with CaptureQueriesContext(connection) as captured:
            client.get(url, params)
        plans = workorder_plans(captured)
        out[name] = {"params": params, "matches": matches,
                     "median_ms": round(statistics.median(runs), 1),
                     "runs_ms": [round(r, 1) for r in runs],
                     "queries": len(captured.captured_queries), "workorder_queries": plans}
    cpu = cpu_use(before, cpu_snapshot(), {})
    main = selectors.workorder_list(company).order_by("-scheduled_at", "-number")[:PAGE_SIZE]
    if connection.vendor == "postgresql":
        main_plan = main.explain(analyze=True).splitlines()
    else:
        main_plan = main.explain().splitlines()
    access = access_to_workorders(main_plan)
    alternative = date_range_alternative(company, today, today + timedelta(days=30))
    return {
        "rows": len(ids),
        "database": connection.vendor,
        "seed_seconds": round(seed_seconds, 1),
        "seed_rows_per_second": round(len(ids) / seed_seconds),
        "queries_per_list_page": out["first_page"]["queries"],
        "cpu_cores_used_while_timing": cpu,
        "cases": out,
        "main_list_query": {
            "access": access,
            "uses_index": access in ("index", "bitmap", "bitmap+index"),
            "seq_scan": "seq_scan" in access,
            "plan": main_plan,
        },
        "date_range_as_datetime_range": alternative,
    }


# ------------------------------------------------------------------ main

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


def print_scale(scale: dict) -> None:
    print(f"List pages at scale ({scale['rows']} workorders in one company, "
          f"{scale['database']}; Django test client, median of 5):")
    for name, case in scale["cases"].items():
        access = ", ".join(
            f"{p['query']}: {p['access']}" + (f" {p['execution_ms']} ms" if p["execution_ms"]
                                              else "")
            + (f", {p['rows_removed_by_filter']} filtered out" if p["rows_removed_by_filter"]
               else "")
            for p in case["workorder_queries"])
        print(f"  {name:<19} {case['median_ms']:>8} ms  {case['matches']:>6} matches  "
              f"{case['queries']} queries  [{access}]")
    main = scale["main_list_query"]
    cpu = scale["cpu_cores_used_while_timing"]
    if cpu and cpu.get("other", 0) >= 0.2:
        print(f"  (other processes used {cpu['other']} cores while these were timed)")
    print(f"  queries per list page: {scale['queries_per_list_page']}; main list query "
          f"(first 25): {main['access']} (uses index: {main['uses_index']})")
    alt = scale["date_range_as_datetime_range"]
    page = {p["query"]: p for p in scale["cases"]["date_range"]["workorder_queries"]}
    print("  date range as a range on scheduled_at instead of __date (not what the page "
          f"does): {alt['matches']} matches (page: {alt['page_matches']}); count + first 25 "
          f"rows {alt['count_and_first_25_median_ms']} ms against "
          f"{alt['page_filter_count_and_first_25_median_ms']} ms" + "".join(
              f"; {p['query']}: {p['access']} {p['execution_ms']} ms (page: "
              f"{page.get(p['query'], {}).get('access')} "
              f"{page.get(p['query'], {}).get('execution_ms')} ms)"
              for p in alt["workorder_queries"] if p["execution_ms"] is not None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2000, help="workorders for part 1")
    parser.add_argument("--syncs", type=int, default=300)
    parser.add_argument("--baseline", type=float, default=10,
                        help="seconds of the same page load before the syncs, 0 to skip")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--celery-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--drain", type=float, default=60,
                        help="seconds to wait after the window for the remaining syncs")
    parser.add_argument("--keep", action="store_true",
                        help="keep the benchmark database and var dir")
    args = parser.parse_args()
    # the filesystem broker's URL has no host; kombu says so on every connection
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    own_var_dir = "ATTIK_VAR_DIR" not in os.environ
    db = prepare_database()
    var_dir = setup_django()
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"Database: {engine}{' (created ' + db['name'] + ')' if db.get('created') else ''}; "
          f"broker: {settings.CELERY_BROKER_URL.split(':', 1)[0]}; var dir {var_dir}")
    rng = random.Random(20251125)
    try:
        load = pages_under_load(args, rng)
        print_load(load)
        scale = list_at_scale(args, rng)
        print_scale(scale)
        path = write_result("load_benchmark", {"pages_under_load": load, "list_at_scale": scale})
        print(f"Written to {path.relative_to(ROOT)}")
    finally:
        if not args.keep:
            if db.get("created"):
                drop_database(db)
                print(f"Dropped database {db['name']}")
            if own_var_dir:
                shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
