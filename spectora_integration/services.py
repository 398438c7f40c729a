"""Writes for the Spectora side. The sync engine arrives with its own issue."""

from __future__ import annotations

from spectora_integration.models import SpectoraLink


def workorder_changed(workorder, *, user, changed: list[str]) -> None:
    """A workorder's synced fields changed: a linked one must follow in Spectora."""
    if not SpectoraLink.objects.filter(workorder=workorder).exists():
        return


def workorder_cancelled(workorder, *, user) -> None:
    """A workorder was cancelled in Attik: its Spectora job must be cancelled too."""
    if not SpectoraLink.objects.filter(workorder=workorder).exists():
        return
