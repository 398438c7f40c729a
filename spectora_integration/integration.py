"""Spectora joins the office's hook (``workorders.integrations``).

The office announces what happened to a workorder; this decides what Spectora
must do about it (through the sync queue) and what the office's pages show of
Spectora: the Actions menu entries, the Integrations tab, the dashboard's
health, the workorder list's filter by sync state. Every rule about whether a sync
may run comes from ``sync.eligibility``.
"""

from __future__ import annotations

import django_filters
from django.contrib import messages
from django.utils import timezone

from spectora_integration.models import (
    ConnectionState,
    RunKind,
    SpectoraLink,
    SyncState,
    Trigger,
)
from spectora_integration.sync import runs, selectors
from spectora_integration.sync.eligibility import check_eligibility, check_refresh, is_connected
from spectora_integration.sync.status import clock, paused_until
from workorders import integrations, permissions
from workorders.integrations import HIDDEN, MenuEntry

DASHBOARD_DAYS = 14
SYNC_RUN_LIMIT = 20


def _entry(refusal) -> MenuEntry:
    return MenuEntry() if refusal is None else MenuEntry(enabled=False, hint=refusal.hint)


FAILING_HINT = "Spectora connection failing: an admin has been told"
FAILING_ADMIN_HINT = "The connection is failing: test it on the Spectora page first"


def _while_failing(user, connection, entry: MenuEntry) -> MenuEntry:
    """A connection known to be failing (its last test was refused) says so in the menu.

    People who cannot fix it are not offered a Sync that can only fail; admins, who can,
    keep it, with the state beside it. A paused connection (the circuit breaker) keeps
    Sync: the request waits and goes out when the pause ends.
    """
    if not entry.visible or not entry.enabled:
        return entry
    if connection is not None and connection.state == ConnectionState.FAILING:
        if permissions.user_can(user, permissions.MANAGE_INTEGRATION):
            return MenuEntry(hint=FAILING_ADMIN_HINT)
        return MenuEntry(enabled=False, hint=FAILING_HINT)
    until = paused_until(connection, timezone.now())
    if until is not None:
        return MenuEntry(hint=f"Spectora is paused until {clock(until)}: it goes out then")
    return entry


class SpectoraIntegration(integrations.Integration):
    key = "spectora"

    # -- events

    def on_workorder(self, event, workorder, *, user, changed=()) -> None:
        if event in (integrations.CREATED, integrations.CONFIRMED):
            workorder_booked(workorder, user=user)
        elif event == integrations.CHANGED:
            workorder_changed(workorder, user=user)
        elif event == integrations.CANCELLED:
            workorder_cancelled(workorder, user=user)

    # -- pages

    def menu_entries(self, user, workorder) -> dict[str, MenuEntry]:
        connection = selectors.connection_of(workorder.company)
        link = selectors.link_of(workorder)
        may_sync = permissions.user_can(user, permissions.SYNC)
        if link is not None and link.web_url:
            open_entry = MenuEntry()
        elif not is_connected(connection):
            open_entry = MenuEntry(enabled=False, hint="Not connected to Spectora")
        else:
            open_entry = MenuEntry(enabled=False, hint="No Spectora job yet: sync it first")
        sync_entry = HIDDEN
        if may_sync:
            sync_entry = _entry(check_eligibility(workorder, connection=connection,
                                                  check_links=False))
        refresh_entry = HIDDEN
        if may_sync and workorder.is_spectora_origin:
            refresh_entry = _entry(check_refresh(workorder, link, connection))
        sync_entry, refresh_entry = (_while_failing(user, connection, entry)
                                     for entry in (sync_entry, refresh_entry))
        return {
            "open_spectora": open_entry,
            "sync_spectora": sync_entry,
            "refresh_spectora": refresh_entry,
        }

    def detail_context(self, user, workorder, tab) -> dict:
        context = {"connection": selectors.connection_of(workorder.company)}
        if tab == "integrations":
            context.update(
                link=selectors.link_of(workorder),
                runs=list(
                    workorder.sync_runs.select_related("requested_by").prefetch_related(
                        "calls"
                    )[:SYNC_RUN_LIMIT]
                ),
                run_limit=SYNC_RUN_LIMIT,
            )
        return context

    def dashboard_context(self, company) -> dict:
        return {"health": selectors.sync_health(company, days=DASHBOARD_DAYS)}

    def admin_actions(self) -> list:
        return [sync_spectora_job]

    def nav_context(self, user, company) -> dict:
        if not permissions.user_can(user, permissions.RETRY_SYNCS):
            return {}
        return {"nav_problem_count": selectors.problem_count(company)}

    def list_filters(self) -> dict:
        return {
            "spectora_sync": django_filters.ChoiceFilter(
                label="Spectora sync",
                choices=selectors.SYNC_FILTER_CHOICES,
                empty_label="Any sync state",
                method=_filter_by_sync_state,
            )
        }


def _filter_by_sync_state(workorders, name: str, value: str):
    return selectors.workorders_in_sync_state(workorders, value)


# ---------------------------------------------------------------- what an event means

def workorder_booked(workorder, *, user) -> None:
    """A new or confirmed workorder gets its Spectora twin without anyone clicking Sync.

    Only when it is eligible now (connected, every inspector linked, every service
    mapped): an ineligible one waits for a person, who sees why on its page.
    Coalesces with edits like any automatic sync.
    """
    if check_eligibility(workorder) is not None:
        return
    runs.sync_request(workorder, user, trigger=Trigger.AUTO)


def workorder_changed(workorder, *, user) -> None:
    """Synced fields changed: a workorder already in Spectora follows automatically."""
    link = SpectoraLink.objects.filter(workorder=workorder).first()
    if link is None or not (link.linked or link.sync_state in (SyncState.QUEUED,
                                                                SyncState.SYNCING)):
        return
    runs.sync_request(workorder, user, trigger=Trigger.AUTO)


def workorder_cancelled(workorder, *, user) -> None:
    """Cancel the Spectora job through the queue, or remember to once the job exists."""
    link = SpectoraLink.objects.filter(workorder=workorder).first()
    if link is None:
        return  # never sent to Spectora: nothing there to cancel
    SpectoraLink.objects.filter(pk=link.pk).update(cancel_pending=True)
    runs.sync_request(workorder, user, trigger=Trigger.CANCEL, kind=RunKind.CANCEL)


# ---------------------------------------------------------------- admin

def sync_spectora_job(modeladmin, request, queryset):
    """Admin action on the workorder changelist: queue a sync of each selected workorder."""
    queued, refused = 0, []
    for workorder in queryset:
        try:
            runs.sync_request(workorder, request.user, trigger=Trigger.ADMIN, strict=True)
            queued += 1
        except runs.SyncRefused as error:
            refused.append(f"{workorder}: {error.ineligible.message}")
    if queued:
        modeladmin.message_user(request, f"Queued a Spectora sync for {queued} workorder(s).",
                                messages.SUCCESS)
    for line in refused[:20]:
        modeladmin.message_user(request, f"Not synced, {line}", messages.WARNING)


sync_spectora_job.short_description = "Sync Spectora job"
