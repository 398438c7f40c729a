"""Every main page, as a person sees it: axe-core finds nothing serious, and the run keeps
screenshots of them for the README (docs/screenshots/, 1280x800)."""

import os
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from spectora_integration.inbound import importer
from spectora_integration.models import RunState, SyncRun, SyncState
from spectora_integration.sync import runs
from tests.e2e.conftest import (
    ROOT,
    SCREENSHOTS,
    WORKER_WAIT,
    link_state,
    login,
    open_actions_with_keyboard,
    soon,
    synced,
    today_at,
)
from tests.worker import wait_for
from workorders.models import ServiceKind

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.django_db(transaction=True),
]

BLOCKING = set(os.environ.get("AXE_IMPACTS", "serious,critical").split(","))
INSPECTORS = ["Maria Lopez", "James Carter", "Priya Shah", "Tom Becker"]
SERVICES = [  # name, kind, price, Spectora service, report template
    ("Full Home Inspection", ServiceKind.PRIMARY, 45000, "svc-1", "Residential Inspection Report"),
    ("Radon Test", ServiceKind.ADD_ON, 15000, "svc-5", "Radon Measurement Report"),
    ("Termite/WDO Inspection", ServiceKind.ADD_ON, 9500, "svc-6", "WDO Report (NPMA-33)"),
    ("Sewer Scope", ServiceKind.ADD_ON, 17500, "svc-7", "Sewer Scope Report"),
]
# Finished runs per day for the last two weeks, oldest first: (succeeded, failed).
HISTORY = [(3, 0), (5, 1), (2, 0), (0, 0), (4, 0), (6, 2), (3, 0), (1, 0), (0, 0), (5, 0),
           (7, 1), (4, 0), (2, 0)]


def _office_like_a_real_one(spectora):
    """The wired company, named like the sandbox's Spectora account."""
    for employee, name in zip(spectora.inspectors, INSPECTORS, strict=True):
        employee.name = name
        employee.email = f"{name.split()[0].lower()}@acme.example.com"
        employee.save()
    spectora.unlinked.name = "Jordan Blake"
    spectora.unlinked.save()
    for service, (name, kind, price, remote, template) in zip(spectora.services, SERVICES,
                                                              strict=True):
        service.name, service.kind, service.price_cents = name, kind, price
        service.spectora_service_id = remote
        service.save()
        report_type = service.report_types.get()
        report_type.name = template
        report_type.save()
    spectora.unmapped.name = "Pool & Spa"
    spectora.unmapped.kind = ServiceKind.ADD_ON
    spectora.unmapped.save()


def _history(workorder):
    """Finished runs on the days before today, for the dashboard's chart."""
    for days_ago, (ok, bad) in zip(range(len(HISTORY), 0, -1), HISTORY, strict=True):
        at = today_at(11) - timedelta(days=days_ago)
        for n in range(ok + bad):
            run = SyncRun.objects.create(
                company=workorder.company, workorder=workorder,
                state=RunState.SUCCEEDED if n < ok else RunState.FAILED,
                attempts=1, started_at=at, finished_at=at + timedelta(seconds=1),
                dismissed_at=None if n < ok else at + timedelta(hours=1),
                reason="" if n < ok else "Spectora had a server error (HTTP 503).",
            )
            SyncRun.objects.filter(pk=run.pk).update(created_at=at)


def _check(page: Page, name: str, found: dict) -> None:
    results = Axe().run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING]
    if blocking:
        found[name] = [
            f"{v['id']} ({v['impact']}): {v['help']} -> "
            + "; ".join(", ".join(node["target"]) for node in v["nodes"][:5])
            for v in blocking
        ]


def _shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.mark.usefixtures("no_auto_sync_on_booking")  # the pages show one of each sync state
def test_the_main_pages_have_no_serious_accessibility_problems_and_are_captured(
    celery_worker_process, pages, spectora, admin_user, office_user, book,
    no_auto_sync_on_booking,  # each workorder below is synced (or failed) on purpose
):
    _office_like_a_real_one(spectora)
    inspectors, services = spectora.inspectors, spectora.services
    past = book(address="5 Birch Rd, Springfield", client="Casey Nguyen",
                when=today_at(10) - timedelta(days=12), inspectors=inspectors[2:3],
                services=services[:1])
    first = book(address="41 Juniper Court, Springfield", client="Avery Johnson",
                 when=today_at(8, 30), inspectors=inspectors[:2], services=services[:3])
    failing = book(address="8 Alder Way, Springfield", client="Blake Carter",
                   when=today_at(11), inspectors=inspectors[1:2], services=services[:2])
    fresh = book(address="19 Cedar Lane, Springfield", client="Drew Patel",
                 when=today_at(14), inspectors=[inspectors[3], inspectors[0]],
                 services=[services[0], services[3]], notes="Lockbox on the side door: 4410.")
    book(address="230 Willow Way, Springfield", client="Emery Brooks", when=soon(2),
         inspectors=inspectors[:1], services=services[:1])
    book(address="12 Elm Court, Springfield", client="Finley Reed", when=soon(3, 15),
         inspectors=inspectors[2:4], services=services[1:3])
    job = spectora.control("inspections", {
        "attributes": {"datetime": today_at(16, 30).isoformat(), "duration": 120,
                       "full_address": "77 Spectora Lane, Springfield",
                       "client_name": "Robin Park", "client_email": "robin@example.com"},
        "assignments": [{"inspector_id": "insp-4", "primary": True}],
        "line_items": [{"service_id": "svc-1", "price_cents": 45000, "quantity": 1}],
    })
    importer.inspection_receive(spectora.connection, job["id"])
    _history(past)
    synced(first, office_user)
    spectora.faults({"method": "POST", "path": "/v2/inspections", "mode": "error",
                     "status": 422, "times": 1})
    runs.sync_request(failing, office_user)
    wait_for(lambda: link_state(failing) == SyncState.FAILED, timeout=WORKER_WAIT)

    found: dict[str, list[str]] = {}
    anonymous = pages.new()
    anonymous.goto("/login/")
    _check(anonymous, "login", found)

    page = pages.new()
    login(page, admin_user)
    expect(page.locator("[data-chart=syncs-per-day]")).to_be_visible()
    _check(page, "dashboard", found)
    _shoot(page, "dashboard")

    page.goto("/workorders/")
    expect(page.locator(".wo-link")).to_have_count(7)
    _check(page, "list", found)
    _shoot(page, "list")

    page.goto(f"/workorders/{first.pk}/")
    open_actions_with_keyboard(page)
    _check(page, "detail with the Actions menu open", found)
    _shoot(page, "detail-actions")
    page.keyboard.press("Escape")

    page.get_by_role("link", name="Integrations", exact=True).click()
    expect(page.locator(".run").first).to_be_visible()
    page.locator(".run__calls summary").first.click()
    _check(page, "integrations tab", found)
    _shoot(page, "integrations")

    page.get_by_role("link", name="Activity", exact=True).click()
    expect(page.locator(".timeline")).to_be_visible()
    _check(page, "activity tab", found)

    page.goto(f"/workorders/{failing.pk}/")
    expect(page.locator("[data-sync-problem=failed]")).to_be_visible()
    _check(page, "detail with a failed sync", found)
    _shoot(page, "detail-failed")

    page.goto("/spectora/failed/")
    expect(page.locator("[data-table=failed-syncs] tbody tr")).to_have_count(1)
    _check(page, "failed syncs", found)
    _shoot(page, "failed-syncs")

    page.goto("/spectora/connection/")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status")).to_contain_text("Connected: Spectora answered")
    _check(page, "Spectora connection", found)
    _shoot(page, "spectora-connection")

    page.goto("/spectora/staff/")
    expect(page.locator("[data-unlinked-employees]")).to_contain_text("Jordan Blake")
    _check(page, "staff linking", found)
    _shoot(page, "staff-linking")

    page.goto("/spectora/services/")
    _check(page, "service mapping", found)
    _shoot(page, "service-mapping")

    page.goto(f"/workorders/{fresh.pk}/spectora/preview/")
    expect(page.locator("[data-preview=plan]")).to_be_visible()
    _check(page, "preview", found)
    _shoot(page, "preview")

    for name, url in [
        ("new workorder", "/workorders/new/"),
        ("edit", f"/workorders/{fresh.pk}/edit/"),
        ("reschedule", f"/workorders/{fresh.pk}/reschedule/"),
        ("cancel confirmation", f"/workorders/{fresh.pk}/cancel/"),
        ("not found", "/workorders/999999/"),
    ]:
        page.goto(url)
        _check(page, name, found)

    page.set_content((ROOT / "templates" / "500.html").read_text())
    _check(page, "server error", found)

    office = pages.new()
    login(office, office_user)
    office.goto("/spectora/connection/")
    expect(office.get_by_role("heading", level=1)).to_have_text("You can't do that here")
    _check(office, "not allowed", found)
    office.goto("/workorders/?q=Spectora+Lane")
    office.locator(".wo-link").click()
    expect(office.locator(".detail-head .chip--origin")).to_be_visible()
    _check(office, "Spectora-origin workorder", found)

    assert found == {}, "\n".join(f"{page}: {problems}" for page, problems in found.items())
