"""Webhook deliveries: stored on arrival, processed by a worker, reprocessed on request.

A delivery is only a hint that an inspection changed: ``process_delivery``
hands its id to ``importer.inspection_receive``, which reads the inspection
from Spectora itself. A transient failure is retried with capped backoff; one
that gives up is shown on the delivery in the admin, with Reprocess.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from spectora_integration import queueing
from spectora_integration.client import SpectoraError
from spectora_integration.inbound.importer import (
    DELETED_EVENT,
    ImportFailed,
    inspection_receive,
)
from spectora_integration.models import InboundWebhook, SpectoraConnection
from spectora_integration.sync.backoff import backoff_delay

log = logging.getLogger(__name__)

MAX_RETRIES = 5
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 300.0


def delivery_store(
    connection: SpectoraConnection, *, webhook_id: str, event_type: str, inspection_id: str,
    payload: dict,
) -> InboundWebhook | None:
    """Keep a verified delivery and queue it; None when this ``webhook-id`` came before.

    The unique (connection, webhook_id) constraint decides, not a read: two copies
    arriving at once still make one row and one task.
    """
    try:
        with transaction.atomic():
            delivery = InboundWebhook.objects.create(
                connection=connection, webhook_id=webhook_id, event_type=event_type,
                inspection_id=inspection_id, payload=payload,
            )
            transaction.on_commit(lambda: delivery_enqueue(delivery.pk))
    except IntegrityError:
        return None
    return delivery


def delivery_enqueue(inbound_id: int, countdown: float = 0) -> None:
    queueing.enqueue("process_webhook", inbound_id, countdown=countdown,
                     fallback="the delivery stays unprocessed and the drift scan catches up")


def process_delivery(inbound_id: int) -> str:
    """The task body: act on one stored delivery.

    A transient Spectora error is recorded and raised, for the task to retry; any other
    failure is recorded on the delivery (a person sees it in the admin) and returned.
    """
    delivery = (
        InboundWebhook.objects.select_related("connection__company").filter(pk=inbound_id).first()
    )
    if delivery is None:
        return "missing"
    if delivery.processed_at is not None:
        return "already_processed"
    InboundWebhook.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    attempt = delivery.attempts + 1
    try:
        outcome = inspection_receive(
            delivery.connection, delivery.inspection_id,
            deleted=delivery.event_type == DELETED_EVENT,
        )
    except SpectoraError as error:
        if not error.permanent:
            _delivery_failed(delivery, f"Attempt {attempt} of {MAX_RETRIES + 1} failed: "
                                       f"{error.message} It will be retried.")
            raise
        _delivery_failed(delivery, error.message)
        return "failed"
    except ImportFailed as error:
        _delivery_failed(delivery, error.message)
        return "failed"
    except Exception as error:
        _delivery_failed(delivery, f"Unexpected error ({error.__class__.__name__}); see the "
                                   "worker log.")
        raise
    InboundWebhook.objects.filter(pk=delivery.pk).update(processed_at=timezone.now(), error="")
    log.info("spectora webhook %s (%s %s): %s", delivery.pk, delivery.event_type,
             delivery.inspection_id, outcome)
    return outcome


def delivery_gave_up(inbound_id: int, error: SpectoraError) -> None:
    delivery = InboundWebhook.objects.filter(pk=inbound_id).first()
    if delivery is not None:
        _delivery_failed(delivery, f"Gave up after {delivery.attempts} attempts. Last error: "
                                   f"{error.message} Reprocess it from the admin once "
                                   "Spectora answers again.")


def _delivery_failed(delivery: InboundWebhook, message: str) -> None:
    InboundWebhook.objects.filter(pk=delivery.pk).update(error=message[:1000])
    log.warning("spectora webhook %s (%s %s) failed: %s", delivery.pk, delivery.event_type,
                delivery.inspection_id, message)


def delivery_reprocess(deliveries) -> int:
    """Process these deliveries again (the admin's Reprocess action)."""
    ids = list(deliveries.values_list("pk", flat=True))
    InboundWebhook.objects.filter(pk__in=ids).update(processed_at=None, error="")
    for inbound_id in ids:
        transaction.on_commit(lambda inbound_id=inbound_id: delivery_enqueue(inbound_id))
    return len(ids)


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """When a delivery whose Spectora read failed is tried again."""
    return backoff_delay(attempt, retry_after, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)
