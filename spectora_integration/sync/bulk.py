"""Syncing many workorders at once: "Sync all upcoming workorders", and the workorders
that were waiting for a staff link or a service mapping an admin just fixed.

Both pick the company's workorders scheduled from today on (office time zone), ask
``eligibility`` about each, and queue the eligible ones through
``runs.sync_request_many`` (trigger ``bulk``). The others are counted by reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from spectora_integration.models import SpectoraLink, SyncBatch, SyncState, Trigger
from spectora_integration.sync import runs
from spectora_integration.sync.eligibility import (
    CANCELLED,
    NOT_CONNECTED,
    SPECTORA_ORIGIN,
    Ineligible,
    check_eligibility,
    is_connected,
    missing_items,
)
from spectora_integration.sync.selectors import connection_of
from workorders.models import Origin, Workorder, WorkorderStatus

CHUNK = runs.BULK_CHUNK


# Workorders named per reason on the progress panel; the count says how many in all.
NAMED_PER_REASON = 20


@dataclass(frozen=True)
class SkipGroup:
    """Upcoming workorders left out for one reason (one missing link, or cancelled...)."""

    code: str
    reason: str
    count: int
    fix_url_name: str = ""
    workorders: tuple[tuple[int, str], ...] = ()  # (pk, "WO-1022"), the first few

    def as_dict(self) -> dict:
        return {"code": self.code, "reason": self.reason, "count": self.count,
                "fix": self.fix_url_name, "workorders": [list(w) for w in self.workorders]}


@dataclass
class SyncAllResult:
    batch: SyncBatch | None
    queued: int = 0
    new: int = 0
    joined: int = 0
    skipped: int = 0  # workorders left out (one may appear in several groups)
    groups: list[SkipGroup] = field(default_factory=list)


class NotConnected(Exception):
    """Nothing can sync: the company has no working connection."""

    ineligible = NOT_CONNECTED


def start_of_today():
    """Midnight today in the office's time zone (settings.TIME_ZONE)."""
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


def upcoming(company) -> QuerySet[Workorder]:
    return Workorder.objects.filter(company=company, scheduled_at__gte=start_of_today())


def _with_children(workorders: QuerySet[Workorder]) -> QuerySet[Workorder]:
    return workorders.prefetch_related(
        "assignments__employee", "line_items__service__report_types"
    ).order_by("scheduled_at", "pk")


def _candidates(workorders: QuerySet[Workorder]):
    """Attik-made, not cancelled: the ones a sync may send. Loaded a chunk at a time."""
    ids = list(
        workorders.exclude(status=WorkorderStatus.CANCELLED)
        .exclude(origin=Origin.SPECTORA)
        .order_by("scheduled_at", "pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), CHUNK):
        yield from _with_children(Workorder.objects.filter(pk__in=ids[start:start + CHUNK]))


def _sort_out(workorders, connection, left_out: Counter, reasons: dict,
              named: dict | None = None) -> list[Workorder]:
    """The eligible ones; the others counted in ``left_out`` by reason, and the first
    ``NAMED_PER_REASON`` of each reason named in ``named`` (pk, "WO-1022")."""
    named = {} if named is None else named
    eligible = []
    for workorder in workorders:
        ineligible = check_eligibility(workorder, connection=connection)
        if ineligible is None:
            eligible.append(workorder)
            continue
        left_out["workorders"] += 1
        if ineligible.code != "missing_links":
            keys = [_count(left_out, reasons, ineligible)]
        else:
            keys = []
            for missing in missing_items(workorder):
                key = (ineligible.code, missing.reason)
                reasons[key] = missing.fix_url_name
                left_out[key] += 1
                keys.append(key)
        for key in keys:
            names = named.setdefault(key, [])
            if len(names) < NAMED_PER_REASON:
                names.append((workorder.pk, str(workorder)))
    return eligible


def _count(left_out: Counter, reasons: dict, ineligible: Ineligible, n: int = 1) -> tuple:
    key = (ineligible.code, ineligible.message)
    reasons[key] = ineligible.fix_url_name
    left_out[key] += n
    return key


def sync_all(company, user, *, force: bool = False) -> SyncAllResult:
    """Queue a bulk sync of every eligible workorder of ``company`` scheduled from today on.

    Records a SyncBatch that the queued runs point to (a run already queued joins
    and moves to this batch). Raises NotConnected when nothing could sync.
    """
    connection = connection_of(company)
    if not is_connected(connection):
        raise NotConnected(NOT_CONNECTED.message)
    workorders = upcoming(company)
    left_out, reasons, named = Counter(), {}, {}
    excluded = workorders.aggregate(
        cancelled=Count("pk", filter=Q(status=WorkorderStatus.CANCELLED)),
        spectora=Count("pk", filter=Q(origin=Origin.SPECTORA)
                       & ~Q(status=WorkorderStatus.CANCELLED)),
    )
    for ineligible, n in ((CANCELLED, excluded["cancelled"]),
                          (SPECTORA_ORIGIN, excluded["spectora"])):
        if n:
            _count(left_out, reasons, ineligible, n)
            left_out["workorders"] += n
    eligible = _sort_out(_candidates(workorders), connection, left_out, reasons, named)
    groups = sorted(
        (SkipGroup(code, reason, left_out[(code, reason)], reasons[(code, reason)],
                   tuple(named.get((code, reason), ())))
         for code, reason in reasons),
        key=lambda g: (-g.count, g.reason),
    )
    batch = SyncBatch.objects.create(
        company=company, requested_by=user if getattr(user, "pk", None) else None,
        force=force, skipped=left_out["workorders"],
        left_out=[group.as_dict() for group in groups],
    )
    label = "Force sync" if force else "Sync"
    queued = runs.sync_request_many(
        company, eligible, user, force=force, trigger=Trigger.BULK, batch=batch,
        activity=f"{label} queued by Sync all upcoming workorders.",
    )
    SyncBatch.objects.filter(pk=batch.pk).update(total=queued.queued)
    batch.total = queued.queued
    return SyncAllResult(batch=batch, queued=queued.queued, new=queued.new,
                         joined=queued.joined, skipped=left_out["workorders"], groups=groups)


WAITING_STATES = (SyncState.NEVER, SyncState.SKIPPED)


def resync_waiting(company, user, *, employees=(), services=(), report_types=()) -> int:
    """Queue the upcoming workorders that waited for these (now linked or mapped) rows.

    Only workorders never synced or whose last sync was skipped, that involve one of
    the rows and are eligible now; returns how many were queued.
    """
    if not (employees or services or report_types):
        return 0
    connection = connection_of(company)
    if not is_connected(connection):
        return 0
    involved = (
        Q(assignments__employee__in=list(employees))
        | Q(line_items__service__in=list(services))
        | Q(line_items__service__report_types__in=list(report_types))
    )
    settled = SpectoraLink.objects.filter(workorder__company=company).exclude(
        sync_state__in=WAITING_STATES
    )
    waiting = (
        upcoming(company).filter(involved)
        .exclude(pk__in=settled.values("workorder_id"))
    )
    eligible = _sort_out(_candidates(waiting.distinct()), connection, Counter(), {})
    if not eligible:
        return 0
    return runs.sync_request_many(
        company, eligible, user, trigger=Trigger.BULK,
        activity="Sync queued: the link or mapping it waited for was fixed.",
    ).queued
