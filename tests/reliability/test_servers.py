"""Redis restarted and PostgreSQL restarted in the middle of a run: work resumes, nothing lost.

Only on the real servers (``bin/test --full``), as root, one test at a time.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from spectora_integration.sync import runs
from tests.reliability.conftest import (
    assert_spectora_equals_attik,
    every_run_finished_visibly,
    record,
    retry_failed_until_clean,
    run_figures,
    settle,
)
from tests.spectora_fixtures import connect_company
from tests.spectora_integration.test_sync import book

pytestmark = [
    pytest.mark.timeout(2400),  # soak runs are long by design; each is bounded inside
    pytest.mark.full,
    pytest.mark.soak,
    pytest.mark.worker,
    pytest.mark.xdist_group("worker"),
    pytest.mark.django_db(transaction=True),
]


def on_real_servers() -> bool:
    return (settings.CELERY_BROKER_URL.startswith("redis://")
            and connection.vendor == "postgresql")


def request_quietly(workorders) -> None:
    """Request syncs the way a busy office would, even while a server is away."""
    for wo in workorders:
        for _ in range(50):
            try:
                runs.sync_request(wo, None)
                break
            except Exception:  # the database is restarting; try again
                connection.close()
                time.sleep(0.2)


def test_a_redis_restart_mid_run_loses_nothing(workers, company, sandbox):
    if not on_real_servers():
        pytest.skip("needs PostgreSQL + Redis")
    wired = connect_company(company, sandbox)
    batch = [book(wired) for _ in range(100)]
    workers(2)
    request_quietly(batch[:50])
    subprocess.run(["redis-cli", "shutdown", "nosave"], check=False, timeout=30)
    time.sleep(1)
    request_quietly(batch[50:])  # enqueues fail; the outbox keeps them
    subprocess.run(["redis-server", "--daemonize", "yes", "--save", "", "--appendonly", "no"],
                   check=True, timeout=30)
    for _ in range(50):
        if subprocess.run(["redis-cli", "ping"], capture_output=True, timeout=5).returncode == 0:
            break
        time.sleep(0.2)
    settle(600)
    every_run_finished_visibly()
    retried = retry_failed_until_clean()
    assert_spectora_equals_attik(wired, batch)
    record("redis_restart", workorders=len(batch), retried_by_admin=retried, **run_figures())


def test_a_database_restart_mid_run_loses_nothing(workers, company, sandbox):
    if not on_real_servers():
        pytest.skip("needs PostgreSQL + Redis")
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    wired = connect_company(company, sandbox)
    batch = [book(wired) for _ in range(60)]
    workers(2)
    request_quietly(batch)
    time.sleep(0.5)
    subprocess.run(["pg_ctlcluster", version, "main", "restart", "-m", "fast"], check=True,
                   timeout=120)
    connection.close()
    for _ in range(100):
        try:
            connection.ensure_connection()
            break
        except Exception:  # still starting
            connection.close()
            time.sleep(0.2)
    settle(600)
    every_run_finished_visibly()
    retried = retry_failed_until_clean()
    assert_spectora_equals_attik(wired, batch)
    record("postgres_restart", workorders=len(batch), retried_by_admin=retried, **run_figures())
