"""Who may do what, in one table. Tenancy is separate: every query is scoped to a company."""

from __future__ import annotations

from workorders.models import Role

VIEW = "view"
CREATE = "create"
EDIT = "edit"
CONFIRM = "confirm"
RESCHEDULE = "reschedule"
CANCEL = "cancel"
SYNC = "sync"
MANAGE_INTEGRATION = "manage_integration"  # connection, staff links, service mapping
RETRY_SYNCS = "retry_syncs"  # failed-syncs page: bulk retry and dismiss
ADMIN_SITE = "admin_site"

_OFFICE = {VIEW, CREATE, EDIT, CONFIRM, RESCHEDULE, CANCEL, SYNC}
ROLE_PERMISSIONS: dict[str, set[str]] = {
    Role.ADMIN: _OFFICE | {MANAGE_INTEGRATION, RETRY_SYNCS, ADMIN_SITE},
    Role.OFFICE_STAFF: set(_OFFICE),
    # Schedulers correct jobs (times, inspectors, services) and sync them; they
    # do not book new workorders or cancel existing ones.
    Role.SCHEDULER: {VIEW, EDIT, CONFIRM, RESCHEDULE, SYNC},
}


def membership_of(user):
    if not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "membership", None)


def user_can(user, action: str) -> bool:
    membership = membership_of(user)
    if membership is None:
        return False
    return action in ROLE_PERMISSIONS.get(membership.role, set())


def company_of(user):
    membership = membership_of(user)
    return membership.company if membership else None
