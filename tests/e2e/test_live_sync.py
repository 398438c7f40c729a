"""The sync chip and banner follow a sync live, and a toast about a state goes when the state
changes: a real browser, the sandbox over HTTP, runs executed by the test (no worker), so each
state is held long enough to be seen."""

import re

import pytest
from playwright.sync_api import expect

from spectora_integration.models import RunState, SyncRun
from spectora_integration.sync import engine
from tests.e2e.conftest import head_chip, login, toast

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.django_db(transaction=True),
]

TOAST_GONE_MS = 4_000  # well before a success toast fades by itself (7 s)


def attempt(workorder, spectora, status: int) -> str:
    """One attempt of the workorder's queued run, Spectora answering ``status`` to creates."""
    spectora.faults({"method": "POST", "path": "/v2/inspections", "mode": "error",
                     "status": status})
    run = SyncRun.objects.get(workorder=workorder, state=RunState.QUEUED)
    SyncRun.objects.filter(pk=run.pk).update(next_attempt_at=None)
    return engine.sync_execute(run.pk)


def test_the_chip_follows_a_sync_through_a_retry_to_a_failure_without_a_reload(
    page, spectora, office_user, book, queued
):
    workorder = book()
    login(page, office_user)
    page.goto(f"/workorders/{workorder.pk}/")
    page.get_by_text("Actions").click()
    page.get_by_role("button", name="Sync Spectora job").click()

    expect(toast(page)).to_contain_text(f"Sync of {workorder} queued")
    expect(page.locator("[data-state-toast]")).to_have_count(1)
    expect(head_chip(page)).to_have_text("Sync queued")
    page.evaluate("window.notReloaded = true")

    assert attempt(workorder, spectora, 503) == "retrying"
    expect(head_chip(page)).to_have_text(re.compile(r"^Retrying: attempt 2 of 6"))
    expect(head_chip(page)).to_have_attribute("data-sync-status", "retrying")
    expect(page.locator("[data-sync-problem=retrying]")).to_contain_text(
        "Attik is retrying on its own")
    # "Sync queued" is no longer true: the chip and the banner say what is.
    expect(page.locator("[data-state-toast]")).to_have_count(0, timeout=TOAST_GONE_MS)

    assert attempt(workorder, spectora, 422) == "failed"
    expect(head_chip(page)).to_have_text("Sync failed")
    problem = page.get_by_role("alert")
    expect(problem).to_contain_text("The last Spectora sync failed.")
    expect(problem).to_contain_text("Spectora refused the change")
    expect(page.locator("[data-sync-problem=retrying]")).to_have_count(0)
    expect(page.locator(".toast--success")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True


def test_the_toast_goes_as_soon_as_the_sync_fails(page, spectora, office_user, book, queued):
    workorder = book()
    login(page, office_user)
    page.goto(f"/workorders/{workorder.pk}/")
    page.get_by_text("Actions").click()
    page.get_by_role("button", name="Sync Spectora job").click()
    expect(page.locator("[data-state-toast]")).to_have_count(1)

    assert attempt(workorder, spectora, 422) == "failed"
    expect(head_chip(page)).to_have_attribute("data-sync-state", "failed")
    expect(page.locator("[data-state-toast]")).to_have_count(0, timeout=TOAST_GONE_MS)
    expect(page.locator(".toast--success")).to_have_count(0)
