"""Pages for syncing: Sync / Force sync / Preview from the Actions menu, the live sync
chip, and the admins' Failed syncs page. Thin: the sync services do the work."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from spectora_integration.models import Trigger
from spectora_integration.sync import engine, runs, selectors
from workorders import permissions
from workorders.access import member_required, page, require, workorder_or_404

FAILED_PAGE_SIZE = 50


@require_POST
@member_required
def workorder_sync(request, pk):
    require(request.user, permissions.SYNC)
    workorder = workorder_or_404(request, pk)
    force = request.POST.get("force") == "1"
    try:
        runs.sync_request(
            workorder, request.user, force=force, trigger=Trigger.MANUAL, strict=True
        )
    except runs.SyncRefused as refused:
        messages.error(request, f"Not synced: {refused.ineligible.message}")
    else:
        what = "Force sync" if force else "Sync"
        messages.success(
            request, f"{what} of {workorder} queued. The chip shows its progress."
        )
    return redirect("workorders:detail", pk=workorder.pk)


@require_GET
@member_required
def workorder_preview(request, pk):
    require(request.user, permissions.SYNC)
    workorder = workorder_or_404(request, pk)
    preview = engine.sync_preview(workorder)
    return page(request, "spectora_integration/preview.html",
                 {"workorder": workorder, "preview": preview})


@require_GET
@member_required
def workorder_sync_chip(request, pk):
    """The chip alone, for htmx polling while a sync is queued or running."""
    workorder = workorder_or_404(request, pk)
    return render(request, "workorders/_sync_chip.html", {"workorder": workorder})


@require_http_methods(["GET", "POST"])
@member_required
def failed_syncs(request):
    require(request.user, permissions.RETRY_SYNCS)
    company = permissions.company_of(request.user)
    failed = selectors.failed_run_list(company)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "retry_all":
            chosen = failed
        else:
            ids = [int(i) for i in request.POST.getlist("run") if i.isdigit()]
            chosen = failed.filter(pk__in=ids)
        if action in ("retry", "retry_all"):
            count = runs.sync_retry(chosen, request.user)
            messages.success(request, f"Queued {count} retr{'y' if count == 1 else 'ies'}.")
        elif action == "dismiss":
            count = runs.sync_dismiss(chosen, request.user)
            messages.success(request, f"Dismissed {count} failed sync{'s' if count != 1 else ''}.")
        else:
            messages.error(request, "Choose Retry selected, Retry all or Dismiss.")
        return redirect(reverse("spectora:failed_syncs"))
    page_obj = Paginator(failed, FAILED_PAGE_SIZE).get_page(request.GET.get("page"))
    return page(request, "spectora_integration/failed_syncs.html",
                 {"page_obj": page_obj, "runs": list(page_obj.object_list)})
