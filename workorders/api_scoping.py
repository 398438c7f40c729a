"""The company scoping every API view shares (workorders' and the integrations').

No views here, so any app's API can build on it without importing another app's views.
"""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied

from workorders import permissions


class CompanyScopedMixin:
    """Every queryset is the caller's company's; another company's id is a 404."""

    lookup_value_regex = r"\d+"

    @property
    def company(self):
        company = permissions.company_of(self.request.user)
        if company is None:
            raise PermissionDenied("Your account is not part of a company.")
        return company

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if permissions.membership_of(self.request.user) is not None:
            context["company"] = self.company
        return context

    def require(self, action_name: str) -> None:
        if not permissions.user_can(self.request.user, action_name):
            raise PermissionDenied("Your role does not allow this.")
