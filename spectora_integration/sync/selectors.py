"""Reads for Spectora pages and API, scoped to a company."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from spectora_integration.models import (
    ConnectionState,
    RunKind,
    RunState,
    SpectoraConnection,
    SyncBatch,
    SyncRun,
    SyncState,
    Trigger,
)
from spectora_integration.sync.eligibility import ABOUT_THE_WORKORDER


def sync_run_list(company, *, state: str = "", include_dismissed: bool = True) -> QuerySet[SyncRun]:
    qs = SyncRun.objects.filter(company=company).select_related("workorder", "requested_by")
    if state:
        qs = qs.filter(state=state)
    if not include_dismissed:
        qs = qs.filter(dismissed_at__isnull=True)
    return qs.order_by("-created_at", "-id")


PROBLEM_FILTERS = {"": (RunState.FAILED, RunState.SKIPPED), "failed": (RunState.FAILED,),
                   "skipped": (RunState.SKIPPED,)}


def problem_run_list(company, *, show: str = "") -> QuerySet[SyncRun]:
    """Runs a person should act on: failed for good or skipped, not retried or dismissed,
    and still the latest run of their workorder (a newer run supersedes them). A run
    skipped because the workorder is cancelled or owned by Spectora is not one: retrying
    it cannot help."""
    newer = SyncRun.objects.filter(
        workorder=OuterRef("workorder"), kind=OuterRef("kind"), id__gt=OuterRef("id")
    )
    return (
        sync_run_list(company, include_dismissed=False)
        .filter(state__in=PROBLEM_FILTERS.get(show, PROBLEM_FILTERS[""]))
        .exclude(Exists(newer))
        .exclude(state=RunState.SKIPPED, reason_code__in=ABOUT_THE_WORKORDER)
    )


@dataclass(frozen=True)
class Fix:
    """Where a person fixes what a run's reason names."""

    url_name: str  # a URL name; "" for the workorder's own Integrations tab
    label: str


CONNECTION_FIX = Fix("spectora:connection", "Check the Spectora connection")
FIXES = {
    "not_connected": CONNECTION_FIX,
    "unauthorized": CONNECTION_FIX,
    "forbidden": CONNECTION_FIX,
    "invalid_api_key": CONNECTION_FIX,
}


def fix_for(run: SyncRun) -> Fix:
    """The page that fixes what this run's reason names (every reason links somewhere)."""
    if run.reason_code == "missing_links":
        if run.reason.startswith("Not linked"):
            return Fix("spectora:staff", "Link the inspectors")
        return Fix("spectora:services", "Map the services")
    return FIXES.get(run.reason_code, Fix("", "See the calls and Spectora's answers"))


def failed_run_list(company) -> QuerySet[SyncRun]:
    return problem_run_list(company, show="failed")


def retries_in_flight(company) -> QuerySet[SyncRun]:
    """Retries a person asked for that have not finished yet."""
    return SyncRun.objects.filter(
        company=company, trigger=Trigger.RETRY, state__in=[RunState.QUEUED, RunState.RUNNING]
    )


def problem_count(company) -> int:
    return problem_run_list(company).count()


# ---------------------------------------------------------------- bulk syncs

@dataclass(frozen=True)
class BatchProgress:
    """The latest "Sync all upcoming workorders", counted from its runs."""

    batch: SyncBatch
    done: int
    failed: int
    skipped: int
    left: int  # queued (or waiting for a retry) or running

    @property
    def total(self) -> int:
        return self.done + self.failed + self.skipped + self.left

    @property
    def finished(self) -> bool:
        return self.left == 0

    @property
    def settled(self) -> int:
        return self.total - self.left


def batch_progress(company) -> BatchProgress | None:
    """Two queries, whatever the size of the batch."""
    batch = SyncBatch.objects.filter(company=company).select_related("requested_by").first()
    if batch is None:
        return None
    counts = SyncRun.objects.filter(batch=batch).aggregate(
        done=Count("id", filter=Q(state=RunState.SUCCEEDED)),
        failed=Count("id", filter=Q(state=RunState.FAILED)),
        skipped=Count("id", filter=Q(state=RunState.SKIPPED)),
        left=Count("id", filter=Q(state__in=[RunState.QUEUED, RunState.RUNNING])),
    )
    return BatchProgress(batch=batch, **counts)


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
    skipped_open: int  # skipped (not sent, with a reason), neither retried nor dismissed
    last_failure_at: datetime | None
    days: list[SyncDay]  # oldest first, today last

    @property
    def connected(self) -> bool:
        return self.connection is not None and self.connection.is_connected

    @property
    def recovered(self) -> bool:
        """Failures happened, but the last sync since then went through."""
        return bool(self.last_failure_at and self.last_success_at
                    and self.last_success_at > self.last_failure_at)

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
    """The integration at a glance, in four queries whatever the number of runs."""
    now = now or timezone.now()
    connection = SpectoraConnection.objects.filter(company=company).first()
    runs = SyncRun.objects.filter(company=company)
    totals = runs.aggregate(
        last_success_at=Max("finished_at", filter=Q(state=RunState.SUCCEEDED)),
        failed_last_24h=Count(
            "id", filter=Q(state=RunState.FAILED, finished_at__gte=now - timedelta(hours=24))
        ),
        last_failure_at=Max("finished_at", filter=Q(state=RunState.FAILED)),
    )
    open_problems = problem_run_list(company).order_by().values("state").annotate(n=Count("id"))
    by_state = {row["state"]: row["n"] for row in open_problems}
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
        failed_open=by_state.get(RunState.FAILED, 0),
        skipped_open=by_state.get(RunState.SKIPPED, 0),
        last_failure_at=totals["last_failure_at"],
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


# ---------------------------------------------------------------- the workorder list

RETRYING = "retrying"
# What the office's list filters by (``?spectora_sync=``): the link's sync_state, with
# "queued" split in two so a person can find the syncs that already failed once.
SYNC_FILTER_CHOICES = [
    (SyncState.NEVER, "Never"),
    (SyncState.QUEUED, "Queued"),
    (RETRYING, "Retrying"),
    (SyncState.SYNCING, "Syncing"),
    (SyncState.SYNCED, "Synced"),
    (SyncState.FAILED, "Failed"),
    (SyncState.SKIPPED, "Skipped"),
]


def _waits_for_a_retry() -> Exists:
    """A sync run of the workorder is queued after at least one attempt: an attempt
    failed with a temporary error (or its worker died) and the run waits for its next
    automatic attempt. A wait for the rate limit gives its attempt back, so it is not
    a retry; a failed run that a person syncs again is a new run (attempts 0)."""
    return Exists(
        SyncRun.objects.filter(
            workorder=OuterRef("pk"),
            kind=RunKind.SYNC,
            state=RunState.QUEUED,
            attempts__gt=0,
        )
    )


def workorders_in_sync_state(workorders: QuerySet, state: str) -> QuerySet:
    """The workorders whose Spectora sync is in ``state`` (one of SYNC_FILTER_CHOICES).

    - never: no SpectoraLink yet, or its sync_state is "never";
    - retrying: sync_state "queued" and a run waits for a retry (``_waits_for_a_retry``);
    - queued: sync_state "queued" and no run waits for a retry;
    - syncing, synced, failed, skipped: that sync_state.

    So every workorder is in exactly one of them. Conditions are on the one-to-one link
    and an EXISTS over the runs: one row per workorder, no DISTINCT.
    """
    if state == SyncState.NEVER:
        return workorders.filter(
            Q(spectora_link__isnull=True) | Q(spectora_link__sync_state=SyncState.NEVER)
        )
    if state == RETRYING:
        return workorders.filter(_waits_for_a_retry(), spectora_link__sync_state=SyncState.QUEUED)
    if state == SyncState.QUEUED:
        return workorders.filter(~_waits_for_a_retry(), spectora_link__sync_state=SyncState.QUEUED)
    if state in SyncState.values:
        return workorders.filter(spectora_link__sync_state=state)
    raise ValueError(f"Unknown sync state {state!r}.")


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
    """While the circuit breaker holds the connection (``sync/breaker.py``): when its next
    probe is due (now, at the latest); None when it is not paused."""
    if connection is None or not connection.is_paused:
        return None
    return max(connection.paused_until or (now or timezone.now()), now or timezone.now())


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
