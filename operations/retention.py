"""Retention: old audit rows are deleted in small batches walked by primary key.

Each table is walked from its lowest id upward in windows of ``batch`` ids;
one window is one short statement (or one short transaction for runs, whose
calls and outbox row go with them), so the tables stay usable while a large
backlog is pruned. Ids grow with time, so the walk stops at the first window
holding a row newer than the cutoff; nothing is read through a timestamp
index. A workorder's latest run is always kept, whatever its age.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone

from spectora_integration.models import InboundWebhook, RunState, SyncCall, SyncRun
from workorders.models import ActivityEvent

log = logging.getLogger(__name__)

FINISHED = [RunState.SUCCEEDED, RunState.FAILED, RunState.SKIPPED]


@dataclass(frozen=True)
class Policy:
    name: str
    model: type[models.Model]
    age_field: str  # the time that orders the table (ids grow with it)
    days: int


def policies() -> list[Policy]:
    return [
        Policy("sync_calls", SyncCall, "at", settings.ATTIK_RETAIN_SYNC_CALLS_DAYS),
        Policy("sync_runs", SyncRun, "created_at", settings.ATTIK_RETAIN_SYNC_RUNS_DAYS),
        Policy("inbound_webhooks", InboundWebhook, "received_at",
               settings.ATTIK_RETAIN_WEBHOOKS_DAYS),
        Policy("activity_events", ActivityEvent, "created_at",
               settings.ATTIK_RETAIN_ACTIVITY_DAYS),
    ]


def _next_id(model, start: int) -> int | None:
    return model.objects.filter(pk__gte=start).order_by("pk").values_list("pk", flat=True).first()


def _runs_to_delete(window, cutoff: datetime) -> list[int]:
    """Finished runs older than the cutoff, minus each workorder's latest run."""
    candidates = list(
        window.filter(state__in=FINISHED, finished_at__lt=cutoff).values_list("pk", "workorder_id")
    )
    if not candidates:
        return []
    latest = set(
        SyncRun.objects.filter(workorder_id__in={w for _, w in candidates})
        .values("workorder_id").annotate(latest=Max("pk")).values_list("latest", flat=True)
    )
    return [pk for pk, _ in candidates if pk not in latest]


def _prune_window(policy: Policy, window, cutoff: datetime, dry_run: bool) -> int:
    if policy.model is SyncRun:
        ids = _runs_to_delete(window, cutoff)
        if dry_run or not ids:
            return len(ids)
        with transaction.atomic():
            SyncRun.objects.filter(pk__in=ids).delete()
        return len(ids)
    old = window.filter(**{f"{policy.age_field}__lt": cutoff})
    if dry_run:
        return old.count()
    deleted, _ = old.delete()
    return deleted


def prune_table(policy: Policy, *, now: datetime | None = None, batch: int | None = None,
                dry_run: bool = False) -> int:
    """Delete (or with ``dry_run`` count) the policy's old rows; returns how many."""
    now = now or timezone.now()
    batch = batch or settings.ATTIK_PRUNE_BATCH_SIZE
    cutoff = now - timedelta(days=policy.days)
    model = policy.model
    total = 0
    low = _next_id(model, 0)
    while low is not None:
        window = model.objects.filter(pk__gte=low, pk__lt=low + batch)
        total += _prune_window(policy, window, cutoff, dry_run)
        if window.filter(**{f"{policy.age_field}__gte": cutoff}).exists():
            break  # rows from here on are newer than the cutoff
        low = _next_id(model, low + batch)
    return total


def prune(*, now: datetime | None = None, batch: int | None = None,
          dry_run: bool = False) -> dict[str, int]:
    """Every table's old rows; logs and returns the counts per table."""
    counts = {p.name: prune_table(p, now=now, batch=batch, dry_run=dry_run) for p in policies()}
    log.info("%s old rows: %s", "would prune" if dry_run else "pruned",
             " ".join(f"{name}={n}" for name, n in counts.items()),
             extra={"prune_counts": counts, "dry_run": dry_run})
    return counts
