"""Thin Celery tasks: each calls one service."""

from celery import shared_task

from spectora_integration import services

SYNC_TIME_LIMIT = 150  # below services.LEASE_SECONDS: a live run always holds its lease


@shared_task(
    name="spectora.run_sync", acks_late=True, reject_on_worker_lost=True,
    time_limit=SYNC_TIME_LIMIT, soft_time_limit=SYNC_TIME_LIMIT - 20,
)
def run_sync(run_id: int) -> str:
    return services.sync_execute(run_id)


@shared_task(name="spectora.sweep_outbox", acks_late=True, time_limit=120)
def sweep_outbox() -> int:
    return services.sweep_outbox()
