"""The office's day in a real browser: find, sync, open, edit, cancel, preview, mirror."""

import re

import pytest
from playwright.sync_api import expect

from spectora_integration.models import SpectoraLink, SyncState
from tests.e2e.conftest import (
    WORKER_WAIT,
    head_chip,
    link_state,
    login,
    open_actions_with_keyboard,
    soon,
    synced,
    toast,
)
from tests.worker import wait_for
from workorders.models import Origin, Workorder

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.django_db(transaction=True),
]

SETTLE_MS = WORKER_WAIT * 1000


@pytest.mark.usefixtures("no_auto_sync_on_booking")  # a job that was never synced
def test_an_office_user_finds_a_workorder_and_syncs_it_from_the_keyboard(
    celery_worker_process, page, spectora, office_user, book, no_auto_sync_on_booking
):
    book(address="8 Alder Way, Springfield", client="Blake Carter")
    workorder = book()
    # Spectora stumbles once, so the chip is seen queued, then retried, then synced.
    spectora.faults({"method": "POST", "path": "/v2/inspections", "mode": "error",
                     "status": 503, "times": 1})

    login(page, office_user)
    expect(page.get_by_role("heading", level=1)).to_have_text("Today at Acme Inspections")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Workorders").click()
    expect(page).to_have_url(re.compile(r"/workorders/$"))
    expect(page.locator(".wo-link")).to_have_count(2)

    page.get_by_label("Search").fill("Juniper")
    expect(page.locator(".wo-link")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"[?&]search=Juniper"))
    page.get_by_role("link", name=str(workorder)).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(str(workorder))
    expect(head_chip(page)).to_have_attribute("data-sync-state", "never")

    open_actions_with_keyboard(page)
    sync_button = page.get_by_role("button", name="Sync Spectora job")
    expect(sync_button).to_be_focused()  # Open Spectora job is disabled: no job yet
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("button", name=re.compile("^Force sync"))).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(sync_button).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # The worker may be quicker than the page: the "queued" toast is there only while the
    # chip says queued or syncing (test_live_sync holds each state to look at it).
    page.evaluate("window.notReloaded = true")
    expect(head_chip(page)).to_have_attribute("data-sync-state", "synced", timeout=SETTLE_MS)
    expect(head_chip(page)).to_contain_text("Synced")
    expect(page.locator("[data-state-toast]")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True

    # The page around the chip followed: the menu now opens the job that exists.
    (job,) = spectora.state()
    assert job["id"] == SpectoraLink.objects.get(workorder=workorder).remote_id
    open_actions_with_keyboard(page)
    expect(page.get_by_role("link", name=re.compile("^Open Spectora job"))).to_be_focused()
    expect(page.get_by_role("link", name=re.compile("^Open Spectora job"))).to_have_attribute(
        "href", job["url"])
    page.keyboard.press("Escape")
    expect(page.locator("details[data-menu]")).not_to_have_attribute("open", "")
    expect(page.locator("summary.menu__button")).to_be_focused()
    assert page.evaluate("window.notReloaded") is True


def test_open_spectora_job_opens_the_job_in_a_new_tab(
    celery_worker_process, page, spectora, office_user, book
):
    workorder = book()
    link = synced(workorder)

    login(page, office_user)
    page.goto(f"/workorders/{workorder.pk}/")
    page.get_by_text("Actions").click()
    with page.expect_popup() as popup_info:
        page.get_by_role("link", name=re.compile("^Open Spectora job")).click()
    popup = popup_info.value
    popup.wait_for_load_state()

    assert popup.url == link.url == spectora.state()[0]["url"]
    expect(popup.get_by_role("heading", level=1)).to_contain_text(link.remote_id)
    assert page.url.endswith(f"/workorders/{workorder.pk}/")  # the workorder stays open


def test_changing_the_inspectors_reaches_spectora_by_itself(
    celery_worker_process, page, spectora, office_user, book
):
    first, second, third = spectora.inspectors[:3]
    workorder = book(inspectors=[first, second])
    synced(workorder)

    login(page, office_user)
    page.goto(f"/workorders/{workorder.pk}/")
    page.get_by_text("Actions").click()
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Edit {workorder}")
    page.get_by_label("Inspector", exact=True).first.select_option(label=third.name)
    page.get_by_role("button", name="Save changes").click()

    expect(toast(page)).to_contain_text(f"Saved your changes to {workorder}")
    expect(page.locator(".people")).to_contain_text(third.name)
    expect(head_chip(page)).to_have_attribute("data-sync-state", "synced", timeout=SETTLE_MS)
    wait_for(lambda: sorted(a["inspector_id"] for a in spectora.state()[0]["assignments"])
             == sorted([third.spectora_inspector_id, second.spectora_inspector_id]),
             timeout=WORKER_WAIT)
    primary = [a for a in spectora.state()[0]["assignments"] if a["primary"]]
    assert [a["inspector_id"] for a in primary] == [third.spectora_inspector_id]


def test_cancelling_asks_first_and_cancels_the_spectora_job(
    celery_worker_process, page, spectora, office_user, book
):
    workorder = book()
    synced(workorder)

    login(page, office_user)
    page.goto(f"/workorders/{workorder.pk}/")
    open_actions_with_keyboard(page)
    page.get_by_role("link", name="Cancel…").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Cancel {workorder}?")
    expect(page.get_by_text("that job is cancelled too")).to_be_visible()
    page.get_by_role("link", name="Keep it").click()  # changing one's mind costs nothing
    expect(page).to_have_url(re.compile(rf"/workorders/{workorder.pk}/$"))
    assert Workorder.objects.get(pk=workorder.pk).status != "cancelled"

    page.get_by_text("Actions").click()
    page.get_by_role("link", name="Cancel…").click()
    page.get_by_label("Why is it cancelled?").fill("Buyer walked away")
    page.get_by_role("button", name="Cancel workorder").click()

    expect(toast(page)).to_contain_text(f"Cancelled {workorder}")
    expect(page.locator(".detail-head .chip--cancelled")).to_have_text("Cancelled")
    expect(page.get_by_text("Buyer walked away")).to_be_visible()
    job = wait_for(lambda: [j for j in spectora.state() if j["canceled_at"]], WORKER_WAIT)[0]
    assert job["cancel_reason"] == "Buyer walked away"


def test_preview_lists_the_planned_changes_and_sends_nothing(
    celery_worker_process, page, spectora, office_user, book
):
    workorder = book()

    login(page, office_user)
    page.goto(f"/workorders/{workorder.pk}/")
    page.get_by_text("Actions").click()
    page.get_by_role("link", name=re.compile("^Preview sync")).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Preview: what a sync would change")
    plan = page.locator("[data-preview=plan] li")
    expect(plan.first).to_contain_text("Create")
    assert plan.count() >= 5  # the job, two inspectors, two services (and their reports)
    expect(page.locator("[data-op=create_inspection]")).to_have_count(1)
    assert spectora.state() == []
    assert not [r for r in spectora.requests_log() if r["method"] != "GET"]

    page.get_by_role("button", name="Sync now").click()
    expect(page).to_have_url(re.compile(rf"/workorders/{workorder.pk}/$"))
    expect(head_chip(page)).to_have_attribute("data-sync-state", "synced", timeout=SETTLE_MS)
    assert len(spectora.state()) == 1


@pytest.fixture
def mirrored(live_server, spectora, sandbox_webhooks_to):
    """A job booked in Spectora, imported through a signed webhook and the worker."""
    connection = spectora.connection
    sandbox_webhooks_to(f"{live_server.url}/api/spectora/webhooks/{connection.pk}/",
                        connection.webhook_secrets[0])
    job = spectora.control("inspections", {
        "attributes": {"datetime": soon().isoformat(), "duration": 120,
                       "full_address": "77 Spectora Lane, Springfield",
                       "client_name": "Robin Park", "client_email": "robin@example.com"},
        "assignments": [{"inspector_id": "insp-1", "primary": True}],
        "line_items": [{"service_id": "svc-1", "price_cents": 45000, "quantity": 1}],
    })
    link = wait_for(lambda: SpectoraLink.objects.filter(remote_id=job["id"])
                    .select_related("workorder").first(), timeout=WORKER_WAIT)
    assert link.workorder.origin == Origin.SPECTORA
    return link.workorder, job


def test_a_spectora_origin_job_shows_its_origin_and_offers_refresh_instead_of_sync(
    celery_worker_process, page, mirrored, office_user
):
    workorder, _ = mirrored

    login(page, office_user)
    page.goto("/workorders/?origin=spectora")
    expect(page.locator(".wo-link")).to_have_count(1)
    expect(page.locator("#wo-results .chip--origin")).to_have_text("From Spectora")
    page.get_by_role("link", name=str(workorder)).click()

    expect(page.locator(".detail-head .chip--origin")).to_have_text("From Spectora")
    expect(page.get_by_text("This workorder was booked in Spectora")).to_be_visible()
    open_actions_with_keyboard(page)
    expect(page.get_by_role("link", name=re.compile("^Open Spectora job"))).to_be_focused()
    page.keyboard.press("ArrowDown")  # past the disabled Sync, onto Refresh
    refresh = page.get_by_role("button", name=re.compile("^Refresh from Spectora"))
    expect(refresh).to_be_focused()
    expect(page.get_by_role("button", name="Sync Spectora job")).to_have_count(0)
    expect(page.locator("[data-action=sync_spectora] [aria-disabled=true]")).to_contain_text(
        "use Refresh")
    expect(page.locator("[data-action=force_sync_spectora]")).to_have_count(0)
    expect(page.locator("[data-action=preview_spectora]")).to_have_count(0)
    expect(page.locator("[data-action=edit] [aria-disabled=true]")).to_contain_text(
        "change it there")

    page.keyboard.press("Enter")
    expect(toast(page)).to_contain_text(f"Refreshing {workorder} from Spectora…")


def test_refresh_from_spectora_brings_over_a_change_whose_webhook_was_lost(
    celery_worker_process, page, sandbox, spectora, mirrored, office_user
):
    workorder, job = mirrored
    sandbox.webhooks.configure(url=None)  # the webhook of the next change is lost
    spectora.control("inspections", {"id": job["id"],
                                     "attributes": {"full_address": "79 Spectora Lane"}})

    login(page, office_user)
    page.goto(f"/workorders/{workorder.pk}/")
    page.get_by_text("Actions").click()
    page.get_by_role("button", name=re.compile("^Refresh from Spectora")).click()
    expect(toast(page)).to_contain_text(f"Refreshing {workorder} from Spectora…")
    page.evaluate("window.notReloaded = true")

    # The page updates itself when the refresh lands; nobody reloads it.
    expect(page.locator(".detail-head")).to_contain_text("79 Spectora Lane", timeout=SETTLE_MS)
    expect(head_chip(page)).to_have_attribute("data-sync-state", "synced")
    expect(page.locator("[data-state-toast]")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    assert Workorder.objects.get(pk=workorder.pk).address == "79 Spectora Lane"
    assert link_state(workorder) == SyncState.SYNCED


def test_a_workorder_booked_in_the_form_reaches_spectora_without_a_click(
    celery_worker_process, page, spectora, office_user
):
    """Every workorder has a twin: booking an eligible one is enough."""
    login(page, office_user)
    page.goto("/workorders/new/")
    page.get_by_label("Date and time").fill(soon(3).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Property address").fill("3 Quince Street, Springfield")
    page.get_by_label("Client name").fill("Harper Quinn")
    page.locator("select[name='assignees-0-employee']").select_option(
        str(spectora.inspectors[0].pk))
    page.locator("select[name='line_items-0-service']").select_option(
        str(spectora.services[0].pk))
    page.get_by_role("button", name=re.compile("^Book")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("WO-")
    # Nobody clicks Sync: the chip goes to synced by itself and Spectora has the job.
    expect(head_chip(page)).to_have_attribute("data-sync-state", "synced", timeout=SETTLE_MS)
    jobs = spectora.state()
    assert [job["client_name"] for job in jobs] == ["Harper Quinn"]
