"""Refresh from Spectora, for workorders that were booked in Spectora. Thin: inbound works."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from spectora_integration.inbound import importer
from spectora_integration.sync.eligibility import check_refresh
from spectora_integration.sync.selectors import connection_of, link_of
from workorders import permissions
from workorders.access import STATE_TOAST, member_required, require, workorder_or_404


@require_POST
@member_required
def workorder_refresh(request, pk):
    require(request.user, permissions.SYNC)
    workorder = workorder_or_404(request, pk)
    refusal = check_refresh(workorder, link_of(workorder), connection_of(workorder.company))
    if refusal is not None:
        messages.error(request, refusal.message)
    else:
        importer.workorder_refresh_request(workorder)
        messages.success(request, f"Refreshing {workorder} from Spectora…",
                         extra_tags=STATE_TOAST)
    return redirect("workorders:detail", pk=workorder.pk)
