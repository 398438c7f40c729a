"""Writes for the Spectora side: requesting, running, retrying and dismissing syncs.

``sync_request`` writes a SyncRun and an outbox row in one transaction and
enqueues the task on commit; ``sync_execute`` (the task's body) claims the
run and the workorder's lease, re-checks eligibility, plans against one read
of the Spectora job and applies the plan. Transient failures go back to the
queue with capped, jittered backoff; permanent ones fail at once, visibly.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from spectora_integration.client import (
    CallRecord,
    PermanentError,
    SpectoraClient,
    SpectoraError,
    TransientError,
)
from spectora_integration.models import (
    RunKind,
    RunState,
    SpectoraLink,
    SyncCall,
    SyncOutbox,
    SyncRun,
    SyncState,
    Trigger,
)
from spectora_integration.sync import planner
from spectora_integration.sync.eligibility import Ineligible, check_eligibility, connection_for
from spectora_integration.sync.executor import apply_plan, create_key
from workorders.models import Membership, Role, Workorder
from workorders.services import activity_record

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

    ``strict`` refuses a clearly ineligible request with SyncRefused instead of
    recording a skipped run (the API and the Actions menu use it).
    """
    if strict:
        ineligible = check_eligibility(workorder, for_cancel=kind == RunKind.CANCEL)
        if ineligible is not None:
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
        if run is not None:
            run.requesters = [*run.requesters, _requester(user, trigger)][-50:]
            run.force = run.force or force
            run.save(update_fields=["requesters", "force"])
            return run
        run = SyncRun.objects.create(
            company_id=workorder.company_id,
            workorder=workorder,
            kind=kind,
            trigger=trigger,
            requested_by=user if getattr(user, "pk", None) else None,
            requesters=[_requester(user, trigger)],
            force=force,
        )
        SyncOutbox.objects.create(run=run, enqueued_at=timezone.now(), enqueue_count=1)
        if kind == RunKind.SYNC:
            SpectoraLink.objects.filter(pk=link.pk).exclude(sync_state=SyncState.SYNCING).update(
                sync_state=SyncState.QUEUED
            )
        delay = AUTO_SYNC_DELAY_SECONDS if trigger == Trigger.AUTO else 0
        transaction.on_commit(lambda: _enqueue(run.pk, delay))
    return run


def _enqueue(run_id: int, countdown: float = 0) -> None:
    from spectora_integration.tasks import run_sync

    try:
        run_sync.apply_async(
            (run_id,), countdown=countdown or None, queue=settings.CELERY_TASK_DEFAULT_QUEUE
        )
    except Exception:  # the broker is down: the outbox sweeper enqueues it later
        log.exception("could not enqueue sync run %s; the sweeper will retry", run_id)


def workorder_changed(workorder: Workorder, *, user, changed: list[str]) -> None:
    """Synced fields changed: a workorder already in Spectora follows automatically."""
    link = SpectoraLink.objects.filter(workorder=workorder).first()
    if link is None or not (link.linked or link.sync_state in (SyncState.QUEUED,
                                                                SyncState.SYNCING)):
        return
    sync_request(workorder, user, trigger=Trigger.AUTO)


def workorder_cancelled(workorder: Workorder, *, user) -> None:
    """Cancel the Spectora job through the queue, or remember to once the job exists."""
    link = SpectoraLink.objects.filter(workorder=workorder).first()
    if link is None:
        return  # never sent to Spectora: nothing there to cancel
    SpectoraLink.objects.filter(pk=link.pk).update(cancel_pending=True)
    sync_request(workorder, user, trigger=Trigger.CANCEL, kind=RunKind.CANCEL)


def sync_retry(runs, user) -> int:
    """Queue a fresh run for each failed run's workorder; the failed runs are dismissed."""
    count = 0
    for run in runs.filter(state=RunState.FAILED, dismissed_at__isnull=True).select_related(
        "workorder"
    ):
        sync_request(run.workorder, user, trigger=Trigger.RETRY, kind=run.kind, force=run.force)
        SyncRun.objects.filter(pk=run.pk).update(dismissed_at=timezone.now())
        count += 1
    return count


def sync_dismiss(runs, user) -> int:
    return runs.filter(state=RunState.FAILED, dismissed_at__isnull=True).update(
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
            _enqueue(outbox.run_id)
            count += 1
    return count


# ---------------------------------------------------------------- running

def _claim(run_id: int) -> SyncRun | None:
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, state=RunState.QUEUED).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + timedelta(seconds=1))
    ).update(state=RunState.RUNNING, started_at=now)
    if not claimed:
        return None
    return SyncRun.objects.select_related("workorder", "workorder__company").get(pk=run_id)


def _take_lease(workorder: Workorder, run: SyncRun) -> bool:
    now = timezone.now()
    SpectoraLink.objects.get_or_create(workorder=workorder)
    return bool(
        SpectoraLink.objects.filter(workorder=workorder)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_run_id=run.pk, lease_until=now + timedelta(seconds=LEASE_SECONDS))
    )


def _release_lease(workorder: Workorder, run: SyncRun) -> None:
    SpectoraLink.objects.filter(workorder=workorder, lease_run_id=run.pk).update(
        lease_run_id=None, lease_until=None
    )


def sync_execute(run_id: int) -> str:
    """The task body. Returns what happened, for logs: a run state or "not_claimed"."""
    run = _claim(run_id)
    if run is None:
        return "not_claimed"
    workorder = run.workorder
    if not _take_lease(workorder, run):
        # Another run holds this workorder: try again shortly, without using an attempt.
        _requeue(run, countdown=3, reason="")
        return "busy"
    try:
        return _execute(run, workorder)
    except Exception as error:  # a bug or the database: never leave the run "running"
        log.exception("sync run %s crashed", run.pk)
        return _failed_call(run, SpectoraLink.objects.get(workorder=workorder), TransientError(
            f"Unexpected error ({error.__class__.__name__}); it will be retried. "
            "If it keeps failing, tell your Attik support contact.", code="internal_error",
        ))
    finally:
        _release_lease(workorder, run)


def _load(workorder_id: int) -> Workorder:
    return (
        Workorder.objects.select_related("company")
        .prefetch_related(
            "assignments__employee", "line_items__service__report_types"
        )
        .get(pk=workorder_id)
    )


def _recorder(run: SyncRun):
    def record(call: CallRecord) -> None:
        SyncCall.objects.create(
            run=run, attempt=run.attempts, method=call.method, path=call.path,
            status=call.status, duration_ms=call.duration_ms, request_body=call.request_body,
            response_body=call.response_body, error=call.error,
        )

    return record


def _execute(run: SyncRun, workorder: Workorder) -> str:
    workorder = _load(workorder.pk)
    link = SpectoraLink.objects.get(workorder=workorder)
    run.attempts += 1
    SyncRun.objects.filter(pk=run.pk).update(attempts=run.attempts)
    ineligible = check_eligibility(workorder, for_cancel=run.kind == RunKind.CANCEL)
    if ineligible is not None:
        _finish(run, link, RunState.SKIPPED, ineligible.message, code=ineligible.code)
        return RunState.SKIPPED
    if run.kind == RunKind.SYNC:
        SpectoraLink.objects.filter(pk=link.pk).update(sync_state=SyncState.SYNCING)
    connection = connection_for(workorder)
    client = SpectoraClient.for_connection(connection, recorder=_recorder(run))
    try:
        if run.kind == RunKind.CANCEL:
            summary = _cancel(client, workorder, link)
        else:
            summary = _sync(client, workorder, link, run)
    except SpectoraError as error:
        return _failed_call(run, link, error)
    _finish(run, link, RunState.SUCCEEDED, summary.pop("message"), summary=summary)
    if run.kind == RunKind.SYNC:
        link.refresh_from_db()
        workorder.refresh_from_db(fields=["status"])
        if link.linked and (link.cancel_pending or workorder.is_cancelled):
            sync_request(workorder, None, trigger=Trigger.CANCEL, kind=RunKind.CANCEL)
    return RunState.SUCCEEDED


def _sync(client: SpectoraClient, workorder: Workorder, link: SpectoraLink, run: SyncRun) -> dict:
    desired = planner.desired_state(workorder)
    remote_id = link.remote_id
    if not remote_id:
        found = client.inspection_find_by_external_ref(desired.external_ref)
        remote_id = found.id if found else None
    applied, notes = [], []
    for _round in range(2):  # a second round only after a 409 linked an existing job
        actual = client.inspection_get(remote_id) if remote_id else None
        plan = planner.plan_sync(desired, actual, force=run.force)
        outcome = apply_plan(
            client, plan, inspection_id=remote_id,
            key_prefix=f"attik-run-{run.pk}-{run.attempts}-{_round}",
            create_idempotency_key=create_key(workorder),
        )
        applied += outcome.applied
        notes += outcome.notes
        remote_id = outcome.inspection_id
        url = outcome.url or (actual.url if actual else "")
        if remote_id and remote_id != link.remote_id:
            _link_remote(link, remote_id)
        if not outcome.linked_existing:
            break
    if not url and remote_id:
        url = client.inspection_get(remote_id).url
    SpectoraLink.objects.filter(pk=link.pk).update(
        url=url or link.url, last_synced_hash=desired.fingerprint()
    )
    writes = len(applied)
    message = f"Synced: {writes} change{'s' if writes != 1 else ''} sent." if writes else (
        "Already up to date: nothing to send."
    )
    if notes:
        message += " " + " ".join(notes)
    return {"message": message, "applied": applied, "notes": notes, "remote_id": remote_id}


def _link_remote(link: SpectoraLink, remote_id: str) -> None:
    other = SpectoraLink.objects.filter(remote_id=remote_id).exclude(pk=link.pk).first()
    if other is not None:
        raise PermanentError(
            f"Spectora job {remote_id} is already linked to {other.workorder}; a Spectora job "
            "can belong to one workorder only.", code="already_linked",
        )
    SpectoraLink.objects.filter(pk=link.pk).update(remote_id=remote_id)
    link.remote_id = remote_id


def _cancel(client: SpectoraClient, workorder: Workorder, link: SpectoraLink) -> dict:
    if not link.linked:
        # A create may have reached Spectora without us learning the id.
        found = client.inspection_find_by_external_ref(planner.external_ref_for(workorder))
        if found is None:
            return {"message": "No Spectora job exists yet; it will be cancelled as soon as "
                               "one is linked.", "applied": []}
        _link_remote(link, found.id)
        SpectoraLink.objects.filter(pk=link.pk).update(url=found["url"] or "")
    reason = workorder.cancel_reason or "Cancelled in Attik"
    client.inspection_cancel(
        link.remote_id, reason,
        idempotency_key=f"attik-cancel-{workorder.company_id}-{workorder.pk}",
    )
    SpectoraLink.objects.filter(pk=link.pk).update(cancel_pending=False)
    return {"message": f"Cancelled the Spectora job: {reason}", "applied": ["Cancel"]}


def _backoff(attempt: int, retry_after: float | None) -> float:
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** (attempt - 1)))
    delay = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not security
    if retry_after:
        delay = max(delay, min(retry_after, BACKOFF_CAP_SECONDS))
    return delay


def _is_rate_limit(error: SpectoraError) -> bool:
    return error.status == 429 or error.code in ("rate_limited", "rate_limited_locally")


def _failed_call(run: SyncRun, link: SpectoraLink, error: SpectoraError) -> str:
    if _is_rate_limit(error) and run.deferrals < MAX_RATE_LIMIT_DEFERRALS:
        delay = max(error.retry_after or 1.0, 1.0) + random.uniform(0, 1)  # noqa: S311
        _requeue(run, countdown=delay, give_back_attempt=True,
                 reason=f"Waiting for Spectora's rate limit; retrying in {delay:.0f} s.")
        return "deferred"
    if not error.permanent and run.attempts < MAX_ATTEMPTS:
        delay = _backoff(run.attempts, error.retry_after)
        _requeue(run, countdown=delay,
                 reason=f"Attempt {run.attempts} of {MAX_ATTEMPTS} failed: {error.message} "
                        f"Retrying in {delay:.0f} s.")
        return "retrying"
    message = error.message
    if not error.permanent:
        message = f"Gave up after {run.attempts} attempts. Last error: {error.message}"
    _finish(run, link, RunState.FAILED, message, code=error.code or "error")
    return RunState.FAILED


def _requeue(run: SyncRun, *, countdown: float, reason: str,
             give_back_attempt: bool = False) -> None:
    now = timezone.now()
    fields = {"state": RunState.QUEUED, "next_attempt_at": now + timedelta(seconds=countdown)}
    if give_back_attempt:
        fields.update(attempts=F("attempts") - 1, deferrals=F("deferrals") + 1)
    if reason:
        fields["reason"] = reason[:1000]
    SyncRun.objects.filter(pk=run.pk).update(**fields)
    SyncOutbox.objects.filter(run=run).update(enqueued_at=now)
    if reason and run.kind == RunKind.SYNC:
        SpectoraLink.objects.filter(workorder_id=run.workorder_id).update(
            sync_state=SyncState.QUEUED, last_error=reason[:1000]
        )
    _enqueue(run.pk, countdown)


def _finish(run: SyncRun, link: SpectoraLink, state: str, reason: str, *, code: str = "",
            summary: dict | None = None) -> None:
    now = timezone.now()
    with transaction.atomic():
        SyncRun.objects.filter(pk=run.pk).update(
            state=state, reason=reason[:1000], reason_code=code, finished_at=now,
            next_attempt_at=None, summary=summary or {},
        )
        SyncOutbox.objects.filter(run=run).delete()
        link_fields = {"last_error": "" if state == RunState.SUCCEEDED else reason[:1000]}
        if state == RunState.SUCCEEDED:
            link_fields["last_synced_at"] = now
        newer_run_waiting = SyncRun.objects.filter(
            workorder_id=run.workorder_id, kind=RunKind.SYNC, state=RunState.QUEUED
        ).exists()
        if (run.kind == RunKind.SYNC or state == RunState.FAILED) and not newer_run_waiting:
            link_fields["sync_state"] = {
                RunState.SUCCEEDED: SyncState.SYNCED,
                RunState.FAILED: SyncState.FAILED,
                RunState.SKIPPED: SyncState.SKIPPED,
            }[state]
        SpectoraLink.objects.filter(pk=link.pk).update(**link_fields)
        verb = {RunState.SUCCEEDED: "synced", RunState.FAILED: "sync_failed",
                RunState.SKIPPED: "sync_skipped"}[state]
        label = "Spectora cancel" if run.kind == RunKind.CANCEL else "Spectora sync"
        activity_record(
            run.workorder.company, run.workorder, None, verb,
            f"{label} {state}: {reason}"[:500], run_id=run.pk,
        )
    if state == RunState.FAILED:
        _email_admins(run, reason)


def _email_admins(run: SyncRun, reason: str) -> None:
    emails = list(
        Membership.objects.filter(company_id=run.company_id, role=Role.ADMIN)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not emails:
        return
    send_mail(
        subject=f"Spectora sync failed for {run.workorder}",
        message=(
            f"The Spectora sync of {run.workorder} ({run.workorder.address}) failed:\n\n"
            f"{reason}\n\nFix the cause, then retry it from the Failed syncs page."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=emails,
        fail_silently=True,
    )


# ---------------------------------------------------------------- preview

def sync_preview(workorder: Workorder) -> dict:
    """The plan a sync would apply now, from reads only; nothing is sent."""
    ineligible = check_eligibility(workorder)
    if ineligible is not None:
        return {"eligible": False, "code": ineligible.code, "reason": ineligible.message,
                "operations": []}
    workorder = _load(workorder.pk)
    link = SpectoraLink.objects.filter(workorder=workorder).first()
    client = SpectoraClient.for_connection(connection_for(workorder))
    desired = planner.desired_state(workorder)
    try:
        remote_id = link.remote_id if link else None
        if not remote_id:
            found = client.inspection_find_by_external_ref(desired.external_ref)
            remote_id = found.id if found else None
        actual = client.inspection_get(remote_id) if remote_id else None
    except SpectoraError as error:
        return {"eligible": True, "code": error.code or "error", "reason": error.message,
                "operations": []}
    plan = planner.plan_sync(desired, actual)
    return {
        "eligible": True, "code": "", "reason": "",
        "remote_id": remote_id,
        "operations": [op.as_dict() for op in plan],
        "writes": sum(1 for op in plan if op.is_write),
    }


__all__ = ["PermanentError", "SyncRefused", "sync_request", "sync_execute", "sync_preview",
           "sync_retry", "sync_dismiss", "sweep_outbox", "workorder_changed",
           "workorder_cancelled"]
