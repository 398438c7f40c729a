"""The drift scan: what changed in Spectora since the last scan, caught up without webhooks.

Every connected company's inspections changed since its watermark (less a small
overlap, for clocks and same-instant changes) are read in ``updated_at`` order
and each goes through ``importer.inspection_receive``, exactly as a webhook
would: Spectora-origin jobs are imported or updated, Attik's own jobs changed by
hand are repaired. The watermark moves to the newest ``updated_at`` seen only
when the whole pass succeeded; a timeout or an error leaves it where it was, so
the next scan covers the same ground again (processing is idempotent).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from spectora_integration.client import SpectoraClient, SpectoraError, parse_time
from spectora_integration.inbound import importer
from spectora_integration.models import ConnectionState, SpectoraConnection, SpectoraLink

log = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=5)
FIRST_LOOKBACK = timedelta(hours=24)


@dataclass
class ScanResult:
    connection_id: int
    since: datetime
    seen: int = 0
    outcomes: Counter = field(default_factory=Counter)
    watermark: datetime | None = None
    error: str = ""

    def as_dict(self) -> dict:
        return {
            "connection_id": self.connection_id, "since": self.since.isoformat(),
            "seen": self.seen, "outcomes": dict(self.outcomes),
            "watermark": self.watermark.isoformat() if self.watermark else None,
            "error": self.error,
        }


def drift_scan_all() -> dict:
    """Scan every connected company; one failing connection does not stop the others."""
    results = {}
    connections = SpectoraConnection.objects.exclude(
        state=ConnectionState.DISCONNECTED
    ).select_related("company")
    for connection in connections:
        if connection.is_connected:
            results[connection.pk] = drift_scan(connection).as_dict()
    return results


def drift_scan(connection: SpectoraConnection, *, now: datetime | None = None) -> ScanResult:
    now = now or timezone.now()
    watermark = connection.drift_watermark
    since = watermark - OVERLAP if watermark else now - FIRST_LOOKBACK
    result = ScanResult(connection.pk, since)
    client = SpectoraClient.for_connection(connection)
    newest = watermark
    try:
        for resource in client.inspections_updated_since(since):
            result.seen += 1
            updated_at = parse_time(resource["updated_at"])
            if updated_at is not None and (newest is None or updated_at > newest):
                newest = updated_at
            if _already_applied(connection, resource.id, updated_at):
                result.outcomes[importer.UNCHANGED] += 1
                continue
            try:
                outcome = importer.inspection_receive(connection, resource.id, client=client)
            except importer.ImportFailed as error:
                outcome = "failed"
                log.warning("drift scan: Spectora job %s for connection %s not imported: %s",
                            resource.id, connection.pk, error.message)
            result.outcomes[outcome] += 1
    except SpectoraError as error:
        # Transient or not, the pass is incomplete: keep the watermark, try again next time.
        result.error = error.message
        log.warning("drift scan for connection %s stopped after %d inspections; watermark "
                    "kept at %s: %s", connection.pk, result.seen, watermark, error.message)
        return result
    if newest is not None and newest != watermark:
        # Never backwards, even if an older scan finishes after a newer one.
        SpectoraConnection.objects.filter(pk=connection.pk).filter(
            Q(drift_watermark__isnull=True) | Q(drift_watermark__lt=newest)
        ).update(drift_watermark=newest)
    result.watermark = newest
    log.info("drift scan for connection %s since %s: %d seen, %s", connection.pk,
             since.isoformat(), result.seen, dict(result.outcomes))
    return result


def _already_applied(connection, inspection_id: str, updated_at: datetime | None) -> bool:
    """Skip the read when Attik already holds this state (the overlap sees it again)."""
    if updated_at is None:
        return False
    return SpectoraLink.objects.filter(
        remote_id=inspection_id, workorder__company_id=connection.company_id,
        remote_updated_at__gte=updated_at,
    ).exists()
