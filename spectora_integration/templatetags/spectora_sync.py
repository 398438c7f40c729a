"""``{% load spectora_sync %}``: the sync chip's status for a workorder in any template."""

from django import template

from spectora_integration.sync.eligibility import fix_pages
from spectora_integration.sync.status import SyncStatus, sync_status

register = template.Library()


@register.filter
def spectora_sync_status(workorder) -> SyncStatus:
    """The workorder's sync status (queries only while a sync is in flight)."""
    return sync_status(workorder)


@register.filter
def spectora_fix_pages(message: str) -> list[str]:
    """The setup pages that fix what a skipped sync's message names (sync.eligibility)."""
    return fix_pages(message or "")
