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


def enqueue(task_name: str, *args, countdown: float = 0, fallback: str) -> None:
    from spectora_integration import tasks

    task = getattr(tasks, task_name)
    try:
        task.apply_async(args, countdown=countdown or None,
                         queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    except Exception:  # the broker is down
        log.exception("could not enqueue %s%s; %s", task_name, args, fallback)


def enqueue_run(run_id: int, countdown: float = 0) -> None:
    """Send a sync run to the workers; if the broker is down, the outbox sweeper sends it later."""
    enqueue("run_sync", run_id, countdown=countdown, fallback="the outbox sweeper will enqueue it")
