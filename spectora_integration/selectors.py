"""Reads for Spectora pages and API, scoped to a company."""

from __future__ import annotations

from django.db.models import QuerySet

from spectora_integration.models import RunState, SyncRun


def sync_run_list(company, *, state: str = "", include_dismissed: bool = True) -> QuerySet[SyncRun]:
    qs = SyncRun.objects.filter(company=company).select_related("workorder", "requested_by")
    if state:
        qs = qs.filter(state=state)
    if not include_dismissed:
        qs = qs.filter(dismissed_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def failed_run_list(company) -> QuerySet[SyncRun]:
    return sync_run_list(company, state=RunState.FAILED, include_dismissed=False)
