"""Thin Celery tasks: each calls one service."""

import logging

from celery import shared_task

from attik import logcontext
from spectora_integration.client import TransientError
from spectora_integration.inbound import deliveries, drift, importer
from spectora_integration.sync import engine, runs, selectors

log = logging.getLogger(__name__)

# Below the workorder's lease, so a run that is still alive always holds its lease.
SYNC_TIME_LIMIT = max(10, runs.LEASE_SECONDS - 30)
DRIFT_SCAN_TIME_LIMIT = 600


@shared_task(
    name="spectora.run_sync", acks_late=True, reject_on_worker_lost=True,
    time_limit=SYNC_TIME_LIMIT, soft_time_limit=int(SYNC_TIME_LIMIT * 0.85),
)
def run_sync(run_id: int) -> str:
    # Every line logged while it runs names the run, its workorder and company, the
    # attempt, and the request id of the click that queued it.
    with logcontext.bound(**selectors.run_log_context(run_id)):
        result = engine.sync_execute(run_id)
        log.info("sync run %s: %s", run_id, result)
        return result


@shared_task(name="spectora.sweep_outbox", acks_late=True, time_limit=120,
             soft_time_limit=100)
def sweep_outbox() -> int:
    return runs.sweep_outbox()


@shared_task(
    name="spectora.process_webhook", bind=True, acks_late=True, max_retries=deliveries.MAX_RETRIES,
    time_limit=120, soft_time_limit=100,
)
def process_webhook(self, inbound_id: int) -> str:
    try:
        return deliveries.process_delivery(inbound_id)
    except TransientError as error:
        if self.request.retries >= deliveries.MAX_RETRIES:
            deliveries.delivery_gave_up(inbound_id, error)
            return "failed"
        delay = deliveries.retry_delay(self.request.retries + 1, error.retry_after)
        raise self.retry(exc=error, countdown=delay) from error


@shared_task(name="spectora.refresh_workorder", acks_late=True, time_limit=120,
             soft_time_limit=100)
def refresh_workorder(workorder_id: int) -> str:
    return importer.workorder_refresh(workorder_id)


@shared_task(
    name="spectora.drift_scan", acks_late=True, time_limit=DRIFT_SCAN_TIME_LIMIT,
    soft_time_limit=DRIFT_SCAN_TIME_LIMIT - 30,
)
def drift_scan() -> dict:
    return drift.drift_scan_all()
