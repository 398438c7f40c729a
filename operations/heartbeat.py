"""The Celery heartbeat: beat enqueues ``operations.heartbeat`` every few seconds.

Two timestamps tell the two processes apart: ``beat_at`` is written by the
beat process when it has published the task (``after_task_publish``), and
``worker_at`` by the worker that runs it. ``/health/`` judges each by its age.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from operations.models import Heartbeat

log = logging.getLogger(__name__)

TASK_NAME = "operations.heartbeat"
NAME = "celery"


def record_beat(now: datetime | None = None) -> None:
    Heartbeat.objects.update_or_create(name=NAME, defaults={"beat_at": now or timezone.now()})


def record_worker(now: datetime | None = None) -> None:
    Heartbeat.objects.update_or_create(name=NAME, defaults={"worker_at": now or timezone.now()})


def last_heartbeat() -> Heartbeat | None:
    return Heartbeat.objects.filter(name=NAME).first()


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
