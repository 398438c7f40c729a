"""Thin Celery tasks: the heartbeat and the daily prune."""

from celery import shared_task

from operations import heartbeat, retention


@shared_task(name=heartbeat.TASK_NAME, acks_late=False, time_limit=30, soft_time_limit=20)
def beat_heartbeat(lane: str = "first") -> None:
    """``lane``: the queue beat sent it to (settings.CELERY_BEAT_SCHEDULE)."""
    heartbeat.record_worker(lane=lane if lane in heartbeat.LANES else "first")


@shared_task(name="operations.prune", acks_late=True, time_limit=3600, soft_time_limit=3500)
def prune() -> dict:
    return retention.prune()
