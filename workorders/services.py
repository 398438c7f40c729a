"""Writes for the office domain. Views, API and tasks call these; nothing else writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from workorders import integrations
from workorders.errors import NotAllowed, StaleVersion, ValidationFailed
from workorders.models import (
    ActivityEvent,
    Assignment,
    Company,
    Employee,
    LineItem,
    Origin,
    Service,
    Workorder,
    WorkorderStatus,
)

SCALAR_FIELDS = (
    "scheduled_at",
    "duration_minutes",
    "address",
    "client_name",
    "client_email",
    "notes",
)
# Changes to these on a linked workorder make its Spectora job out of date.
SYNCED_FIELDS = frozenset(SCALAR_FIELDS) | {"assignees", "line_items"}


@dataclass(frozen=True)
class AssigneeInput:
    employee: Employee
    primary: bool = False


@dataclass(frozen=True)
class LineItemInput:
    service: Service
    price_cents: int | None = None
    quantity: int = 1


def activity_record(company, workorder, actor, verb: str, message: str, **data) -> ActivityEvent:
    return ActivityEvent.objects.create(
        company=company, workorder=workorder, actor=actor, verb=verb, message=message, data=data
    )


def _actor_name(user) -> str:
    return user.get_username() if user is not None else "System"


def _validate_assignees(company: Company, assignees: list[AssigneeInput]) -> list[AssigneeInput]:
    errors = []
    seen = set()
    for item in assignees:
        if item.employee.company_id != company.id:
            errors.append("That inspector is not in your company.")
        elif item.employee.pk in seen:
            errors.append(f"{item.employee.name} is listed twice.")
        seen.add(item.employee.pk)
    primaries = [a for a in assignees if a.primary]
    if len(primaries) > 1:
        errors.append("Choose one primary inspector, not several.")
    if errors:
        raise ValidationFailed("Check the inspectors.", fields={"assignees": errors})
    if assignees and not primaries:
        first = assignees[0]
        assignees = [AssigneeInput(first.employee, True), *assignees[1:]]
    return assignees


def _validate_line_items(company: Company, line_items: list[LineItemInput]) -> None:
    errors = []
    for item in line_items:
        if item.service.company_id != company.id:
            errors.append("That service is not in your company.")
        if item.quantity is None or item.quantity < 1:
            errors.append(f"{item.service.name}: quantity must be at least 1.")
        if item.price_cents is not None and item.price_cents < 0:
            errors.append(f"{item.service.name}: price cannot be negative.")
    if errors:
        raise ValidationFailed("Check the services.", fields={"line_items": errors})


def _validate_scalars(values: dict) -> None:
    errors: dict[str, list[str]] = {}
    if "address" in values and not (values["address"] or "").strip():
        errors["address"] = ["Enter the property address."]
    if "client_name" in values and not (values["client_name"] or "").strip():
        errors["client_name"] = ["Enter the client's name."]
    if "duration_minutes" in values:
        duration = values["duration_minutes"]
        if duration is None or not 15 <= duration <= 24 * 60:
            errors["duration_minutes"] = ["Duration must be between 15 minutes and 24 hours."]
    if "scheduled_at" in values and not isinstance(values["scheduled_at"], datetime):
        errors["scheduled_at"] = ["Enter the date and time of the inspection."]
    if errors:
        raise ValidationFailed("Some fields need attention.", fields=errors)


def _replace_children(workorder, assignees, line_items) -> None:
    workorder_children_replace(
        workorder,
        None if assignees is None else {a.employee.pk: a.primary for a in assignees},
        None if line_items is None else [
            (i.service.pk,
             i.service.price_cents if i.price_cents is None else i.price_cents,
             i.quantity)
            for i in line_items
        ],
    )


def workorder_children_replace(
    workorder: Workorder,
    assignees: dict[int, bool] | None,
    line_items: list[tuple[int, int, int]] | None,
) -> list[str]:
    """Make the workorder's inspectors and line items these; returns what changed.

    ``assignees`` maps employee ids to "primary"; ``line_items`` are
    ``(service id, price in cents, quantity)``. ``None`` leaves that part alone.
    """
    changed = []
    if assignees is not None:
        current = {(a.employee_id, a.primary) for a in workorder.assignments.all()}
        if current != set(assignees.items()):
            workorder.assignments.all().delete()
            Assignment.objects.bulk_create(
                Assignment(workorder=workorder, employee_id=pk, primary=primary)
                for pk, primary in assignees.items()
            )
            changed.append("inspectors")
    if line_items is not None:
        current_items = sorted(
            (li.service_id, li.price_cents, li.quantity) for li in workorder.line_items.all()
        )
        if current_items != sorted(line_items):
            workorder.line_items.all().delete()
            LineItem.objects.bulk_create(
                LineItem(workorder=workorder, service_id=pk, price_cents=price, quantity=quantity)
                for pk, price, quantity in line_items
            )
            changed.append("services")
    return changed


def next_workorder_number(company: Company) -> int:
    Company.objects.filter(pk=company.pk).update(
        last_workorder_number=F("last_workorder_number") + 1
    )
    return Company.objects.values_list("last_workorder_number", flat=True).get(pk=company.pk)


def workorder_create(
    *,
    company: Company,
    user,
    values: dict,
    assignees: list[AssigneeInput] = (),
    line_items: list[LineItemInput] = (),
    form_token: str | None = None,
    origin: str = Origin.ATTIK,
    status: str = WorkorderStatus.UNCONFIRMED,
) -> Workorder:
    """Book a workorder. A repeated ``form_token`` returns the first one instead of a twin."""
    if form_token:
        existing = Workorder.objects.filter(company=company, form_token=form_token).first()
        if existing:
            return existing
    missing = [f for f in ("scheduled_at", "address", "client_name") if not values.get(f)]
    if missing:
        raise ValidationFailed(
            "Some fields need attention.",
            fields={f: ["This field is required."] for f in missing},
        )
    _validate_scalars(values)
    assignees = _validate_assignees(company, list(assignees))
    _validate_line_items(company, list(line_items))
    try:
        with transaction.atomic():
            workorder = Workorder.objects.create(
                company=company,
                number=next_workorder_number(company),
                origin=origin,
                status=status,
                created_by=user,
                form_token=form_token or None,
                **{k: values[k] for k in SCALAR_FIELDS if k in values},
            )
            _replace_children(workorder, assignees, line_items)
            activity_record(
                company, workorder, user, "created",
                f"{_actor_name(user)} booked {workorder} for {workorder.client_name}.",
            )
            integrations.announce(integrations.CREATED, workorder, user=user)
    except IntegrityError:
        if form_token:
            existing = Workorder.objects.filter(company=company, form_token=form_token).first()
            if existing:
                return existing
        raise
    return workorder


def _changed_fields(workorder: Workorder, values: dict) -> list[str]:
    return [k for k in SCALAR_FIELDS if k in values and getattr(workorder, k) != values[k]]


def _children_changed(workorder, assignees, line_items) -> list[str]:
    changed = []
    if assignees is not None:
        current = {(a.employee_id, a.primary) for a in workorder.assignments.all()}
        if current != {(a.employee.pk, a.primary) for a in assignees}:
            changed.append("assignees")
    if line_items is not None:
        current = sorted(
            (li.service_id, li.price_cents, li.quantity) for li in workorder.line_items.all()
        )
        wanted = sorted(
            (
                i.service.pk,
                i.service.price_cents if i.price_cents is None else i.price_cents,
                i.quantity,
            )
            for i in line_items
        )
        if current != wanted:
            changed.append("line_items")
    return changed


def workorder_update(
    workorder: Workorder,
    *,
    user,
    values: dict,
    expected_version: int | None,
    assignees: list[AssigneeInput] | None = None,
    line_items: list[LineItemInput] | None = None,
    verb: str = "edited",
) -> Workorder:
    """Change a workorder. Refuses a stale edit (someone saved since the form was opened)."""
    if workorder.is_cancelled:
        raise NotAllowed("This workorder is cancelled and can no longer be edited.")
    if workorder.is_spectora_origin:
        raise NotAllowed(
            "This workorder comes from Spectora; change it in Spectora and it syncs back here.",
            code="spectora_origin",
        )
    _validate_scalars(values)
    if assignees is not None:
        assignees = _validate_assignees(workorder.company, list(assignees))
    if line_items is not None:
        _validate_line_items(workorder.company, list(line_items))
    with transaction.atomic():
        locked = Workorder.objects.select_for_update().get(pk=workorder.pk)
        if expected_version is not None and locked.version != expected_version:
            raise StaleVersion(
                f"Someone else saved {locked} while you were editing it. "
                "Reload the page to see their changes, then make yours again."
            )
        changed = _changed_fields(locked, values) + _children_changed(locked, assignees, line_items)
        if not changed:
            return locked
        for key in SCALAR_FIELDS:
            if key in values:
                setattr(locked, key, values[key])
        locked.version += 1
        locked.save()
        _replace_children(locked, assignees, line_items)
        what = ", ".join(f.replace("_", " ") for f in changed)
        activity_record(
            locked.company, locked, user, verb, f"{_actor_name(user)} {verb} {locked}: {what}.",
            fields=changed,
        )
        _after_change(locked, user, changed)
    return locked


def workorder_reschedule(
    workorder: Workorder, *, user, scheduled_at: datetime, duration_minutes: int | None = None,
    expected_version: int | None = None,
) -> Workorder:
    values = {"scheduled_at": scheduled_at}
    if duration_minutes is not None:
        values["duration_minutes"] = duration_minutes
    return workorder_update(
        workorder, user=user, values=values, expected_version=expected_version, verb="rescheduled"
    )


def workorder_confirm(workorder: Workorder, *, user) -> Workorder:
    if workorder.is_cancelled:
        raise NotAllowed("A cancelled workorder cannot be confirmed.")
    if workorder.status == WorkorderStatus.CONFIRMED:
        return workorder
    with transaction.atomic():
        updated = Workorder.objects.filter(
            pk=workorder.pk, status=WorkorderStatus.UNCONFIRMED
        ).update(status=WorkorderStatus.CONFIRMED, version=F("version") + 1,
                 updated_at=timezone.now())
        workorder.refresh_from_db()
        if updated:
            activity_record(
                workorder.company, workorder, user, "confirmed",
                f"{_actor_name(user)} confirmed {workorder}.",
            )
            integrations.announce(integrations.CONFIRMED, workorder, user=user)
    return workorder


SPECTORA_ORIGIN_CANCEL = (
    "This job was booked in Spectora: cancel it in Spectora; Attik follows."
)


def workorder_cancel(workorder: Workorder, *, user, reason: str) -> Workorder:
    """Cancel in Attik; a linked Spectora job is cancelled through the sync queue.

    A job booked in Spectora is owned there and flows into Attik only: it is
    cancelled in Spectora, and Attik follows (the importer applies it).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Say why the workorder is cancelled.", fields={"reason": ["Enter a reason."]}
        )
    if workorder.is_cancelled:
        return workorder
    if workorder.is_spectora_origin:
        raise NotAllowed(SPECTORA_ORIGIN_CANCEL, code="spectora_origin")
    with transaction.atomic():
        updated = Workorder.objects.filter(pk=workorder.pk).exclude(
            status=WorkorderStatus.CANCELLED
        ).update(
            status=WorkorderStatus.CANCELLED,
            cancel_reason=reason[:300],
            version=F("version") + 1,
            updated_at=timezone.now(),
        )
        workorder.refresh_from_db()
        if updated:
            activity_record(
                workorder.company, workorder, user, "cancelled",
                f"{_actor_name(user)} cancelled {workorder}: {reason}",
            )
            _after_cancel(workorder, user)
    return workorder


def _after_change(workorder: Workorder, user, changed: list[str]) -> None:
    integrations.announce(integrations.CHANGED, workorder, user=user, changed=changed)


def _after_cancel(workorder: Workorder, user) -> None:
    integrations.announce(integrations.CANCELLED, workorder, user=user)
