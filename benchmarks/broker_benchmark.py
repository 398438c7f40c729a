"""The embedded broker (filesystem://) at a 0.02 s poll: does a worker die, how many syncs.

    .venv/bin/python benchmarks/broker_benchmark.py [--messages 10000] [--syncs 300]

Always the embedded default: a temporary ``ATTIK_VAR_DIR`` with SQLite and the
filesystem broker (``DATABASE_URL`` and ``CELERY_BROKER_URL`` are ignored).

1. Transport: ``--messages`` messages published while 2 consumer processes poll
   at 0.02 s (tests/broker_hammer.py), through Attik's transport and, for
   comparison, kombu's stock one (stopped at the first consumer death).
2. Celery: ``--messages`` tasks (Celery's built-in ``celery.accumulate``, which does
   nothing) published while one Celery worker with 2 processes (the Procfile's)
   polls at 0.02 s. Every task id must appear once as succeeded in the worker's
   log, and the worker must still be running at the end.
3. Syncs per minute: ``--syncs`` new workorders booked and queued while no worker
   runs, then the same worker (2 processes, 0.02 s poll) starts; the time until
   every one is synced to the sandbox gives syncs per minute (the backlog's drain
   rate: the most the embedded default carries on this machine).

Prints the figures and writes benchmarks/results/broker_benchmark.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for variable in ("DATABASE_URL", "CELERY_BROKER_URL"):
    os.environ.pop(variable, None)
os.environ["CELERY_POLLING_INTERVAL"] = "0.02"

from benchmarks.harness import (  # noqa: E402 - needs the project root on the path
    ROOT,
    machine_load,
    seconds_until,
    setup_django,
    write_result,
)

POLL = 0.02


def transport(messages: int) -> dict:
    from tests.broker_hammer import OURS, STOCK, hammer

    out = {}
    for label, path, count in (("attik", OURS, messages), ("kombu_stock", STOCK, messages)):
        folder = Path(tempfile.mkdtemp(prefix=f"hammer-{label}-"))
        try:
            out[label] = {**hammer(path, folder, count, consumers=2, polling=POLL),
                          "machine_load": machine_load()}
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return out


def start_worker(queue: str):
    from tests.worker import WorkerProcess

    return WorkerProcess(queue, concurrency=2,
                         extra_env={"CELERY_POLLING_INTERVAL": str(POLL)}).start()


def celery_messages(messages: int) -> dict:
    from django.conf import settings

    from attik.celery import app
    from tests.worker import unique_queue

    queue = settings.CELERY_TASK_DEFAULT_QUEUE = unique_queue("broker")
    worker = start_worker(queue)
    load = machine_load()
    started = time.monotonic()
    try:
        ids = []
        for n in range(messages):
            ids.append(app.send_task("celery.accumulate", args=[n], queue=queue).id)
            if n % 50 == 49:
                time.sleep(0.01)  # a steady stream, not one burst
        published = time.monotonic() - started

        def succeeded() -> set[str]:
            log = worker.log_path.read_text(errors="replace")
            return set(re.findall(r"Task celery\.accumulate\[([0-9a-f-]+)\] succeeded", log))

        drained = seconds_until(lambda: len(succeeded()) >= len(ids) or (
            worker.process.poll() is not None), timeout=max(120, messages / 20), interval=1)
        elapsed = time.monotonic() - started
        alive = worker.process.poll() is None
        done = succeeded()
        log = worker.log_path.read_text(errors="replace")
    finally:
        worker.stop()
    return {
        "messages": messages, "worker_processes": 2, "polling_interval_s": POLL,
        "published_in_s": round(published, 1), "all_done_in_s": round(elapsed, 1)
        if drained is not None else None,
        "succeeded_distinct": len(done & set(ids)), "lost": len(set(ids) - done),
        "worker_alive_at_end": alive,
        "unrecoverable_errors": log.count("Unrecoverable error"),
        "decode_errors": log.count("JSONDecodeError"),
        "messages_per_second": round(len(done) / elapsed, 1),
        "machine_load": load,
    }


def syncs_per_minute(count: int) -> dict:
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from spectora_integration.models import SpectoraLink, SyncState
    from spectora_integration.sync import runs
    from spectora_sandbox import start_sandbox
    from tests.factories import CompanyFactory
    from tests.spectora_fixtures import connect_company
    from tests.worker import unique_queue
    from workorders.models import WorkorderStatus
    from workorders.services import AssigneeInput, LineItemInput, workorder_create

    queue = settings.CELERY_TASK_DEFAULT_QUEUE = unique_queue("syncs")
    sandbox = start_sandbox()
    worker = None
    try:
        wired = connect_company(CompanyFactory(slug="broker-bench"), sandbox)
        booked = []
        for n in range(count):  # no worker yet: each booking queues its sync
            booked.append(workorder_create(
                company=wired.connection.company, user=None,
                values={"scheduled_at": timezone.now() + timedelta(days=1 + n % 30),
                        "duration_minutes": 120, "address": f"{n} Broker St",
                        "client_name": f"Client {n}"},
                assignees=[AssigneeInput(wired.inspectors[n % 4], True)],
                line_items=[LineItemInput(s) for s in wired.services[:2]],
                status=WorkorderStatus.CONFIRMED,
            ))
        queued_by_booking = SpectoraLink.objects.filter(workorder__in=booked).count()
        for wo in booked:  # a Sync click for any the booking did not queue
            if not SpectoraLink.objects.filter(workorder=wo).exists():
                runs.sync_request(wo, None)
        synced = SpectoraLink.objects.filter(workorder__in=booked, sync_state=SyncState.SYNCED)
        load = machine_load()
        started = time.monotonic()
        worker = start_worker(queue)
        drained = seconds_until(lambda: synced.count() == count or (
            worker.process.poll() is not None), timeout=max(300, count * 2), interval=0.5)
        elapsed = time.monotonic() - started
        done = synced.count()
        alive = worker.process.poll() is None
        calls = len(wired.requests_log())
    finally:
        if worker is not None:
            worker.stop()
        sandbox.stop()
    return {
        "workorders": count, "queued_by_booking": queued_by_booking,
        "worker_processes": 2, "polling_interval_s": POLL,
        "synced": done, "seconds": round(elapsed, 1), "all_synced": drained is not None,
        "syncs_per_minute": round(done / elapsed * 60),
        "sandbox_calls": calls, "calls_per_sync": round(calls / max(done, 1), 1),
        "worker_alive_at_end": alive, "machine_load": load,
        "note": "worker start-up (a few seconds) is inside the time",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--syncs", type=int, default=300)
    args = parser.parse_args()
    # the filesystem broker's URL has no host; kombu says so on every connection
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    var_dir = setup_django()
    try:
        result = {"load_at_start": machine_load()}
        result["transport"] = transport(args.messages)
        for label, row in result["transport"].items():
            print(f"transport {label:<12} {row['messages']} messages, 2 consumers at {POLL} s: "
                  f"received {row['distinct']}, lost {row['lost']}, twice {row['duplicates']}, "
                  f"consumer deaths {row['consumer_deaths']} {row['errors'][:1]} "
                  f"({row['seconds']} s)")
        result["celery"] = celery = celery_messages(args.messages)
        print(f"celery: {celery['messages']} tasks through one worker (2 processes) at {POLL} s: "
              f"{celery['succeeded_distinct']} succeeded, {celery['lost']} lost, worker alive "
              f"{celery['worker_alive_at_end']}, {celery['unrecoverable_errors']} unrecoverable "
              f"errors, {celery['messages_per_second']} tasks/s")
        result["syncs"] = syncs = syncs_per_minute(args.syncs)
        print(f"syncs: {syncs['synced']} of {syncs['workorders']} synced in {syncs['seconds']} s "
              f"= {syncs['syncs_per_minute']} syncs/min ({syncs['calls_per_sync']} sandbox calls "
              f"each), worker alive {syncs['worker_alive_at_end']}, load average "
              f"{syncs['machine_load']['loadavg_1m']}")
        result["load_at_end"] = machine_load()
        path = write_result("broker_benchmark", result)
        print(f"Written to {path.relative_to(ROOT)}")
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
