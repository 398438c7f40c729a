"""The live sync chip: each state in one short line, the long sentence in the banner, both
kept live by the chip's polling; state toasts marked so the page can retire them."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from spectora_integration.models import (
    ConnectionState,
    RunState,
    SpectoraConnection,
    SpectoraLink,
    SyncRun,
    SyncState,
)
from spectora_integration.sync import engine, runs
from spectora_integration.sync.status import clock, paused_until
from tests.spectora_integration.test_sync import book, drain

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_auto_sync_on_booking")]

SERVER_ERROR_ONCE = {"method": "POST", "path": "/v2/inspections", "mode": "error",
                     "status": 503, "times": 1}


@pytest.fixture(autouse=True)
def enqueued(queued):
    return queued["runs"]


def chip(client, workorder, banner=False) -> str:
    url = reverse("spectora:sync_chip", args=[workorder.pk])
    return client.get(url + ("?banner=1" if banner else "")).content.decode()


def label(html: str) -> str:
    return re.search(r'<span class="chip [^"]*"[^>]*>([^<]*)</span>', html).group(1)


def test_a_retry_shows_its_attempt_and_when_it_is_next_tried(office_client, spectora):
    wo = book(spectora)
    spectora.faults(SERVER_ERROR_ONCE)
    run = runs.sync_request(wo)
    assert engine.sync_execute(run.pk) == "retrying"
    run.refresh_from_db()

    html = chip(office_client, wo)
    assert label(html) == f"Retrying: attempt 2 of 6, next try at {clock(run.next_attempt_at)}"
    assert 'data-sync-status="retrying"' in html and 'data-sync-state="queued"' in html
    assert "hx-trigger" in html  # still live


def test_each_state_is_one_short_line(office_client, spectora):
    wo = book(spectora)
    assert label(chip(office_client, wo)) == "Never synced"
    run = runs.sync_request(wo)
    assert label(chip(office_client, wo)) == "Sync queued"
    SpectoraLink.objects.filter(workorder=wo).update(sync_state=SyncState.SYNCING)
    SyncRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING, attempts=3)
    assert label(chip(office_client, wo)) == "Syncing: attempt 3 of 6"
    SyncRun.objects.filter(pk=run.pk).update(state=RunState.QUEUED, attempts=0)
    SpectoraLink.objects.filter(workorder=wo).update(sync_state=SyncState.QUEUED)
    drain(wo)
    assert label(chip(office_client, wo)).startswith("Synced ")
    SpectoraLink.objects.filter(workorder=wo).update(
        sync_state=SyncState.FAILED, last_error="Spectora refused the change: " + "x" * 200)
    html = chip(office_client, wo)
    assert label(html) == "Sync failed"  # the reason is the banner's, not the chip's
    assert "data-sync-settled" in html
    SpectoraLink.objects.filter(workorder=wo).update(sync_state=SyncState.SKIPPED)
    assert label(chip(office_client, wo)) == "Sync skipped"


def test_a_paused_connection_shows_until_when(office_client, spectora, monkeypatch):
    wo = book(spectora)
    runs.sync_request(wo)
    until = timezone.now() + timedelta(minutes=5)
    SpectoraConnection.objects.filter(pk=spectora.connection.pk).update(  # sync/breaker.py
        paused_at=timezone.now(), paused_until=until)

    html = chip(office_client, wo, banner=True)
    assert label(html) == f"Paused until {clock(until)}"
    assert 'data-sync-problem="paused"' in html and "hx-trigger" in html


def test_the_pause_is_read_defensively():
    class Before:  # a connection from before the circuit breaker
        pass

    now = timezone.now()
    assert paused_until(Before(), now) is None
    assert paused_until(None, now) is None
    after = Before()
    after.paused_until = now - timedelta(seconds=1)
    assert paused_until(after, now) is None
    after.paused_until = now + timedelta(seconds=1)
    assert paused_until(after, now) == after.paused_until


def test_the_head_chip_keeps_the_banner_live_out_of_band(office_client, spectora):
    wo = book(spectora)
    run = runs.sync_request(wo)
    detail = office_client.get(reverse("workorders:detail", args=[wo.pk])).content.decode()
    assert f'hx-get="{reverse("spectora:sync_chip", args=[wo.pk])}?banner=1"' in detail
    assert '<div id="sync-problem"' in detail  # the slot is there before any problem

    spectora.faults(SERVER_ERROR_ONCE)
    engine.sync_execute(run.pk)
    html = chip(office_client, wo, banner=True)
    assert '<div id="sync-problem" class="sync-problem-slot" hx-swap-oob="true">' in html
    assert 'data-sync-problem="retrying"' in html and "attempt 2 of 6" in html
    assert "hx-swap-oob" not in chip(office_client, wo)  # list and tab chips send no banner


def test_a_new_sync_after_a_failed_one_does_not_claim_to_be_retrying(office_client, spectora):
    wo = book(spectora)
    spectora.faults({"method": "POST", "path": "/v2/inspections", "mode": "error",
                     "status": 422, "times": 1})
    runs.sync_request(wo)
    assert drain(wo).state == RunState.FAILED
    runs.sync_request(wo, None)  # a person syncs again; the old error is still on the link

    html = chip(office_client, wo, banner=True)
    assert label(html) == "Sync queued"
    assert "data-sync-problem" not in html
    detail = office_client.get(reverse("workorders:detail", args=[wo.pk])).content.decode()
    assert "data-sync-problem" not in detail
    assert "retrying on its own" not in detail


def test_the_sync_toast_is_marked_as_a_state_toast(office_client, spectora):
    wo = book(spectora)
    response = office_client.post(reverse("spectora:workorder_sync", args=[wo.pk]))
    (message,) = get_messages(response.wsgi_request)
    assert "state-toast" in message.extra_tags
    page = office_client.get(reverse("workorders:detail", args=[wo.pk])).content.decode()
    assert page.count("data-state-toast") == 1


def test_a_refused_sync_toast_is_not_a_state_toast(office_client, spectora):
    wo = book(spectora, inspectors=[spectora.unlinked])
    office_client.post(reverse("spectora:workorder_sync", args=[wo.pk]))
    page = office_client.get(reverse("workorders:detail", args=[wo.pk])).content.decode()
    assert "data-state-toast" not in page


def test_a_failing_connection_is_not_the_same_as_a_pause(office_client, spectora):
    SpectoraConnection.objects.filter(pk=spectora.connection.pk).update(
        state=ConnectionState.FAILING)
    wo = book(spectora)
    runs.sync_request(wo)
    assert label(chip(office_client, wo)) == "Sync queued"


def test_a_run_waiting_its_turn_says_when_it_starts_not_when_it_is_tried_again(
        office_client, spectora):
    """A paced run of a bulk re-sync has never failed: "next try" read as a retry after an
    error (found from outside)."""
    wo = book(spectora)
    run = runs.sync_request(wo, None, trigger="bulk")
    SyncRun.objects.filter(pk=run.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=2))
    html = chip(office_client, wo, banner=True)
    run.refresh_from_db()
    assert label(html) == f"Sync queued, starts about {clock(run.next_attempt_at)}"
    assert "data-sync-problem" not in html
