"""Reads for Spectora pages and API, scoped to a company."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from spectora_integration.models import ConnectionState, RunState, SpectoraConnection, SyncRun


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


# ---------------------------------------------------------------- queue and connection health

def _due(now: datetime) -> Q:
    return Q(state=RunState.QUEUED) & (Q(next_attempt_at__isnull=True)
                                       | Q(next_attempt_at__lte=now))


def sync_queue(runs: QuerySet[SyncRun], *, now: datetime | None = None) -> dict:
    """Queued (due now), retrying (waiting out a backoff), running, and the oldest due wait.

    A run's wait starts when it became due: the end of its backoff, else its creation.
    """
    now = now or timezone.now()
    figures = runs.aggregate(
        queued=Count("id", filter=_due(now)),
        retrying=Count("id", filter=Q(state=RunState.QUEUED, next_attempt_at__gt=now)),
        running=Count("id", filter=Q(state=RunState.RUNNING)),
        oldest_due_since=Min(Coalesce("next_attempt_at", "created_at"), filter=_due(now)),
    )
    since = figures.pop("oldest_due_since")
    figures["oldest_queued_seconds"] = (
        max(0, int((now - since).total_seconds())) if since else 0
    )
    return figures


def paused_until(connection: SpectoraConnection | None, *, now: datetime | None = None):
    """When the circuit breaker resumes the connection, or None if it is not paused.

    Read defensively: a connection without a ``paused_until`` is never paused.
    """
    until = getattr(connection, "paused_until", None)
    if until is None or until <= (now or timezone.now()):
        return None
    return until


def connection_status(connection: SpectoraConnection | None, *,
                      now: datetime | None = None) -> str:
    """``connected``, ``paused``, ``failing`` or ``not_connected``."""
    if connection is None or not connection.is_connected:
        return "not_connected"
    if paused_until(connection, now=now) is not None:
        return "paused"
    if connection.state == ConnectionState.FAILING:
        return "failing"
    return "connected"


def spectora_health(company, *, now: datetime | None = None) -> dict:
    """The API's health figures; failed_24h is the dashboard's (``sync_health``)."""
    now = now or timezone.now()
    health = sync_health(company, days=1, now=now)
    queue = sync_queue(SyncRun.objects.filter(company=company), now=now)
    until = paused_until(health.connection, now=now)
    return {
        "connection": connection_status(health.connection, now=now),
        "paused_until": until,
        "queued": queue["queued"],
        "retrying": queue["retrying"],
        "failed_24h": health.failed_last_24h,
        "oldest_queued_seconds": queue["oldest_queued_seconds"],
    }


def run_log_context(run_id: int) -> dict:
    """What a worker's log lines for this run carry (ids only: no personal data)."""
    row = SyncRun.objects.filter(pk=run_id).values(
        "company_id", "workorder_id", "request_id", "attempts"
    ).first()
    if row is None:
        return {"sync_run": run_id}
    return {
        "company": row["company_id"], "workorder": row["workorder_id"], "sync_run": run_id,
        "attempt": row["attempts"] + 1, "request_id": row["request_id"] or None,
    }
