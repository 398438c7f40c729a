"""Public helpers for pages: who may see them, how a workorder is found, how a page renders.

Every view of the office and of its integrations uses these, so access rules
live in one place: signed in, a member of a company, allowed by the role, and
every workorder looked up through the company-scoped selectors (another
company's id is a 404).
"""

from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from workorders import permissions, selectors
from workorders.models import Workorder

NOT_ALLOWED = "Your role does not allow this. Ask an administrator if you need it."
# Extra tag of a message about a state ("Sync queued"): base.html marks its toast
# data-state-toast and attik.js removes it once the workorder's sync chip moves on.
STATE_TOAST = "state-toast"


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


def require(user, action: str) -> None:
    """403 unless the user's role allows ``action`` (see ``permissions``)."""
    if not permissions.user_can(user, action):
        raise PermissionDenied(NOT_ALLOWED)


def workorder_or_404(request, pk) -> Workorder:
    """The signed-in user's company's workorder ``pk``, else 404."""
    try:
        return selectors.workorder_get(permissions.company_of(request.user), pk)
    except Workorder.DoesNotExist:
        raise Http404("No such workorder.") from None


def page(request, template: str, context: dict):
    """Render a full page (the top bar's needs come from the context processor)."""
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def htmx_target(request) -> str | None:
    """The element an htmx request will swap, unless it is restoring history (full page)."""
    details = getattr(request, "htmx", None)
    if not details or details.history_restore_request:
        return None
    return details.target

