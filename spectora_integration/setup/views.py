"""Admin-only Spectora setup pages: the connection, staff links and service mapping.

Thin: forms check input, ``setup`` writes, SpectoraClient reads Spectora's lists.
Every row is looked up within the signed-in admin's company; every change is a
POST that redirects back with a message saying what happened.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from spectora_integration.client import Resource, SpectoraClient, SpectoraError
from spectora_integration.client.addresses import validate_base_url
from spectora_integration.models import SpectoraConnection
from spectora_integration.setup import services as setup
from spectora_integration.setup.forms import (
    ConnectionForm,
    InspectorForm,
    MappingForm,
    StaffLinkForm,
    inspector_label,
)
from spectora_integration.sync import bulk
from spectora_integration.sync import selectors as sync_selectors
from workorders import permissions
from workorders.errors import ValidationFailed
from workorders.models import Employee, ReportType, Service

WEBHOOK_PATH = "/api/spectora/webhooks/{id}/"  # the receiver's route in attik/urls.py


def admin_required(view):
    """Signed in (else the login page) and allowed to manage the integration (else 403)."""

    @functools.wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not permissions.user_can(request.user, permissions.MANAGE_INTEGRATION):
            raise PermissionDenied(
                "Only administrators can set up Spectora. Ask your company's administrator."
            )
        return view(request, *args, **kwargs)

    return wrapped


def _page(request, template: str, context: dict):
    context = {
        "nav_can_create": permissions.user_can(request.user, permissions.CREATE),
        "nav_can_admin": permissions.user_can(request.user, permissions.ADMIN_SITE),
        **context,
    }
    return render(request, template, context)


def _company(request):
    return permissions.company_of(request.user)


def _first_error(form) -> str:
    for errors in form.errors.values():
        if errors:
            return errors[0]
    return "Check what you entered and try again."


# ---------------------------------------------------------------- Spectora's lists


@dataclass
class Catalogue:
    """What Spectora lists, or why it could not be read (``problem``, in plain words)."""

    connection: SpectoraConnection | None
    problem: str = ""
    inspectors: list[Resource] = field(default_factory=list)
    services: list[Resource] = field(default_factory=list)
    templates: list[Resource] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problem


NOT_CONNECTED = (
    "Your company is not connected to Spectora yet, so Attik cannot list Spectora's {what}. "
    "Connect it first on the Spectora connection page."
)


def _catalogue(company, *lists: str) -> Catalogue:
    connection = setup.connection_get(company)
    what = " and ".join(lists)
    if connection is None or not connection.api_key_encrypted:
        return Catalogue(connection, NOT_CONNECTED.format(what=what))
    try:
        validate_base_url(connection.base_url)
    except ValidationError as exc:  # saved before the rules (or demo mode) changed
        return Catalogue(connection, f"Attik will not call the saved address. {exc.messages[0]}")
    client = SpectoraClient.for_connection(connection)
    catalogue = Catalogue(connection)
    try:
        for name in lists:
            setattr(catalogue, name, getattr(client, name)())
    except SpectoraError as exc:
        catalogue.problem = (
            f"Attik could not load Spectora's {what}. "
            f"{setup.failure_message(exc, connection.base_url)}"
        )
    return catalogue


# ---------------------------------------------------------------- connection


@admin_required
@require_http_methods(["GET", "POST"])
def connection(request):
    company = _company(request)
    current = setup.connection_get(company)
    form = ConnectionForm(request.POST or None, connection=current)
    if request.method == "POST" and form.is_valid():
        try:
            saved = setup.connection_save(company, user=request.user, **form.cleaned_data)
        except ValidationFailed as exc:
            form.apply_service_error(exc)
        else:
            result = setup.connection_test(saved, user=request.user)
            if result.ok:
                messages.success(request, f"Saved the Spectora connection. {result.message}")
            else:
                messages.error(
                    request, f"Saved the Spectora connection, but the test failed. {result.message}"
                )
            return redirect("spectora:connection")
    webhook_url = (
        request.build_absolute_uri(WEBHOOK_PATH.format(id=current.pk)) if current else ""
    )
    return _page(
        request,
        "spectora_integration/connection.html",
        {"form": form, "connection": current, "webhook_url": webhook_url, "tab": "connection",
         "progress": sync_selectors.batch_progress(company)},
    )


@admin_required
@require_POST
def sync_all(request):
    """Sync all upcoming workorders (the button on the connection page)."""
    force = request.POST.get("force") == "1"
    try:
        result = bulk.sync_all(_company(request), request.user, force=force)
    except bulk.NotConnected as refused:
        messages.error(request, f"Nothing was queued. {refused}")
        return redirect("spectora:connection")
    what = "Force sync" if force else "Sync"
    plural = "" if result.queued == 1 else "s"
    message = f"{what} of {result.queued} upcoming workorder{plural} queued."
    if result.skipped:
        reasons = "; ".join(f"{g.count} × {g.reason.rstrip('.')}" for g in result.groups[:5])
        more = "; and more (see the Failed syncs page)" if len(result.groups) > 5 else ""
        message += f" {result.skipped} left out: {reasons}{more}."
    messages.success(request, message)
    return redirect(f"{reverse('spectora:connection')}#bulk-sync")


@admin_required
@require_GET
def sync_all_progress(request):
    """The progress of the latest Sync all, for htmx polling while it runs."""
    progress = sync_selectors.batch_progress(_company(request))
    return render(request, "spectora_integration/_bulk_progress.html", {"progress": progress})


@admin_required
@require_POST
def connection_test(request):
    current = setup.connection_get(_company(request))
    if current is None:
        messages.error(request, "There is no Spectora connection to test yet. Save one first.")
        return redirect("spectora:connection")
    result = setup.connection_test(current, user=request.user)
    (messages.success if result.ok else messages.error)(request, result.message)
    return redirect("spectora:connection")


@admin_required
@require_POST
def connection_disconnect(request):
    current = setup.connection_get(_company(request))
    if current is None or not current.api_key_encrypted:
        messages.info(request, "Spectora was not connected; nothing to disconnect.")
    else:
        setup.connection_disconnect(current, user=request.user)
        messages.success(
            request,
            "Disconnected from Spectora. The API key and webhook secret were removed; nothing "
            "syncs until you connect again.",
        )
    return redirect("spectora:connection")


# ---------------------------------------------------------------- staff


@dataclass(frozen=True)
class InspectorRow:
    """One Spectora inspector and the Attik employee linked to it (templates cannot read
    ``Resource.id``: its item lookup answers first)."""

    id: str
    name: str
    email: str
    active: bool
    employee: Employee | None

    @classmethod
    def of(cls, inspector: Resource, employee: Employee | None) -> InspectorRow:
        return cls(
            id=inspector.id,
            name=str(inspector["name"] or inspector.id),
            email=str(inspector["email"] or ""),
            active=inspector["active"] is not False,
            employee=employee,
        )


@admin_required
@require_http_methods(["GET"])
def staff(request):
    company = _company(request)
    catalogue = _catalogue(company, "inspectors")
    employees = list(Employee.objects.filter(company=company).order_by("name"))
    by_inspector = {e.spectora_inspector_id: e for e in employees if e.spectora_inspector_id}
    listed = {i.id for i in catalogue.inspectors}
    context = {
        "tab": "staff",
        "catalogue": catalogue,
        "rows": [InspectorRow.of(i, by_inspector.get(i.id)) for i in catalogue.inspectors],
        "unlinked": [e for e in employees if not e.spectora_inspector_id],
        "linked": [e for e in employees if e.spectora_inspector_id],
        # Linked to an id Spectora does not list (deleted there, or a typo from an import).
        "orphans": [
            e for e in employees
            if catalogue.ok and e.spectora_inspector_id and e.spectora_inspector_id not in listed
        ],
    }
    return _page(request, "spectora_integration/staff.html", context)


def _inspector_form(request, form_class, **kwargs):
    """The bound form over Spectora's inspectors when it is valid; otherwise None, with
    the reason (Spectora unreadable, or the form's first error) said to the person."""
    catalogue = _catalogue(_company(request), "inspectors")
    if not catalogue.ok:
        messages.error(request, f"Nothing changed. {catalogue.problem}")
        return None
    form = form_class(request.POST, inspectors=catalogue.inspectors, **kwargs)
    if not form.is_valid():
        messages.error(request, f"Nothing changed. {_first_error(form)}")
        return None
    return form


@admin_required
@require_POST
def staff_link(request):
    form = _inspector_form(request, StaffLinkForm, company=_company(request))
    if form is None:
        return redirect("spectora:staff")
    employee = form.cleaned_data["employee"]
    try:
        linked = setup.staff_link(employee, form.inspector.id, user=request.user)
    except ValidationFailed as exc:
        messages.error(request, f"Nothing changed. {exc.message}")
    else:
        label = inspector_label(form.inspector)
        messages.success(request, f"Linked {employee.name} to Spectora inspector {label}"
                                  f"{_queued_note(linked.queued, employee.name)}")
        if not setup.same_person(employee, form.inspector):
            messages.warning(
                request,
                f"Check this link: {employee.name} ({employee.email or 'no email'}) and "
                f"Spectora's {label} share neither name nor email. If they are not the same "
                "person, unlink them and link the right inspector.",
            )
    return redirect("spectora:staff")


@admin_required
@require_POST
def staff_unlink(request):
    employee = get_object_or_404(
        Employee, company=_company(request), pk=_int_or_404(request.POST.get("employee"))
    )
    if not employee.spectora_inspector_id:
        messages.info(request, f"{employee.name} was not linked to Spectora.")
    else:
        setup.staff_unlink(employee, user=request.user)
        messages.success(request, f"Unlinked {employee.name} from Spectora.")
    return redirect("spectora:staff")


@admin_required
@require_POST
def staff_create(request):
    form = _inspector_form(request, InspectorForm)
    if form is None:
        return redirect("spectora:staff")
    try:
        employee = setup.staff_create_from_inspector(_company(request), form.inspector,
                                                      user=request.user)
    except ValidationFailed as exc:
        messages.error(request, f"Nothing changed. {exc.message}")
    else:
        messages.success(
            request, f"Created employee {employee.name}, linked to Spectora inspector "
            f"{form.inspector.id}."
        )
    return redirect("spectora:staff")


def _queued_note(queued: int, waited_for: str) -> str:
    """Ends a sentence: how many workorders the fix sent to Spectora."""
    if not queued:
        return "."
    were = "workorder that was" if queued == 1 else "workorders that were"
    return f"; queued {queued} {were} waiting for {waited_for}."


def _int_or_404(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such employee.") from None


# ---------------------------------------------------------------- services


@admin_required
@require_http_methods(["GET", "POST"])
def services(request):
    company = _company(request)
    catalogue = _catalogue(company, "services", "templates")
    service_rows = Service.objects.filter(company=company).prefetch_related("report_types")
    report_types = ReportType.objects.filter(company=company).prefetch_related("services")
    if not catalogue.ok:
        if request.method == "POST":
            messages.error(request, f"Nothing was saved. {catalogue.problem}")
            return redirect("spectora:services")
        context = {
            "tab": "services", "catalogue": catalogue, "form": None,
            "services": service_rows, "report_types": report_types,
        }
        return _page(request, "spectora_integration/services.html", context)

    form = MappingForm(
        request.POST or None,
        services=service_rows,
        report_types=report_types,
        spectora_services=catalogue.services,
        templates=catalogue.templates,
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = setup.mapping_save(
                company,
                services=form.service_values(),
                report_types=form.report_type_values(),
                user=request.user,
            )
        except ValidationFailed as exc:
            form.add_error(None, exc.message)
        else:
            if saved.changed:
                plural = "s" if saved.changed != 1 else ""
                messages.success(request, f"Saved the service mapping: {saved.changed} "
                                          f"change{plural}{_queued_note(saved.queued, 'it')}")
            else:
                messages.info(request, "Nothing to save: the mapping was already like this.")
            return redirect("spectora:services")
    context = {"tab": "services", "catalogue": catalogue, "form": form}
    return _page(request, "spectora_integration/services.html", context)

