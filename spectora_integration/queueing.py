"""Sending a task to the workers in a way that survives a broker outage.

Every write that needs a worker first leaves a durable trace in the database
(an outbox row, an unprocessed webhook delivery, ...), so a failed enqueue is
logged and caught up by the sweeper or scan named in ``fallback``, never lost.
The task module is imported here, late, and nowhere else in the services: it
is the one allowed cycle (tasks call services, services enqueue tasks).
"""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger(__name__)


def enqueue(task_name: str, *args, countdown: float = 0, fallback: str,
            background: bool = False) -> None:
    from spectora_integration import tasks

    task = getattr(tasks, task_name)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    if background:
        queue += settings.CELERY_BACKGROUND_SUFFIX
    try:
        task.apply_async(args, countdown=countdown or None, queue=queue)
    except Exception:  # the broker is down
        log.exception("could not enqueue %s%s; %s", task_name, args, fallback)


def enqueue_run(run_id: int, countdown: float = 0, *, urgent: bool | None = None) -> None:
    """Send a sync run to the workers; if the broker is down, the outbox sweeper sends it later.

    A run a person asked for goes to the first lane, any other to the background lane
    (``urgent`` None: read from the run).
    """
    if urgent is None:
        from spectora_integration.models import SyncRun

        run = SyncRun.objects.filter(pk=run_id).only("kind", "trigger", "requesters").first()
        urgent = run is None or run.urgent
    enqueue("run_sync", run_id, countdown=countdown, background=not urgent,
            fallback="the outbox sweeper will enqueue it")
