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
from workorders.access import (
    STATE_TOAST,
    htmx_target,
    member_required,
    page,
    require,
    workorder_or_404,
)

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
            request, f"{what} of {workorder} queued. The chip shows its progress.",
            extra_tags=STATE_TOAST,
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
    """The chip alone, for htmx polling while a sync is in flight; ``?banner=1`` (the
    workorder page's own chip) sends the banner along, swapped out of band."""
    workorder = workorder_or_404(request, pk)
    banner = request.GET.get("banner") == "1"
    return render(request, "workorders/_sync_chip.html",
                  {"workorder": workorder, "banner": banner, "oob": banner})


SHOW_CHOICES = (("", "All"), ("failed", "Failed"), ("skipped", "Skipped"))


@require_http_methods(["GET", "POST"])
@member_required
def failed_syncs(request):
    """Failed and skipped syncs, each with its reason and a link to what fixes it."""
    require(request.user, permissions.RETRY_SYNCS)
    company = permissions.company_of(request.user)
    show = request.GET.get("show", "")
    show = show if show in selectors.PROBLEM_FILTERS else ""
    problems = selectors.problem_run_list(company, show=show)
    if request.method == "POST":
        return _act_on_problems(request, problems)
    page_obj = Paginator(problems, FAILED_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(run, selectors.fix_for(run)) for run in page_obj.object_list]
    in_flight = selectors.retries_in_flight(company).count()
    context = {"page_obj": page_obj, "rows": rows, "show": show, "show_choices": SHOW_CHOICES,
               "in_flight": in_flight}
    if htmx_target(request) == "failed-syncs":
        return render(request, "spectora_integration/_failed_syncs_body.html", context)
    return page(request, "spectora_integration/failed_syncs.html", context)


def _act_on_problems(request, problems):
    action = request.POST.get("action")
    back = redirect(reverse("spectora:failed_syncs"))
    if action == "retry_all":
        chosen = problems
    else:
        ids = [int(i) for i in request.POST.getlist("run") if i.isdigit() and len(i) < 19]
        chosen = problems.filter(pk__in=ids)
    if action not in ("retry", "retry_all", "dismiss"):
        messages.error(request, "Choose Retry selected, Retry all or Dismiss.")
        return back
    if not chosen.exists():
        messages.error(request, "Nothing was selected: tick the syncs to retry or dismiss, "
                                "or use Retry all.")
        return back
    if action == "dismiss":
        count = runs.sync_dismiss(chosen, request.user)
        messages.success(request, f"Dismissed {count} sync{'s' if count != 1 else ''}.")
    else:
        count = runs.sync_retry(chosen, request.user)
        messages.success(request, f"Retrying {count} sync{'s' if count != 1 else ''}: "
                                  "this page shows them until they finish.")
    return back
