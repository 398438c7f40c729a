"""What a workorder's Spectora sync is doing now, in one short line for the chip.

The link's ``sync_state`` is the API's word (queued, syncing, synced, failed,
skipped); a person needs a little more while a run is in flight: whether it
waits for an automatic retry (and when), or for Spectora's pause to end. This
reads the workorder's active run and the connection only while the link is in
flight, so lists of settled workorders cost nothing extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import formats, timezone

from spectora_integration.models import RunKind, RunState, SpectoraConnection, SyncRun, SyncState
from spectora_integration.sync import runs
from spectora_integration.sync.selectors import link_of

RETRYING = "retrying"
PAUSED = "paused"
STALLED = "stalled"
# A refresh is one short task (its hard limit is 120 s): one still "in flight" after this
# was lost on its way to the worker, and a person should use Refresh again.
REFRESH_STALLS_AFTER = timedelta(minutes=3)
IN_FLIGHT = (SyncState.QUEUED, SyncState.SYNCING)


def clock(moment: datetime | None) -> str:
    """``10:42 AM`` in the site's time zone."""
    if moment is None:
        return ""
    return formats.time_format(timezone.localtime(moment), "g:i A")


def paused_until(connection: SpectoraConnection | None, now: datetime) -> datetime | None:
    """When Spectora's circuit breaker lets syncs out again, if it holds them now.

    Read defensively: the breaker's ``paused_until`` may not exist on every version.
    """
    until = getattr(connection, "paused_until", None)
    return until if until is not None and until > now else None


@dataclass(frozen=True)
class SyncStatus:
    state: str  # the link's sync_state, or "never"
    shown: str  # what the chip shows: state, or retrying / paused / stalled
    label: str  # one short line
    error: str = ""  # the link's last error: the banner's long sentence
    attempt: int = 0  # the attempt that runs next (retrying) or now (syncing)
    next_at: datetime | None = None
    paused_until: datetime | None = None
    refresh: bool = False  # a Spectora-origin job: syncs come from Spectora

    @property
    def live(self) -> bool:
        """Still changing: the chip polls until it is not."""
        return self.state in IN_FLIGHT and self.shown != STALLED

    @property
    def max_attempts(self) -> int:
        return runs.MAX_ATTEMPTS

    @property
    def poll_seconds(self) -> int:
        return 3 if self.shown in (RETRYING, PAUSED) else 1


def _active_run(workorder) -> SyncRun | None:
    return (
        SyncRun.objects.filter(workorder=workorder, kind=RunKind.SYNC,
                               state__in=[RunState.QUEUED, RunState.RUNNING])
        .order_by("id").only("attempts", "next_attempt_at", "state").first()
    )


def sync_status(workorder, *, now: datetime | None = None) -> SyncStatus:
    link = link_of(workorder)
    if link is None or link.sync_state == SyncState.NEVER:
        return SyncStatus(SyncState.NEVER, SyncState.NEVER, "Never synced")
    state, error = link.sync_state, link.last_error
    refresh = workorder.is_spectora_origin
    if state == SyncState.SYNCED:
        when = link.last_synced_at
        label = f"Synced {formats.date_format(timezone.localtime(when), 'M j')}, {clock(when)}" \
            if when else "Synced"
        return SyncStatus(state, state, label, error, refresh=refresh)
    if state == SyncState.FAILED:
        return SyncStatus(state, state, "Refresh failed" if refresh else "Sync failed", error,
                          refresh=refresh)
    if state == SyncState.SKIPPED:
        return SyncStatus(state, state, "Sync skipped", error, refresh=refresh)
    now = now or timezone.now()
    if refresh:
        return _refresh_status(link, now)
    return _in_flight_status(workorder, link, now)


def _refresh_status(link, now: datetime) -> SyncStatus:
    if link.updated_at and link.updated_at < now - REFRESH_STALLS_AFTER:
        return SyncStatus(link.sync_state, STALLED, "Refresh did not finish",
                          "The refresh from Spectora did not finish. Choose Refresh from "
                          "Spectora under Actions again.", refresh=True)
    label = "Refreshing…" if link.sync_state == SyncState.SYNCING else "Refresh queued"
    return SyncStatus(link.sync_state, link.sync_state, label, refresh=True)


def _in_flight_status(workorder, link, now: datetime) -> SyncStatus:
    run = _active_run(workorder)
    until = paused_until(
        SpectoraConnection.objects.filter(company_id=workorder.company_id).first(), now
    )
    state = link.sync_state
    if until is not None and not (run is not None and run.state == RunState.RUNNING):
        return SyncStatus(state, PAUSED, f"Paused until {clock(until)}", link.last_error,
                          paused_until=until)
    if run is None or run.state == RunState.RUNNING or state == SyncState.SYNCING:
        attempt = run.attempts if run is not None else 0
        label = "Syncing…" if state == SyncState.SYNCING else "Sync queued"
        if state == SyncState.SYNCING and attempt > 1:
            label = f"Syncing: attempt {attempt} of {runs.MAX_ATTEMPTS}"
        return SyncStatus(state, state, label, attempt=attempt)
    next_at = run.next_attempt_at if run.next_attempt_at and run.next_attempt_at > now else None
    if run.attempts > 0:
        attempt = run.attempts + 1
        label = f"Retrying: attempt {attempt} of {runs.MAX_ATTEMPTS}"
        if next_at:
            label += f", next try at {clock(next_at)}"
        return SyncStatus(state, RETRYING, label, link.last_error, attempt=attempt,
                          next_at=next_at)
    # Never tried yet: waiting for its turn in the company's rate budget (a bulk re-sync
    # is paced), not for a retry, so no word of trying again.
    label = f"Sync queued, starts about {clock(next_at)}" if next_at else "Sync queued"
    return SyncStatus(state, state, label, link.last_error if next_at else "", next_at=next_at)
