"""Shared set-up for benchmark scripts: a throwaway install, processes, figures.

Each benchmark runs against its own temporary ``ATTIK_VAR_DIR`` (SQLite + the
filesystem broker) unless ``DATABASE_URL`` / ``CELERY_BROKER_URL`` are set, so
it never touches the demo's data. The machine is shared: figures are reported as
ratios to a baseline taken in the same run, next to the load average
(``os.getloadavg``) when each was taken (``machine_load``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

PROTECTED_DATABASES = {"attik", "attik_ci", "attik_rel", "postgres", "template0", "template1"}


def wait_until(predicate, timeout: float = 30, interval: float = 0.1):
    """``predicate()``'s first true value; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


def seconds_until(predicate, timeout: float, interval: float = 0.5) -> float | None:
    """How long ``predicate`` took to come true, or None if it did not within ``timeout``.

    For figures such as "the remaining syncs drained in N s": a timeout is a result
    to record, not a crash.
    """
    started = time.monotonic()
    try:
        wait_until(predicate, timeout=timeout, interval=interval)
    except TimeoutError:
        return None
    return round(time.monotonic() - started, 1)


def machine_load() -> dict:
    """The load average now (1, 5, 15 minutes) per core: other people's work shows here."""
    one, five, fifteen = os.getloadavg()
    cores = os.cpu_count() or 1
    return {"loadavg_1m": round(one, 2), "loadavg_5m": round(five, 2),
            "loadavg_15m": round(fifteen, 2), "cores": cores,
            "load_per_core_1m": round(one / cores, 2)}


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, rounded; None when either is missing or the baseline is 0."""
    if value is None or not baseline:
        return None
    return round(value / baseline, 2)


def summary(latencies: list[float]) -> dict:
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1) if latencies else 0.0,
    }


def setup_django() -> Path:
    """Point settings at a fresh var dir, set Django up and migrate. Returns the var dir."""
    var_dir = Path(tempfile.mkdtemp(prefix="attik-bench-"))
    os.environ.setdefault("ATTIK_VAR_DIR", str(var_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "attik.settings")
    os.environ.setdefault("ATTIK_DEMO_MODE", "true")  # the loopback sandbox, dev keys
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return Path(os.environ["ATTIK_VAR_DIR"])


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    from django.conf import settings

    payload = {
        "benchmark": name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "broker": settings.CELERY_BROKER_URL.split(":", 1)[0],
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


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
