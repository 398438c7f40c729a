"""Reads for Spectora pages and API, scoped to a company."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from spectora_integration.models import RunState, SpectoraConnection, SyncRun


def sync_run_list(company, *, state: str = "", include_dismissed: bool = True) -> QuerySet[SyncRun]:
    qs = SyncRun.objects.filter(company=company).select_related("workorder", "requested_by")
    if state:
        qs = qs.filter(state=state)
    if not include_dismissed:
        qs = qs.filter(dismissed_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def failed_run_list(company) -> QuerySet[SyncRun]:
    return sync_run_list(company, state=RunState.FAILED, include_dismissed=False)


# ---------------------------------------------------------------- integration health

@dataclass(frozen=True)
class SyncDay:
    """Runs (syncs, cancels, refreshes) that finished on one office day."""

    day: date
    succeeded: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.failed


@dataclass(frozen=True)
class SyncHealth:
    connection: SpectoraConnection | None
    last_success_at: datetime | None
    failed_last_24h: int
    failed_open: int  # failed, and neither retried nor dismissed yet
    days: list[SyncDay]  # oldest first, today last

    @property
    def connected(self) -> bool:
        return self.connection is not None and self.connection.is_connected

    @property
    def paused_since(self) -> datetime | None:
        """When Spectora stopped answering, while the connection is paused."""
        return self.connection.paused_since if self.connection is not None else None

    @property
    def pause_message(self) -> str:
        return self.connection.pause_message if self.connection is not None else ""

    @property
    def busiest(self) -> int:
        return max((d.total for d in self.days), default=0)

    @property
    def total(self) -> int:
        return sum(d.total for d in self.days)


def sync_health(company, *, days: int = 14, now: datetime | None = None) -> SyncHealth:
    """The integration at a glance, in three queries whatever the number of runs."""
    now = now or timezone.now()
    connection = SpectoraConnection.objects.filter(company=company).first()
    runs = SyncRun.objects.filter(company=company)
    totals = runs.aggregate(
        last_success_at=Max("finished_at", filter=Q(state=RunState.SUCCEEDED)),
        failed_last_24h=Count(
            "id", filter=Q(state=RunState.FAILED, finished_at__gte=now - timedelta(hours=24))
        ),
        failed_open=Count("id", filter=Q(state=RunState.FAILED, dismissed_at__isnull=True)),
    )
    today = timezone.localdate(now)
    first_day = today - timedelta(days=days - 1)
    per_day = (
        runs.filter(
            finished_at__gte=timezone.make_aware(datetime.combine(first_day, time.min)),
            state__in=[RunState.SUCCEEDED, RunState.FAILED],
        )
        .annotate(day=TruncDate("finished_at"))
        .values("day")
        .annotate(
            succeeded=Count("id", filter=Q(state=RunState.SUCCEEDED)),
            failed=Count("id", filter=Q(state=RunState.FAILED)),
        )
        .order_by("day")
    )
    found = {row["day"]: SyncDay(row["day"], row["succeeded"], row["failed"]) for row in per_day}
    series = [first_day + timedelta(days=n) for n in range(days)]
    return SyncHealth(
        connection=connection,
        last_success_at=totals["last_success_at"],
        failed_last_24h=totals["failed_last_24h"],
        failed_open=totals["failed_open"],
        days=[found.get(day, SyncDay(day)) for day in series],
    )


# ---------------------------------------------------------------- one workorder

def connection_of(company) -> SpectoraConnection | None:
    return SpectoraConnection.objects.filter(company=company).first()


def link_of(workorder):
    """The workorder's SpectoraLink, or None (uses a select_related one when loaded)."""
    try:
        return workorder.spectora_link
    except ObjectDoesNotExist:
        return None
