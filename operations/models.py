"""What the operations app stores: the Celery heartbeat."""

from django.db import models


class Heartbeat(models.Model):
    """When beat last enqueued the heartbeat task, and when a worker last ran it.

    One row per ``name`` (``celery``). Kept in the database so the web
    processes can judge beat and the workers whatever the broker is.
    """

    name = models.CharField(max_length=40, unique=True)
    beat_at = models.DateTimeField(null=True, blank=True)
    worker_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"heartbeat {self.name}"
