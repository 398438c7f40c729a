"""The one hook between the office and the integrations that follow it.

``workorders`` imports no integration. It announces what happened to a
workorder (``announce``: created, changed, confirmed, cancelled) and asks the
integrations that joined what they add to its pages: entries of the Actions
menu, context for the workorder page and the dashboard, filters for the
workorder list (page and API), and admin actions.
An integration joins once, in its ``AppConfig.ready``, with ``register``.

Announcements run inside the service's transaction, so an integration that
writes (an outbox row, say) commits or rolls back with the change itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CREATED = "created"
CHANGED = "changed"
CONFIRMED = "confirmed"
CANCELLED = "cancelled"
EVENTS = (CREATED, CHANGED, CONFIRMED, CANCELLED)


@dataclass(frozen=True)
class MenuEntry:
    """One entry of the Actions menu: shown or not, usable or disabled with a hint."""

    visible: bool = True
    enabled: bool = True
    hint: str = ""


HIDDEN = MenuEntry(visible=False, enabled=False)


class Integration:
    """What an integration may add; every hook does nothing unless overridden."""

    key = ""

    def on_workorder(self, event: str, workorder, *, user, changed: Iterable[str] = ()) -> None:
        """``event`` (one of EVENTS) happened to ``workorder``, done by ``user``."""

    def menu_entries(self, user, workorder) -> dict[str, MenuEntry]:
        """Entries for the workorder's Actions menu, by the key its template uses."""
        return {}

    def detail_context(self, user, workorder, tab: str) -> dict:
        """Context the workorder page needs from this integration for ``tab``."""
        return {}

    def dashboard_context(self, company) -> dict:
        """Context the dashboard needs from this integration."""
        return {}

    def admin_actions(self) -> list:
        """Django admin actions for the workorder changelist."""
        return []

    def nav_context(self, user, company) -> dict:
        """Context for the top bar on every page (keep it to one cheap query)."""
        return {}

    def list_filters(self) -> dict:
        """Extra filters for the workorder list, by query parameter name.

        Each value is a django-filter ``Filter`` (typically a ``ChoiceFilter`` with a
        ``method`` callable ``(workorders, name, value) -> workorders``); it filters a
        Workorder queryset with conditions on the integration's own tables. The list
        page shows each as a select and the API accepts it, validated like the
        office's own filters. Return new instances on every call.
        """
        return {}


_registry: dict[str, Integration] = {}


def register(integration: Integration) -> None:
    """Join the office's hook (idempotent per key: ``ready`` may run twice in tests)."""
    if not integration.key:
        raise ValueError("An integration needs a key.")
    _registry[integration.key] = integration


def integrations() -> list[Integration]:
    return list(_registry.values())


def announce(event: str, workorder, *, user, changed: Iterable[str] = ()) -> None:
    """Tell every integration that ``event`` happened to ``workorder``."""
    if event not in EVENTS:
        raise ValueError(f"Unknown workorder event {event!r}.")
    for integration in integrations():
        integration.on_workorder(event, workorder, user=user, changed=tuple(changed))


def menu_entries(user, workorder) -> dict[str, MenuEntry]:
    entries: dict[str, MenuEntry] = {}
    for integration in integrations():
        entries.update(integration.menu_entries(user, workorder))
    return entries


def detail_context(user, workorder, tab: str) -> dict:
    context: dict = {}
    for integration in integrations():
        context.update(integration.detail_context(user, workorder, tab))
    return context


def dashboard_context(company) -> dict:
    context: dict = {}
    for integration in integrations():
        context.update(integration.dashboard_context(company))
    return context


def nav_context(user, company) -> dict:
    context: dict = {}
    for integration in integrations():
        context.update(integration.nav_context(user, company))
    return context


def list_filters() -> dict:
    """Every integration's extra list filters; a name two integrations use is an error."""
    filters: dict = {}
    for integration in integrations():
        for name, list_filter in integration.list_filters().items():
            if name in filters:
                raise ValueError(f"Two integrations offer the list filter {name!r}.")
            filters[name] = list_filter
    return filters


def admin_actions() -> list:
    return [action for integration in integrations() for action in integration.admin_actions()]
