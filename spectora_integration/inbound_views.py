"""Refresh from Spectora, for workorders that were booked in Spectora. Thin: inbound works."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from spectora_integration import inbound
from workorders import permissions
from workorders.views import (
    _require,
    _workorder_or_404,
    member_required,
    spectora_connection,
    spectora_link,
)


@require_POST
@member_required
def workorder_refresh(request, pk):
    _require(request.user, permissions.SYNC)
    workorder = _workorder_or_404(request, pk)
    link = spectora_link(workorder)
    connection = spectora_connection(workorder.company)
    if not workorder.is_spectora_origin:
        messages.error(request, f"{workorder} was booked in Attik: use Sync Spectora job.")
    elif connection is None or not connection.is_connected:
        messages.error(request, "This company is not connected to Spectora.")
    elif link is None or not link.linked:
        messages.error(request, f"{workorder} is not linked to a Spectora job.")
    else:
        inbound.workorder_refresh_request(workorder)
        messages.success(
            request, f"Refresh of {workorder} from Spectora queued. Reload in a moment to see "
                     "Spectora's latest details."
        )
    return redirect("workorders:detail", pk=workorder.pk)
