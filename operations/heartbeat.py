"""The Celery heartbeat: beat enqueues ``operations.heartbeat`` every few seconds,
once on each lane (the first queue, and the background one: docs/performance.md).

Timestamps tell the processes apart: ``beat_at`` is written by the beat process when
it has published the task (``after_task_publish``), and ``worker_at`` by the worker
that runs it, one row per lane (``NAME`` for the first lane, ``BACKGROUND_NAME``), so a
lane no worker consumes shows even while the other is served. ``/health/`` judges each
by its age.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from operations.models import Heartbeat

log = logging.getLogger(__name__)

TASK_NAME = "operations.heartbeat"
NAME = "celery"
BACKGROUND_NAME = "celery.background"
LANES = {"first": NAME, "background": BACKGROUND_NAME}


def record_beat(now: datetime | None = None) -> None:
    Heartbeat.objects.update_or_create(name=NAME, defaults={"beat_at": now or timezone.now()})


def record_worker(now: datetime | None = None, *, lane: str = "first") -> None:
    Heartbeat.objects.update_or_create(name=LANES[lane],
                                       defaults={"worker_at": now or timezone.now()})


def last_heartbeat() -> Heartbeat | None:
    return Heartbeat.objects.filter(name=NAME).first()


def lane_heartbeats() -> dict[str, Heartbeat | None]:
    """Each lane's row (None before its first heartbeat), in one query."""
    rows = {row.name: row for row in Heartbeat.objects.filter(name__in=LANES.values())}
    return {lane: rows.get(name) for lane, name in LANES.items()}


def on_publish(sender=None, **kwargs) -> None:
    if sender != TASK_NAME:
        return
    try:
        record_beat()
    except Exception:  # the database is down: /health/ reports it; beat goes on
        log.exception("could not record the beat heartbeat")


def watch_beat_publishes(**kwargs) -> None:
    """Connected to ``beat_init``: from then on this process records its heartbeat publishes."""
    from celery.signals import after_task_publish

    after_task_publish.connect(on_publish, weak=False, dispatch_uid="attik-beat-heartbeat")
