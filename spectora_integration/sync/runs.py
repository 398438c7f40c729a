"""The sync queue: requesting, retrying, dismissing and sweeping runs.

``sync_request`` writes a SyncRun and an outbox row in one transaction and
enqueues the task on commit; a request for a workorder that already has a
queued run joins it. The outbox sweeper re-enqueues runs whose message was
lost. Running a run is ``engine.sync_execute``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from attik import logcontext
from spectora_integration.models import (
    RunKind,
    RunState,
    SpectoraConnection,
    SpectoraLink,
    SyncBatch,
    SyncOutbox,
    SyncRun,
    SyncState,
    Trigger,
    is_urgent,
)
from spectora_integration.queueing import enqueue_run
from spectora_integration.sync.eligibility import Ineligible, check_eligibility
from workorders.models import Workorder
from workorders.services import activity_record, activity_record_many

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# Waiting for Spectora's rate limit is not a failure: it defers the run without
# using an attempt, up to this many times.
MAX_RATE_LIMIT_DEFERRALS = 50
BACKOFF_BASE_SECONDS = settings.SPECTORA_BACKOFF_BASE_SECONDS
BACKOFF_CAP_SECONDS = 300.0  # well below Redis' visibility timeout (settings: 3600 s)
LEASE_SECONDS = settings.SPECTORA_SYNC_LEASE_SECONDS  # above the task's hard time limit
AUTO_SYNC_DELAY_SECONDS = 2.0  # lets a burst of edits join one run
SWEEP_AFTER_SECONDS = settings.SPECTORA_SWEEP_AFTER_SECONDS
# A re-sync's usual cost in calls (one read, one write): the pace of a backlog.
CALLS_PER_RUN = 2
# A background run is paced when the company's waiting runs need more than this long.
PACE_FROM_SECONDS = 1.0
PACE_CAP_SECONDS = 3000.0  # below Redis' visibility timeout (settings: 3600 s)


# A person's Sync / Force sync (page, API, admin) runs a run waiting for a retry now.
CUTS_THE_WAIT = (Trigger.MANUAL, Trigger.API, Trigger.ADMIN)


def _probe_soon(company_id: int) -> None:
    """While Spectora is not answering, a person's click checks it sooner (breaker.py)."""
    from spectora_integration.sync import breaker  # breaker sends runs back through here

    breaker.probe_soon(company_id)


def _waiting_for_retry(run: SyncRun) -> bool:
    return run.next_attempt_at is not None and run.next_attempt_at > timezone.now()


class SyncRefused(Exception):
    """A sync that is clearly ineligible at request time (the API answers 409)."""

    def __init__(self, ineligible: Ineligible):
        super().__init__(ineligible.message)
        self.ineligible = ineligible


# ---------------------------------------------------------------- requesting

def _requester(user, trigger: str) -> dict:
    return {
        "user_id": getattr(user, "pk", None),
        "username": user.get_username() if user is not None else "system",
        "trigger": trigger,
        "at": timezone.now().isoformat(),
    }


def sync_request(
    workorder: Workorder,
    user=None,
    *,
    force: bool = False,
    trigger: str = Trigger.MANUAL,
    kind: str = RunKind.SYNC,
    strict: bool = False,
) -> SyncRun:
    """Queue a sync (or cancel) of ``workorder``; joins a run already queued for it.

    ``strict`` refuses a clearly ineligible request with SyncRefused (the API
    answers 409, the page says why) after recording it as a skipped run, so the
    reason stays on the workorder and on Failed syncs, not only in a toast.
    """
    if strict:
        ineligible = check_eligibility(workorder, for_cancel=kind == RunKind.CANCEL)
        if ineligible is not None:
            record_refusal(workorder, user, ineligible, trigger=trigger, kind=kind)
            raise SyncRefused(ineligible)
    with transaction.atomic():
        # Serialise requests for one workorder: the row lock (PostgreSQL) or the
        # write lock (SQLite, IMMEDIATE transactions).
        Workorder.objects.select_for_update().filter(pk=workorder.pk).first()
        link, _ = SpectoraLink.objects.get_or_create(workorder=workorder)
        run = (
            SyncRun.objects.filter(workorder=workorder, kind=kind, state=RunState.QUEUED)
            .order_by("id")
            .first()
        )
        if trigger in CUTS_THE_WAIT:
            _probe_soon(workorder.company_id)
        if run is not None:
            was_urgent = run.urgent
            run.requesters = [*run.requesters, _requester(user, trigger)][-50:]
            run.force = run.force or force
            fields = ["requesters", "force"]
            if not run.request_id and logcontext.current_request_id():
                # A click joining an automatic run: one grep follows it from here on.
                run.request_id = logcontext.current_request_id()
                fields.append("request_id")
            if trigger in CUTS_THE_WAIT and _waiting_for_retry(run):
                # A person asked: run it now. A delayed message sent earlier then finds
                # the run finished or not yet due again, and claims nothing.
                run.next_attempt_at = timezone.now()
                fields.append("next_attempt_at")
                SyncOutbox.objects.filter(run=run).update(enqueued_at=run.next_attempt_at)
                transaction.on_commit(lambda: enqueue_run(run.pk, urgent=True))
            elif run.urgent and not was_urgent and not _waiting_for_retry(run):
                # A person joins an automatic or bulk run: it moves to the first lane now
                # (its background message later finds it finished and claims nothing).
                transaction.on_commit(lambda: enqueue_run(run.pk, urgent=True))
            run.save(update_fields=fields)
            return run
        urgent = is_urgent(trigger) or kind == RunKind.CANCEL
        delay = AUTO_SYNC_DELAY_SECONDS if trigger == Trigger.AUTO else 0
        paced = None if urgent else paced_delay(workorder.company_id)
        if paced is not None and paced > delay:
            delay = paced
        run = SyncRun.objects.create(
            company_id=workorder.company_id,
            workorder=workorder,
            kind=kind,
            trigger=trigger,
            next_attempt_at=timezone.now() + timedelta(seconds=delay) if paced else None,
            requested_by=user if getattr(user, "pk", None) else None,
            requesters=[_requester(user, trigger)],
            force=force,
            request_id=logcontext.current_request_id(),
        )
        SyncOutbox.objects.create(run=run, enqueued_at=timezone.now(), enqueue_count=1)
        if kind == RunKind.SYNC:
            SpectoraLink.objects.filter(pk=link.pk).exclude(sync_state=SyncState.SYNCING).update(
                sync_state=SyncState.QUEUED
            )
        transaction.on_commit(lambda: enqueue_run(run.pk, delay, urgent=urgent))
    return run


BULK_CHUNK = 500  # workorders per transaction: bounded locks, statements and memory


@dataclass(frozen=True)
class BulkQueued:
    new: int = 0  # runs created
    joined: int = 0  # runs already queued that now serve this request too

    @property
    def queued(self) -> int:
        return self.new + self.joined


def sync_request_many(
    company,
    workorders: list[Workorder],
    user=None,
    *,
    force: bool = False,
    trigger: str = Trigger.BULK,
    batch: SyncBatch | None = None,
    activity: str = "Queued for a Spectora sync (bulk).",
) -> BulkQueued:
    """``sync_request`` for many workorders of ``company``, a constant number of
    statements per chunk of BULK_CHUNK: joins each workorder's queued run (which then
    belongs to ``batch``), else writes a run and its outbox row; one Activity entry per
    workorder; the runs are enqueued on commit. The caller has checked eligibility
    (the engine checks again when each run starts). Never cuts a retry's wait.
    """
    if any(w.company_id != company.pk for w in workorders):
        raise ValueError("sync_request_many takes the workorders of one company.")
    new = joined = 0
    for start in range(0, len(workorders), BULK_CHUNK):
        chunk = workorders[start:start + BULK_CHUNK]
        with transaction.atomic():
            # Lock the rows (serialises with sync_request for the same workorders; SQLite:
            # the write lock); one deleted meanwhile is left out.
            present = set(Workorder.objects.select_for_update()
                          .filter(pk__in=[w.pk for w in chunk]).values_list("pk", flat=True))
            chunk = [w for w in chunk if w.pk in present]
            made, reused = _request_chunk(company, chunk, user, force=force, trigger=trigger,
                                          batch=batch)
            activity_record_many(company, chunk, user if getattr(user, "pk", None) else None,
                                 "sync_queued", activity, trigger=trigger,
                                 batch_id=batch.pk if batch else None)
        new += made
        joined += reused
    return BulkQueued(new=new, joined=joined)


def _request_chunk(company, chunk, user, *, force, trigger, batch) -> tuple[int, int]:
    ids = [w.pk for w in chunk]
    waiting: dict[int, SyncRun] = {}
    for run in SyncRun.objects.filter(
        workorder_id__in=ids, kind=RunKind.SYNC, state=RunState.QUEUED
    ).order_by("id"):
        waiting.setdefault(run.workorder_id, run)
    requester = _requester(user, trigger)
    for run in waiting.values():
        run.requesters = [*run.requesters, requester][-50:]
        run.force = run.force or force
        run.batch = batch or run.batch
    SyncRun.objects.bulk_update(waiting.values(), ["requesters", "force", "batch"],
                                batch_size=BULK_CHUNK)
    fresh = [pk for pk in ids if pk not in waiting]
    if not fresh:
        return 0, len(waiting)
    have_link = set(SpectoraLink.objects.filter(workorder_id__in=fresh)
                    .values_list("workorder_id", flat=True))
    SpectoraLink.objects.bulk_create(
        [SpectoraLink(workorder_id=pk) for pk in fresh if pk not in have_link],
        ignore_conflicts=True,
    )
    requested_by = user if getattr(user, "pk", None) else None
    urgent = is_urgent(trigger)
    # A background backlog is spread at the company's own rate (``paced_delay``), one
    # slot apart, so it never stands in front of another company's runs.
    spacing = CALLS_PER_RUN / _rate_of(company.pk)
    start = 0.0 if urgent else (paced_delay(company.pk) or 0.0)
    paced = not urgent and start + len(fresh) * spacing > PACE_FROM_SECONDS
    now = timezone.now()
    delays = [min(start + index * spacing, PACE_CAP_SECONDS) if paced else 0.0
              for index in range(len(fresh))]
    made = SyncRun.objects.bulk_create([
        SyncRun(company_id=company.pk, workorder_id=pk, kind=RunKind.SYNC,
                trigger=trigger, requested_by=requested_by, requesters=[requester],
                force=force, batch=batch,
                next_attempt_at=now + timedelta(seconds=delay) if delay else None)
        for pk, delay in zip(fresh, delays, strict=True)
    ])
    SyncOutbox.objects.bulk_create(
        [SyncOutbox(run=run, enqueued_at=now, enqueue_count=1) for run in made]
    )
    SpectoraLink.objects.filter(workorder_id__in=fresh).exclude(
        sync_state=SyncState.SYNCING
    ).update(sync_state=SyncState.QUEUED)
    sends = [(run.pk, delay) for run, delay in zip(made, delays, strict=True)]
    transaction.on_commit(lambda: [enqueue_run(run_id, delay, urgent=urgent)
                                   for run_id, delay in sends])
    return len(made), len(waiting)


def _rate_of(company_id: int) -> float:
    return (SpectoraConnection.objects.filter(company_id=company_id)
            .values_list("rate_limit_per_second", flat=True).first()) or 10


def paced_delay(company_id: int) -> float | None:
    """When to start a new background run of a company with a backlog, or None.

    A backlog (a bulk re-sync, a drift repair of hundreds) is sent to the workers spread
    at the company's own rate, not all at once: it never stands at the head of the queue
    in front of other companies' runs, no worker picks up a run only to hand it back, and
    the budget is used evenly (docs/performance.md). The run's ``next_attempt_at`` says
    when, so the sweeper leaves it alone and a person's Sync cuts the wait."""
    spacing = CALLS_PER_RUN / _rate_of(company_id)
    waiting = SyncRun.objects.filter(company_id=company_id,
                                     state__in=[RunState.QUEUED, RunState.RUNNING])
    # Runs waiting for a retry's backoff (attempts > 0) set no pace for the others.
    found = waiting.aggregate(ahead=Count("id"),
                              last=Max("next_attempt_at", filter=Q(attempts=0)))
    seconds = found["ahead"] * spacing
    if seconds <= PACE_FROM_SECONDS:
        return None
    last = found["last"]
    if last is not None and last > timezone.now():  # one slot after the last paced run
        seconds = (last - timezone.now()).total_seconds() + spacing
    return min(seconds, PACE_CAP_SECONDS)


# Runs a person should look at: failed for good, or skipped (not sent) with a reason.
PROBLEM_STATES = (RunState.FAILED, RunState.SKIPPED)


def record_refusal(workorder: Workorder, user, ineligible: Ineligible, *,
                   trigger: str = Trigger.MANUAL, kind: str = RunKind.SYNC) -> SyncRun:
    """Keep a refused request as a skipped run, with its reason on the workorder."""
    now = timezone.now()
    with transaction.atomic():
        run = SyncRun.objects.create(
            company_id=workorder.company_id, workorder=workorder, kind=kind, trigger=trigger,
            requested_by=user if getattr(user, "pk", None) else None,
            requesters=[_requester(user, trigger)], state=RunState.SKIPPED,
            reason=ineligible.message[:1000], reason_code=ineligible.code, finished_at=now,
        )
        if ineligible.code in OWN_PROBLEMS and not workorder.is_spectora_origin:
            link, _ = SpectoraLink.objects.get_or_create(workorder=workorder)
            SpectoraLink.objects.filter(pk=link.pk).update(
                sync_state=SyncState.SKIPPED, last_error=ineligible.message[:1000]
            )
        activity_record(workorder.company, workorder, user, "sync_skipped",
                        f"Spectora sync skipped: {ineligible.message}"[:500], run_id=run.pk)
    return run


# Refusals that leave the workorder out of Spectora until someone fixes something;
# the others (cancelled, booked in Spectora) describe the workorder itself.
OWN_PROBLEMS = ("not_connected", "missing_links")


def sync_retry(runs, user) -> int:
    """Queue a fresh run for each failed or skipped run's workorder; those are dismissed."""
    count = 0
    for run in runs.filter(state__in=PROBLEM_STATES, dismissed_at__isnull=True).select_related(
        "workorder"
    ):
        sync_request(run.workorder, user, trigger=Trigger.RETRY, kind=run.kind, force=run.force)
        SyncRun.objects.filter(pk=run.pk).update(dismissed_at=timezone.now())
        count += 1
    return count


def sync_dismiss(runs, user) -> int:
    return runs.filter(state__in=PROBLEM_STATES, dismissed_at__isnull=True).update(
        dismissed_at=timezone.now()
    )


def sweep_outbox(now=None) -> int:
    """Re-enqueue runs whose message was lost, and free runs a dead worker left running."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=SWEEP_AFTER_SECONDS)
    # A run left "running" by a killed worker: started long ago, lease run out. (The
    # task's hard time limit is below LEASE_SECONDS, so a live run still holds it.)
    orphaned = SyncRun.objects.filter(
        state=RunState.RUNNING, started_at__lt=now - timedelta(seconds=LEASE_SECONDS + 30)
    ).exclude(
        workorder__spectora_link__lease_run_id=F("id"),
        workorder__spectora_link__lease_until__gte=now,
    )
    for run_id in list(orphaned.values_list("id", flat=True)):
        SyncRun.objects.filter(pk=run_id, state=RunState.RUNNING).update(state=RunState.QUEUED)
    count = 0
    due = SyncOutbox.objects.filter(
        run__state=RunState.QUEUED,
        enqueued_at__lt=stale,
    ).filter(Q(run__next_attempt_at__isnull=True) | Q(run__next_attempt_at__lt=stale))
    for outbox in due.select_related("run"):
        updated = SyncOutbox.objects.filter(pk=outbox.pk, enqueued_at=outbox.enqueued_at).update(
            enqueued_at=now, enqueue_count=outbox.enqueue_count + 1
        )
        if updated:
            enqueue_run(outbox.run_id)
            count += 1
    return count
