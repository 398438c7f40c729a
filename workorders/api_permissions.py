from rest_framework.permissions import BasePermission

from workorders import permissions


class IsCompanyMember(BasePermission):
    message = "Your account is not part of a company."

    def has_permission(self, request, view) -> bool:
        return permissions.membership_of(request.user) is not None
