"""Office pages. Thin: selectors read, services write, forms translate between them.

Every view needs a signed-in member of a company; every workorder is looked up
through the company-scoped selectors, so another company's id is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers

from workorders import filters, integrations, permissions, selectors, services
from workorders.access import (
    htmx_target,
    member_required,
    page,
    require,
    workorder_or_404,
)
from workorders.errors import ApplicationError, NotAllowed, ValidationFailed
from workorders.forms import (
    CancelForm,
    RescheduleForm,
    WorkorderFormGroup,
    apply_service_error,
    dollars,
)
from workorders.integrations import HIDDEN, MenuEntry
from workorders.models import Workorder, WorkorderStatus
from workorders.pagination import CappedPaginator, urls_by_pk

PAGE_SIZE = 25
TABS = ("workorder", "activity", "integrations")
SPECTORA_ORIGIN_HINT = "Comes from Spectora: change it there"
CANCEL_ORIGIN_HINT = "Cancel it in Spectora; Attik follows"
ACTIVITY_LIMIT = 200


# -- Dashboard ------------------------------------------------------------------------------


@member_required
def dashboard(request):
    """Today's jobs and the Spectora integration's health, in a constant number of queries."""
    company = permissions.company_of(request.user)
    today = timezone.localdate()
    return page(
        request,
        "workorders/dashboard.html",
        {
            "today": today,
            "jobs": list(selectors.workorders_on_day(company, today)),
            **integrations.dashboard_context(company),
            "can_create": permissions.user_can(request.user, permissions.CREATE),
        },
    )


# -- List -----------------------------------------------------------------------------------


@member_required
def workorder_list(request):
    company = permissions.company_of(request.user)
    filterset = filters.workorder_filterset()(
        filters.page_data(request.GET),
        queryset=selectors.workorder_list(company),
        request=request,
        company=company,
    )
    page_obj = CappedPaginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page_obj.object_list)
    detail_urls = urls_by_pk("workorders:detail", [wo.pk for wo in rows])
    for workorder in rows:
        workorder.detail_url = detail_urls[workorder.pk]
    has_any = bool(rows) or selectors.workorder_list(company).exists()
    context = {
        "filters": filterset.form,
        "ordering": filterset.current_ordering,
        "sort": filterset.sort_columns(),
        "page_obj": page_obj,
        "workorders": rows,
        "is_filtered": filterset.is_filtered,
        "has_any": has_any,
        "can_create": permissions.user_can(request.user, permissions.CREATE),
    }
    if htmx_target(request) == "wo-results":
        response = render(request, "workorders/_list_results.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response
    return page(request, "workorders/list.html", context)


# -- Detail ---------------------------------------------------------------------------------


def actions_for(user, workorder: Workorder) -> dict[str, MenuEntry]:
    """What the Actions menu offers this user for this workorder (integrations add theirs)."""
    entries = integrations.menu_entries(user, workorder)
    if workorder.is_cancelled:
        entries.update(edit=HIDDEN, reschedule=HIDDEN, confirm=HIDDEN, cancel=HIDDEN)
        return entries

    def manage(action: str, *, applies: bool = True, spectora_locked: bool = False,
               hint: str = SPECTORA_ORIGIN_HINT) -> MenuEntry:
        if not applies or not permissions.user_can(user, action):
            return HIDDEN
        if spectora_locked and workorder.is_spectora_origin:
            return MenuEntry(enabled=False, hint=hint)
        return MenuEntry()

    entries.update(
        edit=manage(permissions.EDIT, spectora_locked=True),
        confirm=manage(
            permissions.CONFIRM, applies=workorder.status == WorkorderStatus.UNCONFIRMED
        ),
        reschedule=manage(permissions.RESCHEDULE, spectora_locked=True),
        cancel=manage(permissions.CANCEL, spectora_locked=True, hint=CANCEL_ORIGIN_HINT),
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
        return {}
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
    workorder = workorder_or_404(request, pk)
    tab = request.GET.get("tab", "workorder")
    if tab not in TABS:
        tab = "workorder"
    context = {
        "workorder": workorder,
        "tab": tab,
        **integrations.detail_context(request.user, workorder, tab),
        **_tab_context(workorder, tab),
    }
    if htmx_target(request) == "wo-tabs":
        response = render(request, "workorders/_detail_tabs.html", context)
        patch_vary_headers(response, ["HX-Request"])
        return response
    context["actions"] = actions_for(request.user, workorder)
    return page(request, "workorders/detail.html", context)


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
    require(request.user, permissions.CREATE)
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
    return page(
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
    workorder = workorder_or_404(request, pk)
    require(request.user, permissions.EDIT)
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
            return _after_save(request, workorder, updated,
                               unchanged=f"Nothing changed on {updated}.",
                               changed=f"Saved your changes to {updated}.")
    return page(
        request,
        "workorders/form.html",
        {"group": group, "workorder": workorder},
    )


def _after_save(request, before, updated, *, unchanged: str, changed: str):
    """Say whether the save changed anything (the version moves only if it did), then
    show the workorder."""
    if updated.version == before.version:
        messages.info(request, unchanged)
    else:
        messages.success(request, changed)
    return redirect("workorders:detail", pk=updated.pk)


@member_required
def workorder_reschedule(request, pk):
    workorder = workorder_or_404(request, pk)
    require(request.user, permissions.RESCHEDULE)
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
            return _after_save(request, workorder, updated,
                               unchanged=f"{updated} already had that time; nothing changed.",
                               changed=f"Rescheduled {updated}.")
    return page(
        request,
        "workorders/reschedule.html",
        {"form": form, "workorder": workorder},
    )


# -- Status changes -------------------------------------------------------------------------


@member_required
def workorder_confirm(request, pk):
    workorder = workorder_or_404(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    require(request.user, permissions.CONFIRM)
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
    workorder = workorder_or_404(request, pk)
    require(request.user, permissions.CANCEL)
    if workorder.is_cancelled:
        messages.info(request, f"{workorder} is already cancelled.")
        return redirect("workorders:detail", pk=workorder.pk)
    if workorder.is_spectora_origin:
        messages.error(request, services.SPECTORA_ORIGIN_CANCEL)
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
    return page(
        request,
        "workorders/cancel.html",
        {"form": form, "workorder": workorder},
    )
