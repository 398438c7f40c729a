"""A broken Spectora connection, seen by the office and fixed by an admin, in a real browser."""

import re

import pytest
from playwright.sync_api import expect

from spectora_integration.models import SyncState
from spectora_integration.sync import runs
from tests.e2e.conftest import WORKER_WAIT, head_chip, link_state, login, toast
from tests.worker import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.django_db(transaction=True),
    # The failures counted here are the person's own syncs, not the bookings' automatic ones.
    pytest.mark.usefixtures("no_auto_sync_on_booking"),
]

SETTLE_MS = WORKER_WAIT * 1000
EVERY_POST_REFUSED = {"method": "POST", "path": "/v2/*", "mode": "error", "status": 422}


def test_a_failed_sync_says_what_to_do_and_an_admin_retries_it_once_fixed(
    celery_worker_process, pages, spectora, office_user, admin_user, book
):
    first = book(address="41 Juniper Court, Springfield")
    second = book(address="8 Alder Way, Springfield", client="Blake Carter")
    spectora.faults(EVERY_POST_REFUSED)

    # The office syncs the first one and sees it fail, with what to do, without a reload.
    office = pages.new()
    login(office, office_user)
    office.goto(f"/workorders/{first.pk}/")
    office.get_by_text("Actions").click()
    with office.expect_navigation():
        office.get_by_role("button", name="Sync Spectora job").click()
    office.evaluate("window.notReloaded = true")
    expect(head_chip(office)).to_have_attribute("data-sync-state", "failed", timeout=SETTLE_MS)
    expect(head_chip(office)).to_have_text("Sync failed")  # one short line; the banner says why
    expect(office.locator("[data-state-toast]")).to_have_count(0)  # "queued" is no longer true
    problem = office.get_by_role("alert")
    expect(problem).to_contain_text("The last Spectora sync failed.")
    expect(problem).to_contain_text("Spectora refused the change")
    expect(problem).to_contain_text("What to do:")
    expect(problem).to_contain_text("choose Sync Spectora job again")
    expect(problem.locator("a[href^='/spectora/']")).to_have_count(0)  # no page they can't open
    assert office.evaluate("window.notReloaded") is True
    office.get_by_role("link", name="Integrations tab").click()
    expect(office.locator(".run .chip--run-failed").first).to_have_text("Failed")
    # What the run did, in words; the raw calls are for administrators.
    expect(office.locator(".run__reason").first).to_contain_text("Spectora refused the change")
    expect(office.locator(".run__calls")).to_have_count(0)

    # The second one fails too (from anywhere: here the API's service).
    runs.sync_request(second, office_user)
    wait_for(lambda: link_state(second) == SyncState.FAILED, timeout=WORKER_WAIT)

    # An admin sees it on the dashboard and fixes it.
    admin = pages.new()
    login(admin, admin_user)
    expect(admin.locator("[data-stat=failed-24h]")).to_contain_text("2")
    expect(admin.locator("[data-stat=failed-open]")).to_have_text("2")
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Failed syncs").click()
    rows = admin.locator("[data-table=failed-syncs] tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Spectora refused the change")
    # Dismissing asks first; saying no keeps both.
    questions = []
    admin.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    admin.get_by_label(f"Select {second}").check()
    admin.get_by_role("button", name="Dismiss selected").click()
    expect(rows).to_have_count(2)
    assert questions and questions[0].startswith("Dismiss the selected syncs?")
    admin.get_by_label(f"Select {second}").uncheck()

    spectora.faults()  # the cause is fixed

    admin.get_by_label(f"Select {first}").check()
    admin.get_by_role("button", name="Retry selected").click()
    expect(toast(admin)).to_contain_text("Retrying 1 sync")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(str(second))

    admin.get_by_role("button", name=re.compile(r"^Retry all \(1\)")).click()
    expect(toast(admin)).to_contain_text("Retrying 1 sync")
    # The page keeps the retries in view until they land, then says all is well by itself.
    expect(admin.locator("[data-empty=failed-syncs]")).to_contain_text("Nothing to fix",
                                                                      timeout=SETTLE_MS)

    # Both reach Spectora, and the workorder no longer shows a problem.
    office.goto(f"/workorders/{first.pk}/")
    expect(head_chip(office)).to_have_attribute("data-sync-state", "synced", timeout=SETTLE_MS)
    expect(office.locator("[data-sync-problem]")).to_have_count(0)
    wait_for(lambda: len(spectora.state()) == 2, timeout=WORKER_WAIT)
    wait_for(lambda: link_state(second) == SyncState.SYNCED, timeout=WORKER_WAIT)
    admin.goto("/")
    expect(admin.locator("[data-stat=failed-open]")).to_have_text("0")
    expect(admin.locator("[data-stat=last-success] time")).to_have_text(
        re.compile("^(Now|.* ago)$"))
