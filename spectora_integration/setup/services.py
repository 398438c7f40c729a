"""Writes for setting up Spectora: the connection, staff links and service mappings.

The admin-only setup pages call these. Each one records an ActivityEvent for
the company. The API key lives only in the connection's encrypted field: it is
never logged, never put in an activity message and never rendered back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from spectora_integration import crypto
from spectora_integration.client import Resource, SpectoraClient, SpectoraError
from spectora_integration.client.addresses import validate_base_url
from spectora_integration.crypto import SecretUnreadable
from spectora_integration.models import SECRET_FIELDS, ConnectionState, SpectoraConnection
from spectora_integration.sync import bulk
from workorders.errors import ValidationFailed
from workorders.models import Company, Employee, ReportType, Service
from workorders.services import activity_record

log = logging.getLogger(__name__)

MAX_RATE_LIMIT = 1000


# ---------------------------------------------------------------- connection


@dataclass(frozen=True)
class TestResult:
    """What a connection test found, in words for the admin who pressed the button."""

    __test__ = False  # not a pytest test class

    ok: bool
    message: str


def connection_get(company: Company) -> SpectoraConnection | None:
    return SpectoraConnection.objects.filter(company=company).first()


def connection_save(
    company: Company,
    *,
    base_url: str,
    api_key: str | None = None,
    webhook_secret: str | None = None,
    rate_limit_per_second: int | None = None,
    user=None,
) -> SpectoraConnection:
    """Create or update the company's connection. An empty key or secret keeps the stored one.

    A new address needs the key typed again: the stored key is never sent to an
    address it was not entered for.
    """
    try:
        base_url = validate_base_url(base_url)
    except ValidationError as exc:
        raise ValidationFailed(exc.messages[0], fields={"base_url": exc.messages}) from None
    api_key = (api_key or "").strip()
    webhook_secret = (webhook_secret or "").strip()
    if rate_limit_per_second is not None and not 1 <= rate_limit_per_second <= MAX_RATE_LIMIT:
        message = f"Choose a rate limit between 1 and {MAX_RATE_LIMIT} calls per second."
        raise ValidationFailed(message, fields={"rate_limit_per_second": [message]})

    with transaction.atomic():
        connection = (
            SpectoraConnection.objects.select_for_update().filter(company=company).first()
            or SpectoraConnection(company=company)
        )
        had_key = bool(connection.api_key_encrypted)
        address_changed = connection.pk is not None and connection.base_url != base_url
        if not api_key and not had_key:
            message = "Enter the API key from Spectora (Settings > API)."
            raise ValidationFailed(message, fields={"api_key": [message]})
        if not api_key and address_changed:
            message = (
                "Enter the API key again when you change the address: the saved key is only "
                "sent to the address it was entered for."
            )
            raise ValidationFailed(message, fields={"api_key": [message]})

        changes = []
        if connection.pk is None or address_changed:
            changes.append(f"address {base_url}")
        connection.base_url = base_url
        if api_key:
            connection.set_api_key(api_key)
            changes.append("a new API key")
        if webhook_secret:
            connection.set_webhook_secret(webhook_secret)
            changes.append("a new webhook secret")
        if rate_limit_per_second is not None and (
            rate_limit_per_second != connection.rate_limit_per_second
        ):
            connection.rate_limit_per_second = rate_limit_per_second
            changes.append(f"rate limit {rate_limit_per_second}/s")
        if api_key or address_changed:
            # Not known to work until tested; keeps syncs from using an untested key.
            connection.state = (
                ConnectionState.FAILING if connection.pk else ConnectionState.DISCONNECTED
            )
            connection.last_error = "Not tested since the connection was changed."
        connection.save()
        summary = ", ".join(changes) if changes else "no changes"
        activity_record(
            company, None, user, "spectora_connection_saved",
            f"Saved the Spectora connection: {summary}.",
        )
    return connection


def connection_test(connection: SpectoraConnection, *, user=None) -> TestResult:
    """Ask Spectora for its inspectors; record the outcome on the connection. Never raises."""
    result = _probe(connection)
    connection.state = ConnectionState.CONNECTED if result.ok else ConnectionState.FAILING
    connection.last_checked_at = timezone.now()
    connection.last_error = "" if result.ok else result.message[:500]
    connection.save(update_fields=["state", "last_checked_at", "last_error", "updated_at"])
    activity_record(
        connection.company, None, user, "spectora_connection_tested",
        f"Tested the Spectora connection. {result.message}",
        ok=result.ok,
    )
    return result


def _probe(connection: SpectoraConnection) -> TestResult:
    try:
        connection.api_key  # noqa: B018 - readable?
    except SecretUnreadable as exc:
        return TestResult(False, exc.message)
    if not connection.api_key:
        return TestResult(False, "There is no API key to test. Enter the key from Spectora.")
    try:
        validate_base_url(connection.base_url)
    except ValidationError as exc:
        return TestResult(False, exc.messages[0])
    try:
        inspectors = SpectoraClient.for_connection(connection).inspectors()
    except SpectoraError as exc:
        return TestResult(False, failure_message(exc, connection.base_url))
    count = len(inspectors)
    return TestResult(
        True, f"Connected: Spectora answered with {count} inspector{'' if count == 1 else 's'}."
    )


def failure_message(error: SpectoraError, base_url: str) -> str:
    """The client's error, worded for someone who just pressed "Test connection"."""
    if error.status == 401:
        return (
            "Spectora refused the API key (401). Check the key in Spectora under Settings > API."
        )
    if error.code == "unreachable":
        return f"Could not reach Spectora at {base_url}: check the address."
    if error.code == "timeout":
        return "Spectora did not answer in time."
    if error.status == 404:
        return f"Spectora's API was not found at {base_url} (404): check the address."
    if error.status and error.status >= 500:
        return f"Spectora had a server error (HTTP {error.status}). Try again in a few minutes."
    if error.status == 429 or error.code == "rate_limited_locally":
        return "Spectora asked us to slow down. Try again in a minute."
    return error.message



def connection_disconnect(connection: SpectoraConnection, *, user=None) -> SpectoraConnection:
    """Forget the key and webhook secrets and stop syncing. The address stays for next time."""
    connection.api_key_encrypted = ""
    connection.api_key_last4 = ""
    connection.webhook_secret_encrypted = ""
    connection.previous_webhook_secret_encrypted = ""
    connection.state = ConnectionState.DISCONNECTED
    connection.last_error = ""
    connection.save()
    activity_record(
        connection.company, None, user, "spectora_disconnected",
        "Disconnected Spectora: removed the API key and webhook secret.",
    )
    return connection


@dataclass
class RotationResult:
    rotated: int = 0  # secrets now encrypted with the first key
    unreadable: list[str] = field(default_factory=list)  # sentences, one per secret


def secrets_rotate() -> RotationResult:
    """Re-encrypt every stored secret with the first ATTIK_ENCRYPTION_KEY.

    A secret no key decrypts is left as it is and reported; the others are still
    rotated, each connection in its own transaction.
    """
    result = RotationResult()
    for pk in SpectoraConnection.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            connection = SpectoraConnection.objects.select_for_update().get(pk=pk)
            changed = []
            for name, what in SECRET_FIELDS.items():
                try:
                    rotated = crypto.rotate(getattr(connection, name), what=what)
                except crypto.SecretUnreadable as exc:
                    result.unreadable.append(f"{connection.company}: {exc.message}")
                    continue
                if rotated:
                    setattr(connection, name, rotated)
                    changed.append(name)
            if changed:
                connection.save(update_fields=[*changed, "updated_at"])
                result.rotated += len(changed)
    return result


# ---------------------------------------------------------------- staff


@dataclass(frozen=True)
class Linked:
    employee: Employee
    queued: int = 0  # workorders that were waiting for this link, now queued


def staff_link(employee: Employee, inspector_id: str, *, user=None) -> Linked:
    """Link an employee to a Spectora inspector that no other employee is linked to,
    then queue the upcoming workorders that were waiting for this link."""
    inspector_id = (inspector_id or "").strip()
    if not inspector_id:
        raise ValidationFailed("Choose a Spectora inspector.")
    with transaction.atomic():
        employee = Employee.objects.select_for_update().get(pk=employee.pk)
        if employee.spectora_inspector_id == inspector_id:
            return Linked(employee)
        taken = (
            Employee.objects.filter(company_id=employee.company_id,
                                    spectora_inspector_id=inspector_id)
            .exclude(pk=employee.pk)
            .first()
        )
        if taken is not None:
            raise ValidationFailed(
                f"Spectora inspector {inspector_id} is already linked to {taken.name}. "
                "Unlink it first."
            )
        previous = employee.spectora_inspector_id
        employee.spectora_inspector_id = inspector_id
        try:
            with transaction.atomic():
                employee.save(update_fields=["spectora_inspector_id"])
        except IntegrityError:
            raise ValidationFailed(
                f"Spectora inspector {inspector_id} was just linked to someone else."
            ) from None
        was = f" (was {previous})" if previous else ""
        activity_record(
            employee.company, None, user, "spectora_staff_linked",
            f"Linked {employee.name} to Spectora inspector {inspector_id}{was}.",
            employee_id=employee.pk, inspector_id=inspector_id,
        )
    queued = bulk.resync_waiting(employee.company, user, employees=[employee])
    return Linked(employee, queued)


def _plain(text) -> str:
    return " ".join(str(text or "").split()).casefold()


def same_person(employee: Employee, inspector: Resource) -> bool:
    """An employee and a Spectora inspector share a name or an email (ignoring case and
    spacing). Linking them when they share neither is allowed, but worth a second look."""
    name, email = _plain(inspector["name"]), _plain(inspector["email"])
    return bool((name and name == _plain(employee.name))
                or (email and email == _plain(employee.email)))


def staff_unlink(employee: Employee, *, user=None) -> Employee:
    previous = employee.spectora_inspector_id
    if not previous:
        return employee
    employee.spectora_inspector_id = None
    employee.save(update_fields=["spectora_inspector_id"])
    activity_record(
        employee.company, None, user, "spectora_staff_unlinked",
        f"Unlinked {employee.name} from Spectora inspector {previous}.",
        employee_id=employee.pk, inspector_id=previous,
    )
    return employee


def staff_create_from_inspector(company: Company, inspector: Resource, *, user=None) -> Employee:
    """A new Attik employee for a Spectora inspector nobody is linked to yet, already linked."""
    name = str(inspector["name"] or "").strip()[:200] or f"Spectora inspector {inspector.id}"
    email = str(inspector["email"] or "").strip()
    if len(email) > 254 or "@" not in email:
        email = ""
    with transaction.atomic():
        taken = Employee.objects.filter(company=company, spectora_inspector_id=inspector.id).first()
        if taken is not None:
            raise ValidationFailed(
                f"Spectora inspector {inspector.id} is already linked to {taken.name}."
            )
        try:
            with transaction.atomic():
                employee = Employee.objects.create(
                    company=company, name=name, email=email,
                    active=inspector["active"] is not False,
                    spectora_inspector_id=inspector.id,
                )
        except IntegrityError:
            raise ValidationFailed(
                f"Spectora inspector {inspector.id} was just linked to someone else."
            ) from None
        activity_record(
            company, None, user, "spectora_staff_created",
            f"Created employee {employee.name} from Spectora inspector {inspector.id}.",
            employee_id=employee.pk, inspector_id=inspector.id,
        )
    return employee


# ---------------------------------------------------------------- services


def _clean_id(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def service_map(
    service: Service,
    spectora_service_id: str | None,
    report_type_template_ids: dict[int, str | None] | None = None,
    *,
    user=None,
    resync: bool = True,
) -> int:
    """Map a service (and some of its report types) to Spectora; return how many changed.

    ``report_type_template_ids`` maps ids of this service's report types to
    template ids (None unmaps); an id that is not one of them is refused.
    ``resync`` queues the upcoming workorders that were waiting for this mapping.
    """
    report_type_template_ids = report_type_template_ids or {}
    own = {rt.pk: rt for rt in service.report_types.all()}
    foreign = set(report_type_template_ids) - set(own)
    if foreign:
        raise ValidationFailed(f"Those report types are not part of {service.name}.")
    changed = 0
    with transaction.atomic():
        new_id = _clean_id(spectora_service_id)
        before = {rt.pk: rt.spectora_template_id for rt in own.values()}
        service_changed = service.spectora_service_id != new_id
        if service_changed:
            previous = service.spectora_service_id
            service.spectora_service_id = new_id
            service.save(update_fields=["spectora_service_id"])
            changed += 1
            activity_record(
                service.company, None, user, "spectora_service_mapped",
                _mapping_message("service", service.name, "Spectora service", previous, new_id),
                service_id=service.pk, spectora_service_id=new_id,
            )
        for pk, template_id in report_type_template_ids.items():
            changed += report_type_map(own[pk], template_id, user=user, resync=False)
    if changed and resync:
        _resync_mapped(service.company, [service] if service_changed else [],
                       [rt for rt in own.values() if rt.spectora_template_id != before[rt.pk]],
                       user)
    return changed


def report_type_map(report_type: ReportType, template_id: str | None, *, user=None,
                    resync: bool = True) -> int:
    """Map a report type to a Spectora template (None unmaps); 1 when it changed, else 0."""
    new_id = _clean_id(template_id)
    if report_type.spectora_template_id == new_id:
        return 0
    previous = report_type.spectora_template_id
    report_type.spectora_template_id = new_id
    report_type.save(update_fields=["spectora_template_id"])
    activity_record(
        report_type.company, None, user, "spectora_report_type_mapped",
        _mapping_message("report type", report_type.name, "Spectora template", previous, new_id),
        report_type_id=report_type.pk, spectora_template_id=new_id,
    )
    if resync and new_id:
        _resync_mapped(report_type.company, [], [report_type], user)
    return 1


def _resync_mapped(company, services, report_types, user) -> int:
    """Queue the upcoming workorders waiting for these rows' mappings (only mapped ones)."""
    return bulk.resync_waiting(
        company, user,
        services=[s for s in services if s.spectora_service_id],
        report_types=[rt for rt in report_types if rt.spectora_template_id],
    )


@dataclass(frozen=True)
class MappingSaved:
    changed: int
    queued: int = 0  # workorders that were waiting for these mappings, now queued


def mapping_save(
    company: Company,
    *,
    services: dict[int, str | None],
    report_types: dict[int, str | None],
    user=None,
) -> MappingSaved:
    """Save the Service mapping page in one go; every id must be the company's own.
    Then queue the upcoming workorders that were waiting for the new mappings."""
    remaining = dict(report_types)
    with transaction.atomic():
        service_rows = list(
            Service.objects.filter(company=company, pk__in=services)
            .prefetch_related("report_types")
            .select_for_update(of=("self",))
        )
        report_type_rows = {
            rt.pk: rt for rt in ReportType.objects.filter(company=company, pk__in=report_types)
        }
        if len(service_rows) != len(services) or len(report_type_rows) != len(report_types):
            raise ValidationFailed("Nothing was saved: those are not all your company's rows.")
        every_rt = dict(report_type_rows)
        for service in service_rows:
            every_rt.update({rt.pk: rt for rt in service.report_types.all()})
        before = {("service", s.pk): s.spectora_service_id for s in service_rows}
        before.update({("rt", rt.pk): rt.spectora_template_id for rt in every_rt.values()})
        changed = 0
        for service in service_rows:
            own = {
                rt.pk: remaining.pop(rt.pk)
                for rt in service.report_types.all()
                if rt.pk in remaining
            }
            changed += service_map(service, services[service.pk], own, user=user, resync=False)
        for pk, template_id in remaining.items():
            changed += report_type_map(report_type_rows[pk], template_id, user=user,
                                       resync=False)
    if not changed:
        return MappingSaved(0)
    queued = _resync_mapped(
        company,
        [s for s in service_rows if s.spectora_service_id != before[("service", s.pk)]],
        [rt for rt in every_rt.values() if rt.spectora_template_id != before[("rt", rt.pk)]],
        user,
    )
    return MappingSaved(changed, queued)


def _mapping_message(kind: str, name: str, target: str, previous, new) -> str:
    if new is None:
        return f"Unmapped {kind} {name} from {target} {previous}."
    if previous is None:
        return f"Mapped {kind} {name} to {target} {new}."
    return f"Mapped {kind} {name} to {target} {new} (was {previous})."
