"""Spectora to Attik: imports of Spectora-origin jobs, drift of Attik's own jobs.

``inspection_receive`` is the one place that decides what a changed Spectora
inspection means here; webhooks, the drift scan and Refresh from Spectora all go
through it. It reads the inspection from Spectora itself (a delivery is only a
hint: nothing in its body but the id is trusted), then ``inspection_apply``:

- deleted in Spectora: the linked workorder is cancelled ("Deleted in Spectora");
- a Spectora-origin job Attik does not know yet: imported as a read-only workorder;
- a Spectora-origin job Attik knows: updated, unless Attik already holds a state at
  least as new (``updated_at``), so late or repeated deliveries never go back in time;
- one of Attik's own jobs: changed by hand in Spectora? Attik is its source of
  truth, so the drift is recorded and a sync puts Attik's version back;
- an API-made job Attik has not linked yet: ignored (its sync links it).

Two importers meeting on one new inspection (a webhook and the drift scan) cannot
make two workorders: the link's unique ``remote_id`` lets one insert win and the
other re-reads and updates instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from spectora_integration import queueing
from spectora_integration.client import (
    Inspection,
    PermanentError,
    SpectoraClient,
    SpectoraError,
    parse_time,
)
from spectora_integration.client.egress import job_url
from spectora_integration.models import (
    InboundWebhook,
    RunKind,
    RunState,
    SpectoraConnection,
    SpectoraLink,
    SyncRun,
    SyncState,
    Trigger,
)
from spectora_integration.sync import describe, planner
from spectora_integration.sync.eligibility import check_eligibility
from spectora_integration.sync.runs import sync_request
from workorders.models import (
    Employee,
    Origin,
    Service,
    Workorder,
    WorkorderStatus,
)
from workorders.services import (
    activity_record,
    next_workorder_number,
    workorder_children_replace,
)

log = logging.getLogger(__name__)

DELETED_EVENT = "inspection.deleted"
DELETED_REASON = "Deleted in Spectora"
CANCELLED_REASON = "Cancelled in Spectora"
DEFAULT_DURATION = 120

# What inspection_apply did, for logs, task results and tests.
CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"
STALE = "stale"
DELETED = "deleted"
DRIFT = "drift"
IN_SYNC = "in_sync"
PENDING = "pending"
IGNORED = "ignored"


class ImportFailed(Exception):
    """An inspection Attik cannot take in as it is; the message is for a person."""

    permanent = True

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Missing:
    """Spectora inspectors and services an imported job names that Attik cannot map."""

    inspectors: list[dict]
    services: list[dict]

    def as_dict(self) -> dict:
        if not (self.inspectors or self.services):
            return {}
        return {"inspectors": self.inspectors, "services": self.services}

    def sentence(self) -> str:
        parts = []
        if self.inspectors:
            names = ", ".join(i["name"] for i in self.inspectors)
            parts.append(
                f"Spectora inspectors not linked to an employee: {names}. An admin can link "
                "them on the Sync Spectora Staff page, then Refresh from Spectora."
            )
        if self.services:
            names = ", ".join(s["name"] for s in self.services)
            parts.append(
                f"Spectora services not mapped to an Attik service: {names}. An admin can map "
                "them on the Service mapping page, then Refresh from Spectora."
            )
        return " ".join(parts)


# ---------------------------------------------------------------- refresh

def workorder_refresh_request(workorder: Workorder) -> None:
    """Re-import a Spectora-origin workorder from Spectora, in the background.

    The link says "queued" until the worker takes it ("syncing") and settles it (synced
    or failed), so the workorder's chip follows the refresh and the page updates itself
    when it lands. A refresh whose message was lost shows as not finished after a few
    minutes (``sync.status``), never as queued for ever.
    """
    SpectoraLink.objects.filter(workorder=workorder).update(
        sync_state=SyncState.QUEUED, updated_at=timezone.now()
    )
    transaction.on_commit(lambda: queueing.enqueue(
        "refresh_workorder", workorder.pk, fallback="ask the person to use Refresh again"
    ))


def workorder_refresh(workorder_id: int) -> str:
    """The refresh task's body: read the job from Spectora again and apply it."""
    link = (
        SpectoraLink.objects.select_related("workorder").filter(workorder_id=workorder_id).first()
    )
    if link is None or not link.remote_id:
        return IGNORED
    in_flight = SpectoraLink.objects.filter(
        pk=link.pk, sync_state__in=[SyncState.QUEUED, SyncState.SYNCING]
    )
    in_flight.update(sync_state=SyncState.SYNCING, updated_at=timezone.now())
    connection = SpectoraConnection.objects.select_related("company").filter(
        company_id=link.workorder.company_id
    ).first()
    try:
        if connection is None:
            raise ImportFailed("This company is not connected to Spectora.")
        outcome = inspection_receive(connection, link.remote_id, force=True)
    except (SpectoraError, ImportFailed) as error:
        message = f"Refresh from Spectora failed: {error.message}"
        SpectoraLink.objects.filter(pk=link.pk).update(
            sync_state=SyncState.FAILED, last_error=message[:1000], updated_at=timezone.now()
        )
        activity_record(link.workorder.company, link.workorder, None, "spectora_refresh_failed",
                        message[:500])
        return "failed"
    # Applied (the import set "synced"), or nothing to apply (deleted, stale): settled.
    in_flight.update(sync_state=SyncState.SYNCED, updated_at=timezone.now())
    return outcome


# ---------------------------------------------------------------- receiving

def inspection_receive(
    connection: SpectoraConnection,
    inspection_id: str,
    *,
    deleted: bool = False,
    force: bool = False,
    client: SpectoraClient | None = None,
) -> str:
    """Read one inspection from Spectora and apply it (``deleted``: Spectora said so).

    ``force`` re-applies a state Attik already holds (Refresh from Spectora, after
    an admin linked a missing inspector, say); an older state is never applied.
    """
    if not connection.is_connected:
        raise ImportFailed(
            "This company is not connected to Spectora, so the change could not be read. "
            "An admin can connect it on the Spectora connection page, then reprocess it."
        )
    inspection = None
    names: dict[str, str] = {}
    if not deleted:
        client = client or SpectoraClient.for_connection(connection)
        try:
            inspection = client.inspection_get(inspection_id)
        except PermanentError as error:
            if error.status != 404:
                raise
        if inspection is not None:
            names = _inspector_names(connection, inspection, client)
    return inspection_apply(
        connection, inspection_id, inspection, force=force, inspector_names=names
    )


def _inspector_names(connection, inspection: Inspection, client: SpectoraClient) -> dict:
    """Names for inspectors Attik has not linked, so a person sees who is missing."""
    wanted = {str(a["inspector_id"]) for a in inspection.assignments}
    linked = set(
        Employee.objects.filter(
            company_id=connection.company_id, spectora_inspector_id__in=wanted
        ).values_list("spectora_inspector_id", flat=True)
    )
    if not wanted - linked:
        return {}
    try:
        return {r.id: r["name"] or r.id for r in client.inspectors()}
    except SpectoraError:
        return {}


def inspection_apply(
    connection: SpectoraConnection,
    inspection_id: str,
    inspection: Inspection | None,
    *,
    force: bool = False,
    inspector_names: dict[str, str] | None = None,
) -> str:
    """Apply Spectora's state of one inspection (None: it no longer exists) to Attik."""
    if inspection is None:
        return _apply_deleted(connection, inspection_id)
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                link = _link_for(connection, inspection_id)
                if link is None:
                    if inspection["origin"] != Origin.SPECTORA:
                        return IGNORED  # made through the API: our sync links it
                    if _deletion_received(connection, inspection_id):
                        return STALE  # a late read of a job Spectora has since deleted
                    return _import_new(connection, inspection, inspector_names or {})
                if link.workorder.is_spectora_origin:
                    return _import_update(link, inspection, force, inspector_names or {})
        except IntegrityError:
            # Someone else imported it between our read and our insert: go again as
            # an update. A second clash means the id is linked in another company.
            if attempt == 2:
                raise ImportFailed(
                    f"Spectora job {inspection_id} is already linked to a workorder that is "
                    "not this company's; it was not imported."
                ) from None
            continue
        return _check_drift(link, inspection, force, inspector_names or {})
    raise AssertionError("unreachable")


def _link_for(connection: SpectoraConnection, inspection_id: str) -> SpectoraLink | None:
    return (
        SpectoraLink.objects.select_for_update()
        .select_related("workorder")
        .filter(remote_id=inspection_id, workorder__company_id=connection.company_id)
        .first()
    )


def _deletion_received(connection: SpectoraConnection, inspection_id: str) -> bool:
    return InboundWebhook.objects.filter(
        connection=connection, inspection_id=inspection_id, event_type=DELETED_EVENT
    ).exists()


# ---------------------------------------------------------------- Spectora-origin jobs

def _scalars(inspection: Inspection) -> dict:
    scheduled_at = parse_time(inspection["datetime"])
    if scheduled_at is None:
        raise ImportFailed(
            f"Spectora job {inspection.id} has no date and time yet; it is imported once it has."
        )
    duration = inspection["duration"]
    return {
        "scheduled_at": scheduled_at,
        "duration_minutes": duration if isinstance(duration, int) and duration > 0
        else DEFAULT_DURATION,
        "address": (inspection["full_address"] or "")[:300],
        "client_name": (inspection["client_name"] or "")[:200],
        "client_email": (inspection["client_email"] or "")[:254],
        "notes": inspection["notes"] or "",
    }


def _status(inspection: Inspection, workorder: Workorder | None) -> tuple[str, str]:
    if inspection.canceled:
        return WorkorderStatus.CANCELLED, (inspection["cancel_reason"] or CANCELLED_REASON)[:300]
    if workorder is None or workorder.is_cancelled:
        return WorkorderStatus.CONFIRMED, ""
    return workorder.status, workorder.cancel_reason


def _children(company_id: int, inspection: Inspection, names: dict[str, str]):
    """Attik's assignments and line items for the inspection, and what could not be mapped."""
    employees = {
        e.spectora_inspector_id: e
        for e in Employee.objects.filter(
            company_id=company_id,
            spectora_inspector_id__in=[str(a["inspector_id"]) for a in inspection.assignments],
        )
    }
    services = {
        s.spectora_service_id: s
        for s in Service.objects.filter(
            company_id=company_id,
            spectora_service_id__in=[str(i["service_id"]) for i in inspection.line_items],
        ).order_by("pk")
    }
    assignees: dict[int, bool] = {}
    missing_inspectors: list[dict] = []
    for assignment in inspection.assignments:
        inspector_id = str(assignment["inspector_id"])
        employee = employees.get(inspector_id)
        if employee is None:
            missing_inspectors.append(
                {"id": inspector_id, "name": names.get(inspector_id) or inspector_id}
            )
        elif employee.pk not in assignees:
            assignees[employee.pk] = bool(assignment["primary"])
    line_items: list[tuple[int, int, int]] = []
    missing_services: list[dict] = []
    for item in sorted(inspection.line_items, key=lambda r: (len(r.id), r.id)):
        service_id = str(item["service_id"])
        service = services.get(service_id)
        if service is None:
            if all(m["id"] != service_id for m in missing_services):
                missing_services.append({"id": service_id, "name": item["name"] or service_id})
            continue
        price = item["price_cents"]
        quantity = item["quantity"]
        line_items.append((
            service.pk,
            price if isinstance(price, int) and price >= 0 else service.price_cents,
            quantity if isinstance(quantity, int) and quantity > 0 else 1,
        ))
    return assignees, line_items, Missing(missing_inspectors, missing_services)


def _link_fields(inspection: Inspection, missing: Missing) -> dict:
    return {
        "url": job_url(inspection.url),
        "remote_updated_at": inspection.updated_at,
        "sync_state": SyncState.SYNCED,
        "last_synced_at": timezone.now(),
        "import_missing": missing.as_dict(),
        "last_error": missing.sentence()[:1000],
    }


def _import_new(connection, inspection: Inspection, names: dict[str, str]) -> str:
    company = connection.company
    values = _scalars(inspection)
    status, cancel_reason = _status(inspection, None)
    workorder = Workorder.objects.create(
        company=company, number=next_workorder_number(company), origin=Origin.SPECTORA,
        status=status, cancel_reason=cancel_reason, **values,
    )
    assignees, line_items, missing = _children(company.pk, inspection, names)
    workorder_children_replace(workorder, assignees, line_items)
    SpectoraLink.objects.create(
        workorder=workorder, remote_id=inspection.id, **_link_fields(inspection, missing)
    )
    message = f"Imported {workorder} from Spectora (job {inspection.id})."
    if workorder.is_cancelled:
        message += f" It is cancelled in Spectora: {cancel_reason}"
    if missing.sentence():
        message += " " + missing.sentence()
    activity_record(company, workorder, None, "spectora_imported", message[:500],
                    remote_id=inspection.id)
    return CREATED


def _import_update(link: SpectoraLink, inspection: Inspection, force: bool,
                   names: dict[str, str]) -> str:
    if link.remote_deleted_at is not None:
        return STALE
    incoming, held = inspection.updated_at, link.remote_updated_at
    if incoming is not None and held is not None:
        if incoming < held:
            return STALE
        if incoming == held and not force:
            return UNCHANGED
    workorder = Workorder.objects.select_for_update().get(pk=link.workorder_id)
    values = _scalars(inspection)
    status, cancel_reason = _status(inspection, workorder)
    changed = [k for k, v in values.items() if getattr(workorder, k) != v]
    for key in changed:
        setattr(workorder, key, values[key])
    was_cancelled = workorder.is_cancelled
    if (workorder.status, workorder.cancel_reason) != (status, cancel_reason):
        workorder.status, workorder.cancel_reason = status, cancel_reason
        changed.append("status")
    assignees, line_items, missing = _children(workorder.company_id, inspection, names)
    changed += workorder_children_replace(workorder, assignees, line_items)
    if changed:
        workorder.version += 1
        workorder.save()
    SpectoraLink.objects.filter(pk=link.pk).update(**_link_fields(inspection, missing))
    if not changed:
        return UNCHANGED
    what = ", ".join(_LABELS.get(k, k) for k in changed)
    message = f"Updated from Spectora: {what}."
    if workorder.is_cancelled and not was_cancelled:
        message = f"Cancelled in Spectora: {cancel_reason}"
    elif was_cancelled and not workorder.is_cancelled:
        message = f"Reinstated in Spectora. Updated: {what}."
    if missing.sentence():
        message += " " + missing.sentence()
    activity_record(workorder.company, workorder, None, "spectora_updated", message[:500],
                    fields=changed, remote_id=inspection.id)
    return UPDATED


_LABELS = {
    "scheduled_at": "date and time", "duration_minutes": "duration", "client_name": "client name",
    "client_email": "client email",
}


def _apply_deleted(connection: SpectoraConnection, inspection_id: str) -> str:
    with transaction.atomic():
        link = _link_for(connection, inspection_id)
        if link is None:
            return IGNORED
        if link.remote_deleted_at is not None:
            return UNCHANGED
        now = timezone.now()
        SpectoraLink.objects.filter(pk=link.pk).update(
            remote_deleted_at=now, cancel_pending=False,
            last_error=f"The Spectora job ({inspection_id}) was deleted in Spectora.",
        )
        workorder = link.workorder
        # Attik keeps the reason its own people gave; a Spectora-origin job just says why.
        target = Workorder.objects.filter(pk=workorder.pk)
        if workorder.is_spectora_origin:
            target = target.exclude(status=WorkorderStatus.CANCELLED,
                                    cancel_reason=DELETED_REASON)
        else:
            target = target.exclude(status=WorkorderStatus.CANCELLED)
        cancelled = target.update(
            status=WorkorderStatus.CANCELLED, cancel_reason=DELETED_REASON,
            version=F("version") + 1, updated_at=now,
        )
        message = f"Spectora job {inspection_id} was deleted in Spectora"
        message += f"; cancelled {workorder}." if cancelled else "."
        activity_record(workorder.company, workorder, None, "spectora_deleted", message,
                        remote_id=inspection_id)
    return DELETED


# ---------------------------------------------------------------- Attik's own jobs

def _check_drift(link: SpectoraLink, inspection: Inspection, force: bool,
                 inspector_names: dict[str, str]) -> str:
    """An Attik job changed in Spectora: if by hand, record it and sync Attik's version back."""
    held, incoming = link.remote_updated_at, inspection.updated_at
    if held is not None and incoming is not None and (
        incoming < held or (incoming == held and not force)
    ):
        return STALE
    workorder = (
        Workorder.objects.select_related("company")
        .prefetch_related("assignments__employee", "line_items__service__report_types")
        .get(pk=link.workorder_id)
    )
    if workorder.is_cancelled or link.remote_deleted_at is not None:
        return IGNORED
    if check_eligibility(workorder) is not None:
        return IGNORED  # a sync could not repair it; the workorder already says why
    active = set(
        SyncRun.objects.filter(
            workorder=workorder, kind=RunKind.SYNC, state__in=[RunState.QUEUED, RunState.RUNNING]
        ).values_list("state", flat=True)
    )
    if RunState.QUEUED in active:
        return PENDING  # the queued sync reads Spectora afresh and puts Attik's version back
    plan = [
        op for op in planner.plan_sync(planner.desired_state(workorder), inspection)
        if op.is_write
    ]
    if plan and RunState.RUNNING in active:
        # Perhaps a half-applied sync rather than a person: one more sync settles it.
        _request_sync(workorder)
        return PENDING
    if not plan:
        _mark_seen(link, incoming)
        return IN_SYNC
    SpectoraLink.objects.filter(pk=link.pk).update(drift_detected_at=timezone.now())
    _mark_seen(link, incoming)
    activity_record(
        workorder.company, workorder, None, "spectora_drift",
        describe.drift_message(workorder.company_id, plan, inspection, inspector_names)[:500],
        operations=[op.as_dict() for op in plan][:50], remote_id=inspection.id,
    )
    _request_sync(workorder)
    return DRIFT


def _mark_seen(link: SpectoraLink, updated_at: datetime | None) -> None:
    if updated_at is None:
        return
    SpectoraLink.objects.filter(pk=link.pk).filter(
        Q(remote_updated_at__isnull=True) | Q(remote_updated_at__lt=updated_at)
    ).update(remote_updated_at=updated_at)


def _request_sync(workorder: Workorder) -> None:
    sync_request(workorder, None, trigger=Trigger.DRIFT)
