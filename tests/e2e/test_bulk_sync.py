"""Sync all upcoming workorders from the connection page, watched live in a real browser."""

import pytest
from playwright.sync_api import expect

from spectora_integration.models import SyncRun
from tests.e2e.conftest import WORKER_WAIT, login, soon, toast

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_auto_sync_on_booking"),  # the button sends them, nothing else
]


def test_an_admin_syncs_all_upcoming_workorders_and_watches_them_land(
    celery_worker_process, page, spectora, admin_user, book
):
    for n in range(3):
        book(address=f"{n + 1} Birch Lane, Springfield", when=soon(days=n + 1))
    book(address="9 Cedar Road, Springfield", inspectors=[spectora.unlinked])
    login(page, admin_user)
    page.goto("/spectora/connection/")
    section = page.locator("#bulk-sync")
    expect(section.get_by_role("heading", name="Sync all upcoming workorders")).to_be_visible()
    expect(page.locator("#bulk-progress")).to_have_count(0)

    # Each create first meets a 503: every run needs a retry (seconds later), so the page
    # after the click shows the batch running, and only polling can show it finish.
    spectora.faults({"method": "POST", "path": "/v2/inspections", "mode": "error",
                     "status": 503, "times": 3})
    section.get_by_role("button", name="Sync all upcoming workorders").click()

    expect(toast(page)).to_contain_text("Sync of 3 upcoming workorders queued. 1 left out: 1 × "
                                        f"{spectora.unlinked.name} is not linked")
    page.evaluate("window.notReloaded = true")
    progress = page.locator("#bulk-progress")
    expect(progress).to_be_visible()
    expect(progress).to_have_attribute("hx-get", "/spectora/sync-all/progress/")
    expect(progress.locator("progress")).to_have_attribute("max", "3")
    # htmx polls the partial: the counts reach the end without a reload.
    expect(progress).to_have_attribute("data-finished", "", timeout=WORKER_WAIT * 1000)
    expect(progress.locator('[data-count="done"]')).to_have_text("3 done")
    expect(progress.locator('[data-count="left"]')).to_have_text("0 left")
    expect(progress.locator("progress")).to_have_attribute("value", "3")
    assert page.evaluate("window.notReloaded") is True
    assert len(spectora.state()) == 3
    assert set(SyncRun.objects.values_list("trigger", flat=True)) == {"bulk"}
