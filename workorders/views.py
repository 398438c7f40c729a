"""Office pages. Thin: selectors read, services write, forms translate between them.

Every view needs a signed-in member of a company; every workorder is looked up
through the company-scoped selectors, so another company's id is a 404.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers

from spectora_integration import selectors as spectora_selectors
from workorders import permissions, selectors, services
from workorders.errors import ApplicationError, NotAllowed, ValidationFailed
from workorders.forms import (
    CancelForm,
    RescheduleForm,
    WorkorderFilterForm,
    WorkorderFormGroup,
    apply_service_error,
    dollars,
)
from workorders.models import Workorder, WorkorderStatus

PAGE_SIZE = 25
TABS = ("workorder", "activity", "integrations")
SPECTORA_ORIGIN_HINT = "Comes from Spectora: change it there"
ACTIVITY_LIMIT = 200
SYNC_RUN_LIMIT = 20
DASHBOARD_DAYS = 14


# -- Access ---------------------------------------------------------------------------------


def member_required(view):
    """Signed in (else the login page) and a member of a company (else 403)."""

    @functools.wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if permissions.company_of(request.user) is None:
            raise PermissionDenied(
                "Your account is not part of a company yet. Ask your administrator to add you."
            )
        return view(request, *args, **kwargs)

    return wrapped


def _require(user, action: str) -> None:
    if not permissions.user_can(user, action):
        raise PermissionDenied(
            "Your role does not allow this. Ask an administrator if you need it."
        )


def _workorder_or_404(request, pk) -> Workorder:
    try:
        return selectors.workorder_get(permissions.company_of(request.user), pk)
    except Workorder.DoesNotExist:
        raise Http404("No such workorder.") from None


def _page(request, template: str, context: dict):
    """Render a full page (the top bar's needs come from the context processor)."""
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _htmx_target(request) -> str | None:
    """The element an htmx request will swap, unless it is restoring history (full page)."""
    details = getattr(request, "htmx", None)
    if not details or details.history_restore_request:
        return None
    return details.target


# -- Dashboard ------------------------------------------------------------------------------


@member_required
def dashboard(request):
    """Today's jobs and the Spectora integration's health, in a constant number of queries."""
    company = permissions.company_of(request.user)
    today = timezone.localdate()
    return _page(
        request,
        "workorders/dashboard.html",
        {
            "today": today,
            "jobs": list(selectors.workorders_on_day(company, today)),
            "health": spectora_selectors.sync_health(company, days=DASHBOARD_DAYS),
            "can_create": permissions.user_can(request.user, permissions.CREATE),
        },
    )


# -- List -----------------------------------------------------------------------------------


@member_required
def workorder_list(request):
    company = permissions.company_of(request.user)
    employees = list(selectors.employee_list(company))
    filters = WorkorderFilterForm(request.GET or None, employees=employees)
    criteria = filters.criteria()
    page_obj = Paginator(selectors.workorder_list(company, **criteria), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = list(page_obj.object_list)
    has_any = bool(rows) or selectors.workorder_list(company).exists()
    context = {
        "filters": filters,
        "page_obj": page_obj,
        "workorders": rows,
        "is_filtered": bool(criteria),
        "has_any": has_any,
        "can_create": permissions.user_can(request.user, permissions.CREATE),
    }
    if _htmx_target(request) == "wo-results":
        response = render(request, "workorders/_list_results.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response
    return _page(request, "workorders/list.html", context)


# -- Detail ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MenuEntry:
    """One entry of the Actions menu: shown or not, usable or disabled with a hint."""

    visible: bool = True
    enabled: bool = True
    hint: str = ""


HIDDEN = MenuEntry(visible=False, enabled=False)


def spectora_connection(company):
    try:
        return company.spectora_connection
    except ObjectDoesNotExist:
        return None


def spectora_link(workorder: Workorder):
    try:
        return workorder.spectora_link
    except ObjectDoesNotExist:
        return None


def _spectora_entries(user, workorder: Workorder, connection) -> dict[str, MenuEntry]:
    connected = connection is not None and connection.is_connected
    link = spectora_link(workorder)
    if link is not None and link.url:
        open_entry = MenuEntry()
    elif not connected:
        open_entry = MenuEntry(enabled=False, hint="Not connected to Spectora")
    else:
        open_entry = MenuEntry(enabled=False, hint="No Spectora job yet: sync it first")
    if not permissions.user_can(user, permissions.SYNC):
        sync_entry = HIDDEN
    elif not connected:
        sync_entry = MenuEntry(enabled=False, hint="Not connected to Spectora")
    elif workorder.is_spectora_origin:
        sync_entry = MenuEntry(
            enabled=False, hint="Comes from Spectora: it syncs from there; use Refresh"
        )
    elif workorder.is_cancelled:
        sync_entry = MenuEntry(enabled=False, hint="Cancelled: the Spectora job is cancelled")
    else:
        sync_entry = MenuEntry()
    if not workorder.is_spectora_origin or not permissions.user_can(user, permissions.SYNC):
        refresh_entry = HIDDEN
    elif not connected:
        refresh_entry = MenuEntry(enabled=False, hint="Not connected to Spectora")
    elif link is None or not link.linked:
        refresh_entry = MenuEntry(enabled=False, hint="Not linked to a Spectora job")
    else:
        refresh_entry = MenuEntry()
    return {
        "open_spectora": open_entry, "sync_spectora": sync_entry,
        "refresh_spectora": refresh_entry,
    }


def actions_for(user, workorder: Workorder, connection) -> dict[str, MenuEntry]:
    """What the Actions menu offers this user for this workorder."""
    entries = _spectora_entries(user, workorder, connection)
    if workorder.is_cancelled:
        entries.update(edit=HIDDEN, reschedule=HIDDEN, confirm=HIDDEN, cancel=HIDDEN)
        return entries

    def manage(action: str, *, applies: bool = True, spectora_locked: bool = False) -> MenuEntry:
        if not applies or not permissions.user_can(user, action):
            return HIDDEN
        if spectora_locked and workorder.is_spectora_origin:
            return MenuEntry(enabled=False, hint=SPECTORA_ORIGIN_HINT)
        return MenuEntry()

    entries.update(
        edit=manage(permissions.EDIT, spectora_locked=True),
        confirm=manage(
            permissions.CONFIRM, applies=workorder.status == WorkorderStatus.UNCONFIRMED
        ),
        reschedule=manage(permissions.RESCHEDULE, spectora_locked=True),
        cancel=manage(permissions.CANCEL),
    )
    return entries


def _duration_label(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours} h {rest} min"
    if hours:
        return f"{hours} h"
    return f"{rest} min"


def _tab_context(workorder: Workorder, tab: str) -> dict:
    if tab == "activity":
        return {"events": list(selectors.activity_for(workorder)[:ACTIVITY_LIMIT])}
    if tab == "integrations":
        try:
            link = workorder.spectora_link
        except ObjectDoesNotExist:
            link = None
        runs = list(
            workorder.sync_runs.select_related("requested_by").prefetch_related("calls")[
                :SYNC_RUN_LIMIT
            ]
        )
        return {"link": link, "runs": runs, "run_limit": SYNC_RUN_LIMIT}
    items = list(workorder.line_items.all())
    return {
        "duration_label": _duration_label(workorder.duration_minutes),
        "line_rows": [
            {"item": item, "price": dollars(item.price_cents), "total": dollars(item.total_cents)}
            for item in items
        ],
        "line_total": dollars(sum(item.total_cents for item in items)),
    }


@member_required
def workorder_detail(request, pk):
    workorder = _workorder_or_404(request, pk)
    tab = request.GET.get("tab", "workorder")
    if tab not in TABS:
        tab = "workorder"
    connection = spectora_connection(workorder.company)
    context = {
        "workorder": workorder,
        "tab": tab,
        "connection": connection,
        **_tab_context(workorder, tab),
    }
    if _htmx_target(request) == "wo-tabs":
        response = render(request, "workorders/_detail_tabs.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response
    context["actions"] = actions_for(request.user, workorder, connection)
    return _page(request, "workorders/detail.html", context)


# -- Create and edit ------------------------------------------------------------------------


def _form_group(company, *, data=None, workorder=None) -> WorkorderFormGroup:
    return WorkorderFormGroup(
        employees=selectors.employee_list(company),
        services=selectors.service_list(company),
        data=data,
        workorder=workorder,
    )


@member_required
def workorder_create(request):
    _require(request.user, permissions.CREATE)
    company = permissions.company_of(request.user)
    group = _form_group(company, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and group.is_valid():
        try:
            workorder = services.workorder_create(
                company=company,
                user=request.user,
                values=group.values(),
                assignees=group.assignee_inputs(),
                line_items=group.line_item_inputs(),
                form_token=group.form.cleaned_data["form_token"],
            )
        except ApplicationError as error:
            group.add_service_error(error)
        else:
            messages.success(request, f"Booked {workorder} for {workorder.client_name}.")
            return redirect("workorders:detail", pk=workorder.pk)
    return _page(
        request,
        "workorders/form.html",
        {"group": group, "workorder": None},
    )


def _refuse_if_locked(request, workorder: Workorder):
    """Cancelled and Spectora-origin workorders are read-only here: say why, go back."""
    if workorder.is_cancelled:
        message = f"{workorder} is cancelled; it can only be viewed."
    elif workorder.is_spectora_origin:
        message = f"{workorder} comes from Spectora: change it there and it syncs back here."
    else:
        return None
    messages.error(request, message)
    return redirect("workorders:detail", pk=workorder.pk)


@member_required
def workorder_edit(request, pk):
    workorder = _workorder_or_404(request, pk)
    _require(request.user, permissions.EDIT)
    refused = _refuse_if_locked(request, workorder)
    if refused:
        return refused
    company = permissions.company_of(request.user)
    data = request.POST if request.method == "POST" else None
    group = _form_group(company, data=data, workorder=workorder)
    if request.method == "POST" and group.is_valid():
        try:
            updated = services.workorder_update(
                workorder,
                user=request.user,
                values=group.values(),
                expected_version=group.form.cleaned_data["version"],
                assignees=group.assignee_inputs(),
                line_items=group.line_item_inputs(),
            )
        except ApplicationError as error:
            group.add_service_error(error)
        else:
            if updated.version == workorder.version:
                messages.info(request, f"Nothing changed on {updated}.")
            else:
                messages.success(request, f"Saved your changes to {updated}.")
            return redirect("workorders:detail", pk=updated.pk)
    return _page(
        request,
        "workorders/form.html",
        {"group": group, "workorder": workorder},
    )


@member_required
def workorder_reschedule(request, pk):
    workorder = _workorder_or_404(request, pk)
    _require(request.user, permissions.RESCHEDULE)
    refused = _refuse_if_locked(request, workorder)
    if refused:
        return refused
    initial = {
        "scheduled_at": workorder.scheduled_at,
        "duration_minutes": workorder.duration_minutes,
        "version": workorder.version,
    }
    form = RescheduleForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            updated = services.workorder_reschedule(
                workorder,
                user=request.user,
                scheduled_at=form.cleaned_data["scheduled_at"],
                duration_minutes=form.cleaned_data["duration_minutes"],
                expected_version=form.cleaned_data["version"],
            )
        except ApplicationError as error:
            apply_service_error(form, error)
        else:
            if updated.version == workorder.version:
                messages.info(request, f"{updated} already had that time; nothing changed.")
            else:
                messages.success(request, f"Rescheduled {updated}.")
            return redirect("workorders:detail", pk=updated.pk)
    return _page(
        request,
        "workorders/reschedule.html",
        {"form": form, "workorder": workorder},
    )


# -- Status changes -------------------------------------------------------------------------


@member_required
def workorder_confirm(request, pk):
    workorder = _workorder_or_404(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    _require(request.user, permissions.CONFIRM)
    if workorder.status == WorkorderStatus.CONFIRMED:
        messages.info(request, f"{workorder} was already confirmed.")
        return redirect("workorders:detail", pk=workorder.pk)
    try:
        services.workorder_confirm(workorder, user=request.user)
    except NotAllowed as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Confirmed {workorder}.")
    return redirect("workorders:detail", pk=workorder.pk)


@member_required
def workorder_cancel(request, pk):
    workorder = _workorder_or_404(request, pk)
    _require(request.user, permissions.CANCEL)
    if workorder.is_cancelled:
        messages.info(request, f"{workorder} is already cancelled.")
        return redirect("workorders:detail", pk=workorder.pk)
    form = CancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.workorder_cancel(
                workorder, user=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationFailed as error:
            apply_service_error(form, error)
        else:
            messages.success(request, f"Cancelled {workorder}.")
            return redirect("workorders:detail", pk=workorder.pk)
    return _page(
        request,
        "workorders/cancel.html",
        {"form": form, "workorder": workorder},
    )
