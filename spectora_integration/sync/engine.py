"""Running one sync run: claim, lease, eligibility, plan, apply, finish.

``sync_execute`` (the task's body) claims the run and the workorder's lease,
re-checks eligibility, plans against one read of the Spectora job and applies
the plan. Transient failures go back to the queue with capped, jittered
backoff; rate-limit waits go back without using an attempt; permanent
failures end the run at once, visibly, and the company's admins are emailed.
While the connection's circuit breaker has it paused (``breaker.py``: Spectora
is not answering), a run waits without using an attempt and makes no call but
the shared probe.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Prefetch, Q
from django.utils import timezone

from attik import logcontext
from spectora_integration.client import (
    CallRecord,
    PermanentError,
    RateLimited,
    SpectoraClient,
    SpectoraError,
    TransientError,
)
from spectora_integration.client.egress import job_url
from spectora_integration.models import (
    RunKind,
    RunState,
    SpectoraConnection,
    SpectoraLink,
    SyncCall,
    SyncOutbox,
    SyncRun,
    SyncState,
    Trigger,
)
from spectora_integration.sync import breaker, describe, planner, runs
from spectora_integration.sync.backoff import backoff_delay
from spectora_integration.sync.eligibility import check_eligibility, connection_for, is_connected
from spectora_integration.sync.executor import apply_plan, create_key
from workorders.models import Assignment, LineItem, Workorder, WorkorderStatus
from workorders.services import activity_record

log = logging.getLogger(__name__)


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
    free = SpectoraLink.objects.filter(workorder=workorder).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    lease = {"lease_run_id": run.pk, "lease_until": now + timedelta(seconds=runs.LEASE_SECONDS)}
    if free.update(**lease):  # the usual case: one statement
        return True
    # No link yet (a run requested before links were kept), or another run holds it.
    _, created = SpectoraLink.objects.get_or_create(workorder=workorder)
    return created and bool(free.update(**lease))


def _release_lease(workorder: Workorder, run: SyncRun) -> None:
    SpectoraLink.objects.filter(workorder=workorder, lease_run_id=run.pk).update(
        lease_run_id=None, lease_until=None
    )


def sync_execute(run_id: int) -> str:
    """The task body. Returns what happened, for logs: a run state or "not_claimed"."""
    run = _claim(run_id)
    if run is None:
        return "not_claimed"
    connection = SpectoraConnection.objects.filter(company_id=run.company_id).first()
    if _wait_while_paused(run, connection):
        return "paused"
    workorder = run.workorder
    if not _take_lease(workorder, run):
        # Another run holds this workorder: try again shortly, without using an attempt.
        _requeue(run, countdown=3, reason="")
        return "busy"
    try:
        return _execute(run, workorder, connection)
    except Exception as error:  # a bug or the database: never leave the run "running"
        log.exception("sync run %s crashed", run.pk)
        return _failed_call(run, SpectoraLink.objects.get(workorder=workorder), TransientError(
            f"Unexpected error ({error.__class__.__name__}); it will be retried. "
            "If it keeps failing, tell your Attik support contact.", code="internal_error",
        ))
    finally:
        _release_lease(workorder, run)


def _wait_while_paused(run: SyncRun, connection: SpectoraConnection | None) -> bool:
    """While Spectora is not answering, the run waits (no attempt used) unless this
    worker's probe finds it answering again."""
    if connection is None or not connection.is_paused:
        return False
    if breaker.try_probe(connection):
        return False
    connection = breaker.paused(connection.pk)
    if connection is None:  # another worker's probe resumed it meanwhile
        return False
    _defer_until_resumed(run, connection)
    return True


def _defer_until_resumed(run: SyncRun, connection: SpectoraConnection) -> None:
    """Back to the queue until the next probe is due; the resume sends it sooner."""
    due = connection.paused_until or timezone.now()
    countdown = max(0.0, (due - timezone.now()).total_seconds()) + random.uniform(0.2, 1.5)
    _requeue(run, countdown=countdown, reason=connection.pause_message, count_deferral=False)


def _load(workorder_id: int) -> Workorder:
    return (
        Workorder.objects.select_related("company")
        .prefetch_related(
            Prefetch("assignments", Assignment.objects.select_related("employee")),
            Prefetch("line_items", LineItem.objects.select_related("service")),
            "line_items__service__report_types",
        )
        .get(pk=workorder_id)
    )


def _recorder(run: SyncRun, connection_id: int):
    answered = []

    def record(call: CallRecord) -> None:
        SyncCall.objects.create(
            run=run, attempt=run.attempts, method=call.method, path=call.path,
            status=call.status, duration_ms=call.duration_ms, request_body=call.request_body,
            response_body=call.response_body, error=call.error,
        )
        if not answered and call.status is not None and call.status < 500:
            answered.append(call)  # Spectora answers: once per attempt, end any streak
            breaker.record_answer(connection_id)

    return record


def _execute(run: SyncRun, workorder: Workorder,
             connection: SpectoraConnection | None) -> str:
    """``connection``: the company's, as read when the run was claimed."""
    workorder = _load(workorder.pk)
    link = SpectoraLink.objects.get(workorder=workorder)
    client = None
    if is_connected(connection):
        client = SpectoraClient.for_connection(
            connection, recorder=_recorder(run, connection.pk), urgent=run.urgent)
        try:
            # Admission: the first call's rate slot is booked now or the run goes back to
            # the queue at once, so no worker sleeps while the company's budget is spent.
            client.reserve_calls(1)
        except RateLimited as error:
            return _wait_for_budget(run, connection, error)
    run.attempts += 1
    SyncRun.objects.filter(pk=run.pk).update(attempts=run.attempts)
    logcontext.update(attempt=run.attempts)
    ineligible = check_eligibility(workorder, for_cancel=run.kind == RunKind.CANCEL,
                                   connection=connection)
    if ineligible is not None:
        _finish(run, link, RunState.SKIPPED, ineligible.message, code=ineligible.code)
        return RunState.SKIPPED
    if run.kind == RunKind.SYNC:
        SpectoraLink.objects.filter(pk=link.pk).update(sync_state=SyncState.SYNCING)
    # Eligible means connected (the same read of the connection), so the client exists.
    try:
        if run.kind == RunKind.CANCEL:
            summary = _cancel(client, workorder, link)
        else:
            summary = _sync(client, workorder, link, run)
    except SpectoraError as error:
        return _failed_call(run, link, error)
    _finish(run, link, RunState.SUCCEEDED, summary.pop("message"), summary=summary)
    if run.kind == RunKind.SYNC and _cancel_waits(link):
        runs.sync_request(workorder, None, trigger=Trigger.CANCEL, kind=RunKind.CANCEL)
    return RunState.SUCCEEDED


def _cancel_waits(link: SpectoraLink) -> bool:
    """After a sync: the job is linked and a cancel is due (one fresh read of both)."""
    now = (SpectoraLink.objects.filter(pk=link.pk)
           .values("remote_id", "cancel_pending", "workorder__status").first())
    if now is None or not now["remote_id"]:
        return False
    return now["cancel_pending"] or now["workorder__status"] == WorkorderStatus.CANCELLED


def _sync(client: SpectoraClient, workorder: Workorder, link: SpectoraLink, run: SyncRun) -> dict:
    desired = planner.desired_state(workorder)
    # No search by external_ref before a create: the create's stable Idempotency-Key
    # replays a create whose answer was lost, a 409 external_ref_taken names a job made
    # earlier, and the id is stored the moment the create answers.
    remote_id = link.remote_id
    notes, rounds = [], []
    # Child POST keys are unique to this execution, never derived from the attempt number
    # alone: a wait (429, a paused connection) gives the attempt back, and a later
    # execution with the same number plans fewer children, so a reused key would replay
    # an earlier child's answer (Spectora answers the first response for a key) and the
    # child it meant to add would silently never exist. Found by the fault soak.
    execution = uuid.uuid4().hex[:12]
    for _round in range(2):  # a second round only when the create gave a job to re-read
        actual = client.inspection_get(remote_id) if remote_id else None
        plan = planner.plan_sync(desired, actual, force=run.force)
        client.reserve_calls(sum(1 for op in plan if op.op != planner.Op.KEEP_REPORT))
        outcome = apply_plan(
            client, plan, inspection_id=remote_id,
            key_prefix=f"attik-run-{run.pk}-{run.attempts}-{execution}-{_round}",
            create_idempotency_key=create_key(workorder),
            on_created=lambda new_id, new_url: _link_remote(link, new_id, new_url),
        )
        notes += outcome.notes
        rounds.append((outcome.operations, actual))
        remote_id = outcome.inspection_id
        url = outcome.url or (actual.url if actual else "")
        if remote_id and remote_id != link.remote_id:
            _link_remote(link, remote_id)
        if not outcome.replan:
            break
    if not url and remote_id:
        url = client.inspection_get(remote_id).url
    SpectoraLink.objects.filter(pk=link.pk).update(
        url=job_url(url) or link.web_url, last_synced_hash=desired.fingerprint()
    )
    # In words, with the company's names for the Spectora ids (sync.describe).
    return {**describe.run_outcome(workorder.company_id, rounds, notes), "remote_id": remote_id}


def _link_remote(link: SpectoraLink, remote_id: str, url: str = "") -> None:
    other = SpectoraLink.objects.filter(remote_id=remote_id).exclude(pk=link.pk).first()
    if other is not None:
        raise PermanentError(
            f"Spectora job {remote_id} is already linked to {other.workorder}; a Spectora job "
            "can belong to one workorder only.", code="already_linked",
        )
    url = job_url(url) if url else ""  # only links that are safe to render (client/egress.py)
    fields = {"remote_id": remote_id, **({"url": url} if url else {})}
    SpectoraLink.objects.filter(pk=link.pk).update(**fields)
    link.remote_id = remote_id


def _cancel(client: SpectoraClient, workorder: Workorder, link: SpectoraLink) -> dict:
    if not link.linked:
        # A create may have reached Spectora without us learning the id.
        found = client.inspection_find_by_external_ref(planner.external_ref_for(workorder))
        if found is None:
            return {"message": "No Spectora job exists yet; it will be cancelled as soon as "
                               "one is linked.", "applied": []}
        _link_remote(link, found.id, found["url"] or "")
    reason = workorder.cancel_reason or "Cancelled in Attik"
    client.inspection_cancel(
        link.remote_id, reason,
        idempotency_key=f"attik-cancel-{workorder.company_id}-{workorder.pk}",
    )
    SpectoraLink.objects.filter(pk=link.pk).update(cancel_pending=False)
    return {"message": f"Cancelled the Spectora job: {reason}", "applied": ["Cancel"]}


def _is_rate_limit(error: SpectoraError) -> bool:
    return error.status == 429 or error.code in ("rate_limited", "rate_limited_locally")


def _failed_call(run: SyncRun, link: SpectoraLink, error: SpectoraError) -> str:
    if breaker.is_outage(error):
        connection = SpectoraConnection.objects.filter(company_id=run.company_id).first()
        if connection is not None:
            breaker.record_failure(connection.pk)
            paused = breaker.paused(connection.pk)
            if paused is not None:
                # Spectora is down for everyone, not this run's fault: the attempt is given
                # back and the run waits for the resume.
                SyncRun.objects.filter(pk=run.pk).update(attempts=F("attempts") - 1)
                _defer_until_resumed(run, paused)
                return "paused"
    if error.code == "rate_limited_locally":  # our own pace: no call reached Spectora
        SyncRun.objects.filter(pk=run.pk).update(attempts=F("attempts") - 1)
        return _wait_for_budget(run, None, error, started=True)
    if _is_rate_limit(error) and run.deferrals < runs.MAX_RATE_LIMIT_DEFERRALS:
        delay = max(error.retry_after or 1.0, 1.0) + random.uniform(0, 1)
        _requeue(run, countdown=delay, give_back_attempt=True,
                 reason=f"Waiting for Spectora's rate limit; retrying in {delay:.0f} s.")
        return "deferred"
    if not error.permanent and run.attempts < runs.MAX_ATTEMPTS:
        delay = backoff_delay(run.attempts, error.retry_after,
                              base=runs.BACKOFF_BASE_SECONDS, cap=runs.BACKOFF_CAP_SECONDS)
        _requeue(run, countdown=delay,
                 reason=f"Attempt {run.attempts} of {runs.MAX_ATTEMPTS} failed: {error.message} "
                        f"Retrying in {delay:.0f} s.")
        return "retrying"
    message = error.message
    if not error.permanent:
        message = f"Gave up after {run.attempts} attempts. Last error: {error.message}"
    _finish(run, link, RunState.FAILED, message, code=error.code or "error")
    return RunState.FAILED


def _wait_for_budget(run: SyncRun, connection: SpectoraConnection | None,
                     error: RateLimited, *, started: bool = False) -> str:
    """Back to the queue until the company's rate budget has room; no attempt is used.

    A person's run comes back as soon as its slot is near. A background run of a company
    with a backlog takes the next turn after the company's paced runs (runs.py), so a
    backlog of thousands comes back at the rate, never all at once: other companies'
    runs find the queue and the workers free (docs/performance.md)."""
    countdown = (error.retry_after or 0.0) + random.uniform(0.02, 0.2)
    if not run.urgent:
        paced = runs.paced_delay(run.company_id)
        if paced is not None:
            countdown = max(countdown, paced)
    # Refused at admission, the run changed nothing on the link: the chip still says queued.
    _requeue(run, countdown=countdown, show_on_link=started,
             reason=f"Waiting for Spectora's rate limit; starting in {countdown:.0f} s.")
    return "deferred"


def _requeue(run: SyncRun, *, countdown: float, reason: str,
             give_back_attempt: bool = False, count_deferral: bool = True,
             show_on_link: bool = True) -> None:
    now = timezone.now()
    fields = {"state": RunState.QUEUED, "next_attempt_at": now + timedelta(seconds=countdown)}
    if give_back_attempt:
        fields.update(attempts=F("attempts") - 1)
    if give_back_attempt and count_deferral:
        fields.update(deferrals=F("deferrals") + 1)
    if reason:
        fields["reason"] = reason[:1000]
    SyncRun.objects.filter(pk=run.pk).update(**fields)
    SyncOutbox.objects.filter(run=run).update(enqueued_at=now)
    if reason and show_on_link and run.kind == RunKind.SYNC:
        SpectoraLink.objects.filter(workorder_id=run.workorder_id).update(
            sync_state=SyncState.QUEUED, last_error=reason[:1000]
        )
    runs.enqueue_run(run.pk, countdown, urgent=run.urgent)


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
        if newer_run_waiting:
            # The chip says what comes next, not what this run did.
            link_fields["sync_state"] = SyncState.QUEUED
        elif run.kind == RunKind.SYNC or state == RunState.FAILED:
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
    breaker.notify_admins(
        run.company_id,
        subject=f"Spectora sync failed for {run.workorder}",
        message=(
            f"The Spectora sync of {run.workorder} ({run.workorder.address}) failed:\n\n"
            f"{reason}\n\nFix the cause, then retry it from the Failed syncs page."
        ),
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
        "operations": describe.preview_operations(workorder.company_id, plan, actual),
        "writes": sum(1 for op in plan if op.is_write),
    }
