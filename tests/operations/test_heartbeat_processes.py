"""The heartbeat end to end: a real beat and a real worker make /health/ ok; each one's
death turns its own check red."""

import os
import signal
import subprocess
import sys

import pytest

from tests.worker import ROOT, WorkerProcess, unique_queue, wait_for


def checks(client) -> dict:
    return client.get("/health/").json()["checks"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_beat_and_worker_keep_health_green_and_each_death_shows(client, settings, tmp_path):
    queue = unique_queue("heartbeat")
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.ATTIK_HEARTBEAT_STALE_SECONDS = 4
    extra = {"ATTIK_HEARTBEAT_SECONDS": "1"}
    worker = WorkerProcess(queue, concurrency=1, extra_env=extra).start()
    beat_log = open(tmp_path / "beat.log", "wb")  # noqa: SIM115 - closed below
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "attik", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "beat-schedule")],
        cwd=ROOT, env={**worker.env(), **extra}, stdout=beat_log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: client.get("/health/").status_code == 200, timeout=45)
        worker.kill()
        found = wait_for(lambda: (c := checks(client)) and not c["worker"]["ok"] and c,
                         timeout=30)
        assert found["beat"]["ok"], found
        os.killpg(beat.pid, signal.SIGKILL)
        beat.wait(timeout=10)
        found = wait_for(lambda: (c := checks(client)) and not c["beat"]["ok"] and c,
                         timeout=30)
        assert client.get("/health/").status_code == 503
    finally:
        if beat.poll() is None:
            os.killpg(beat.pid, signal.SIGKILL)
            beat.wait(timeout=10)
        beat_log.close()
        worker.stop()
