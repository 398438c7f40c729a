"""A real Celery worker process for the tests that need one.

It runs ``celery -A attik worker`` against the suite's test database and the
configured broker (filesystem by default, Redis in ``bin/test --full``), on a
queue of its own so parallel test processes never take each other's tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


class WorkerProcess:
    def __init__(self, queue: str, concurrency: int = 2, extra_env: dict | None = None,
                 *, lane: str | None = None, nice: int = 0):
        """``lane``: None for both queues (the tests' default), "first" or "background"
        for one, as the Procfile's two workers; ``nice`` as the Procfile's."""
        self.queue = queue
        self.concurrency = concurrency
        self.lane = lane
        self.nice = nice
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None
        self.log_path = Path(settings.VAR_DIR) / f"worker-{queue}-{uuid.uuid4().hex[:4]}.log"

    def env(self) -> dict:
        env = dict(os.environ)
        env["ATTIK_DB_NAME"] = str(connection.settings_dict["NAME"])
        env["ATTIK_QUEUE"] = self.queue
        env["ATTIK_VAR_DIR"] = str(settings.VAR_DIR)
        env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        env.setdefault("DJANGO_SETTINGS_MODULE", "attik.settings")
        env.update(self.extra_env)
        return env

    def start(self) -> WorkerProcess:
        start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        lanes = {"first": self.queue, "background": self.queue + settings.CELERY_BACKGROUND_SUFFIX}
        only = ["-Q", lanes[self.lane]] if self.lane else []
        niced = ["nice", "-n", str(self.nice)] if self.nice else []
        self.process = subprocess.Popen(
            [*niced, sys.executable, "-m", "celery", "-A", "attik", "worker", "--loglevel", "INFO",
             "--concurrency", str(self.concurrency), "--without-gossip", "--without-mingle",
             "--without-heartbeat", *only, "-n", f"{self.queue}-{uuid.uuid4().hex[:4]}@%h"],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._log = log
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes()[start:]:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"worker did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> WorkerProcess:
        self.stop()
        return self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "_log", None):
            self._log.close()


def unique_queue(prefix: str = "test") -> str:
    worker_id = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{prefix}-{worker_id}-{uuid.uuid4().hex[:6]}"


def wait_for(predicate, timeout: float = 30, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
