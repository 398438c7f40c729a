"""DRF paging and the default permission, named in settings (kept free of DRF views)."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class IsCompanyMember(BasePermission):
    message = "Your account is not part of a company."

    def has_permission(self, request, view) -> bool:
        from workorders.permissions import membership_of

        return membership_of(request.user) is not None
