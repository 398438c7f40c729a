"""Writes for the office domain. Views, API and tasks call these; nothing else writes."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from workorders import integrations
from workorders.errors import IdempotencyKeyReused, NotAllowed, StaleVersion, ValidationFailed
from workorders.models import (
    ActivityEvent,
    Assignment,
    Company,
    Employee,
    IdempotencyKey,
    LineItem,
    Origin,
    Service,
    Workorder,
    WorkorderStatus,
)

# -- The one set of bounds. Forms and serializers import these; none has limits of its own.
DURATION_MIN, DURATION_MAX = 15, 24 * 60  # minutes
QUANTITY_MIN, QUANTITY_MAX = 1, 99
PRICE_CENTS_MAX = 9_999_999  # $99,999.99
LINE_ITEMS_MAX = 30
ASSIGNEES_MAX = 10
NOTES_MAX_LENGTH = 5000
ADDRESS_MAX_LENGTH = Workorder._meta.get_field("address").max_length
CLIENT_NAME_MAX_LENGTH = Workorder._meta.get_field("client_name").max_length
CLIENT_EMAIL_MAX_LENGTH = Workorder._meta.get_field("client_email").max_length
CANCEL_REASON_MAX_LENGTH = Workorder._meta.get_field("cancel_reason").max_length
# Local dates (the site's time zone) an inspection may be scheduled on, both included.
SCHEDULED_FIRST_DAY = date(2000, 1, 1)
SCHEDULED_LAST_DAY = date(2100, 12, 31)
# API creates: an Idempotency-Key is at most this long and is remembered this long.
IDEMPOTENCY_KEY_MAX_LENGTH = IdempotencyKey._meta.get_field("key").max_length
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)

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


def activity_record_many(company, workorders, actor, verb: str, message: str, **data) -> int:
    """The same event on many workorders, one row each, in one INSERT per 500 rows."""
    rows = [
        ActivityEvent(company=company, workorder=workorder, actor=actor, verb=verb,
                      message=message, data=data)
        for workorder in workorders
    ]
    ActivityEvent.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def _actor_name(user) -> str:
    return user.get_username() if user is not None else "System"


def _validate_assignees(company: Company, assignees: list[AssigneeInput]) -> list[AssigneeInput]:
    if len(assignees) > ASSIGNEES_MAX:
        raise ValidationFailed(
            "Check the inspectors.",
            fields={"assignees": [f"Assign at most {ASSIGNEES_MAX} inspectors."]},
        )
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
    if len(line_items) > LINE_ITEMS_MAX:
        raise ValidationFailed(
            "Check the services.",
            fields={"line_items": [f"List at most {LINE_ITEMS_MAX} services."]},
        )
    errors = []
    for item in line_items:
        if item.service.company_id != company.id:
            errors.append("That service is not in your company.")
        if not _int_between(item.quantity, QUANTITY_MIN, QUANTITY_MAX):
            errors.append(
                f"{item.service.name}: quantity must be between {QUANTITY_MIN} and {QUANTITY_MAX}."
            )
        price = item.service.price_cents if item.price_cents is None else item.price_cents
        if not _int_between(price, 0, PRICE_CENTS_MAX):
            errors.append(
                f"{item.service.name}: price must be between $0.00 and "
                f"${PRICE_CENTS_MAX / 100:,.2f}."
            )
    if errors:
        raise ValidationFailed("Check the services.", fields={"line_items": errors})


def _int_between(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _text_error(values: dict, key: str, max_length: int, label: str, *, required: bool):
    if key not in values:
        return None
    value = values[key]
    if value is None:
        value = ""
    if not isinstance(value, str):
        return f"Enter the {label} as text."
    if required and not value.strip():
        return f"Enter the {label}."
    if len(value) > max_length:
        return f"Keep the {label} to {max_length:,} characters or fewer."
    return None


SCHEDULED_WINDOW_MESSAGE = (
    f"Schedule the inspection between {SCHEDULED_FIRST_DAY:%Y-%m-%d} and "
    f"{SCHEDULED_LAST_DAY:%Y-%m-%d}."
)


def scheduled_window() -> tuple[datetime, datetime]:
    """The first and the last allowed instant, in the site's time zone."""
    site = timezone.get_default_timezone()
    first = datetime.combine(SCHEDULED_FIRST_DAY, datetime.min.time(), tzinfo=site)
    last = datetime.combine(SCHEDULED_LAST_DAY, datetime.max.time(), tzinfo=site)
    return first, last


def _scheduled_at_error(value) -> str | None:
    if not isinstance(value, datetime):
        return "Enter the date and time of the inspection."
    if timezone.is_naive(value):
        return "Enter the date and time with its time zone."
    first, last = scheduled_window()
    if not first <= value <= last:
        return SCHEDULED_WINDOW_MESSAGE
    return None


def _validate_scalars(values: dict) -> None:
    """Every scalar a workorder write may carry, against the bounds above."""
    errors: dict[str, list[str]] = {}
    for key, max_length, label, required in (
        ("address", ADDRESS_MAX_LENGTH, "property address", True),
        ("client_name", CLIENT_NAME_MAX_LENGTH, "client's name", True),
        ("client_email", CLIENT_EMAIL_MAX_LENGTH, "client's email", False),
        ("notes", NOTES_MAX_LENGTH, "notes", False),
    ):
        message = _text_error(values, key, max_length, label, required=required)
        if message:
            errors[key] = [message]
    if values.get("client_email") and "client_email" not in errors:
        try:
            validate_email(values["client_email"])
        except ValidationError:
            errors["client_email"] = ["Enter an email address like name@example.com."]
    if "duration_minutes" in values and not _int_between(
        values["duration_minutes"], DURATION_MIN, DURATION_MAX
    ):
        errors["duration_minutes"] = [
            f"Duration must be between {DURATION_MIN} minutes and {DURATION_MAX // 60} hours."
        ]
    if "scheduled_at" in values:
        message = _scheduled_at_error(values["scheduled_at"])
        if message:
            errors["scheduled_at"] = [message]
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


@dataclass(frozen=True)
class IdempotencyInput:
    """An API create's ``Idempotency-Key`` and the fingerprint of the body it came with."""

    key: str
    request_hash: str


def request_fingerprint(payload) -> str:
    """SHA-256 of the request's data, independent of key order and whitespace."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_idempotency_key(key: str) -> None:
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValidationFailed(
            "The Idempotency-Key header is too long.",
            fields={"Idempotency-Key": [
                f"Use at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."
            ]},
        )


def idempotent_replay(company: Company, idempotency: IdempotencyInput) -> Workorder | None:
    """The workorder a live key already made, or None. A key too long is refused
    (``ValidationFailed``), and so is a live key sent with another body
    (``IdempotencyKeyReused``)."""
    _check_idempotency_key(idempotency.key)
    row = (
        IdempotencyKey.objects.filter(
            company=company,
            key=idempotency.key,
            created_at__gte=timezone.now() - IDEMPOTENCY_KEY_TTL,
        )
        .select_related("workorder")
        .first()
    )
    if row is None:
        return None
    if not hmac.compare_digest(row.request_hash, idempotency.request_hash):
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request body. "
            "Use a new key for a new workorder."
        )
    return row.workorder


def _remember_idempotency_key(company, workorder, idempotency: IdempotencyInput) -> None:
    """Keep the key for 24 h; an expired key of this company is forgotten (and may be reused)."""
    IdempotencyKey.objects.filter(
        company=company, created_at__lt=timezone.now() - IDEMPOTENCY_KEY_TTL
    ).delete()
    IdempotencyKey.objects.create(
        company=company, key=idempotency.key, request_hash=idempotency.request_hash,
        workorder=workorder,
    )


def _replay(company, form_token, idempotency) -> Workorder | None:
    if idempotency:
        return idempotent_replay(company, idempotency)
    if form_token:
        return Workorder.objects.filter(company=company, form_token=form_token).first()
    return None


def workorder_create(
    *,
    company: Company,
    user,
    values: dict,
    assignees: list[AssigneeInput] = (),
    line_items: list[LineItemInput] = (),
    form_token: str | None = None,
    idempotency: IdempotencyInput | None = None,
    origin: str = Origin.ATTIK,
    status: str = WorkorderStatus.UNCONFIRMED,
) -> Workorder:
    """Book a workorder. A repeated ``form_token`` (the create form) or ``idempotency`` key
    (the API) returns the first one instead of a twin; the key with another body is refused
    with ``IdempotencyKeyReused``."""
    existing = _replay(company, form_token, idempotency)
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
            if idempotency:
                _remember_idempotency_key(company, workorder, idempotency)
            _replace_children(workorder, assignees, line_items)
            activity_record(
                company, workorder, user, "created",
                f"{_actor_name(user)} booked {workorder} for {workorder.client_name}.",
            )
            integrations.announce(integrations.CREATED, workorder, user=user)
    except IntegrityError:
        # A concurrent request with the same token or key won the race.
        existing = _replay(company, form_token, idempotency)
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
    if len(reason) > CANCEL_REASON_MAX_LENGTH:
        raise ValidationFailed(
            "The reason is too long.",
            fields={"reason": [f"Keep the reason to {CANCEL_REASON_MAX_LENGTH} characters."]},
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
            cancel_reason=reason,
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
