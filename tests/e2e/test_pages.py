"""Every page, as a person sees it on a desktop (1280 px) and on a phone (375 px): it fits the
window (no sideways scrolling), axe-core finds nothing serious, and the run keeps screenshots
of the main ones for the README (docs/screenshots/; phone ones are named phone-*.png)."""

import os
import re
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
    WIDTHS,
    WORKER_WAIT,
    horizontal_overflow,
    link_state,
    login,
    open_actions_with_keyboard,
    outside_viewport,
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


class Tour:
    """One width's walk through the pages: what fails is collected, so one run shows it all."""

    def __init__(self, width: int):
        self.width = width
        self.found: dict[str, list[str]] = {}

    def check(self, page: Page, name: str, shot: str | None = None) -> None:
        """The page fits the window, axe finds nothing serious; ``shot`` keeps a screenshot."""
        problems = []
        overflow = horizontal_overflow(page)
        if overflow:
            problems.append(f"scrolls sideways at {self.width} px: {overflow}")
        results = Axe().run(page)
        problems += [
            f"{v['id']} ({v['impact']}): {v['help']} -> "
            + "; ".join(", ".join(node["target"]) for node in v["nodes"][:5])
            for v in results.response["violations"] if v["impact"] in BLOCKING
        ]
        if problems:
            self.found.setdefault(f"{name} at {self.width} px", []).extend(problems)
        if shot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.mouse.move(0, 0)
            prefix = "phone-" if self.width < 640 else ""
            page.screenshot(path=str(SCREENSHOTS / f"{prefix}{shot}.png"))

    def inside(self, page: Page, name: str, selector: str) -> None:
        """Every visible ``selector`` is wholly inside the window."""
        outside = outside_viewport(page, selector)
        if outside:
            self.found.setdefault(f"{name} at {self.width} px", []).append(
                f"{selector} outside the window: {outside}")

    def report(self) -> str:
        return "\n".join(f"{page}: {problems}" for page, problems in self.found.items())


# Shot at both widths; the phone keeps only these (the README shows them side by side).
PHONE_SHOTS = {"dashboard", "list", "detail-actions", "menu", "edit-services", "failed-syncs"}


@pytest.mark.parametrize("width", sorted(WIDTHS, reverse=True))
@pytest.mark.usefixtures("no_auto_sync_on_booking")  # the pages show one of each sync state
def test_every_page_fits_the_screen_has_no_serious_accessibility_problem_and_is_captured(
    width, celery_worker_process, pages, spectora, admin_user, office_user, book
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

    tour = Tour(width)
    phone = width < 640

    def shot(name: str) -> str | None:
        return name if not phone or name in PHONE_SHOTS else None

    anonymous = pages.new(WIDTHS[width])
    anonymous.goto("/login/")
    tour.check(anonymous, "login")

    page = pages.new(WIDTHS[width])
    login(page, admin_user)
    expect(page.locator("[data-chart=syncs-per-day]")).to_be_visible()
    tour.check(page, "dashboard", shot("dashboard"))

    # The navigation: inline on a desktop, behind a Menu button on a phone; either way every
    # link and Log out are on the screen.
    menu_button = page.locator("summary.navmenu__button")
    nav = page.get_by_role("navigation", name="Main")
    if phone:
        expect(nav).to_be_hidden()
        expect(menu_button).to_be_visible()
        menu_button.click()
        expect(page.locator("details[data-navmenu]")).to_have_attribute("open", "")
        tour.check(page, "navigation menu open", shot("menu"))
    else:
        expect(menu_button).to_be_hidden()
    for name in ["Dashboard", "Workorders", "New workorder", "Spectora", "Failed syncs",
                 "Admin", "API docs"]:
        link = nav.get_by_role("link", name=re.compile(rf"^{re.escape(name)}( \d+ to fix)?$"))
        expect(link).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    tour.inside(page, "navigation", ".topbar a, .topbar button, .topbar summary")
    if phone:
        page.keyboard.press("Escape")
        expect(page.locator("details[data-navmenu]")).not_to_have_attribute("open", "")
        expect(nav).to_be_hidden()

    page.goto("/workorders/")
    expect(page.locator(".wo-link")).to_have_count(7)
    if phone:  # the shot shows the rows as cards, under the filters
        page.locator("#wo-results").evaluate("results => results.scrollIntoView()")
    tour.check(page, "list", shot("list"))

    page.goto(f"/workorders/{first.pk}/")
    expect(page.locator(".detail-head .chip--attik")).to_have_text("Attik")
    open_actions_with_keyboard(page)
    tour.inside(page, "Actions menu", ".menu__panel, .menu__entry")
    tour.check(page, "detail with the Actions menu open", shot("detail-actions"))
    page.keyboard.press("Escape")

    page.get_by_role("link", name="Integrations", exact=True).click()
    expect(page.locator(".run").first).to_be_visible()
    page.locator(".run__calls summary").first.click()
    tour.check(page, "integrations tab", shot("integrations"))

    page.get_by_role("link", name="Activity", exact=True).click()
    expect(page.locator(".timeline")).to_be_visible()
    tour.check(page, "activity tab")

    page.goto(f"/workorders/{failing.pk}/")
    expect(page.locator("[data-sync-problem=failed]")).to_be_visible()
    tour.check(page, "detail with a failed sync", shot("detail-failed"))

    page.goto("/spectora/failed/")
    expect(page.locator("[data-table=failed-syncs] tbody tr")).to_have_count(1)
    tour.check(page, "failed syncs", shot("failed-syncs"))

    page.goto("/spectora/connection/")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status")).to_contain_text("Connected: Spectora answered")
    tour.check(page, "Spectora connection", shot("spectora-connection"))

    page.goto("/spectora/staff/")
    expect(page.locator("[data-unlinked-employees]")).to_contain_text("Jordan Blake")
    tour.check(page, "staff linking", shot("staff-linking"))

    page.goto("/spectora/services/")
    tour.check(page, "service mapping", shot("service-mapping"))

    page.goto(f"/workorders/{fresh.pk}/spectora/preview/")
    expect(page.locator("[data-preview=plan]")).to_be_visible()
    tour.check(page, "preview", shot("preview"))

    # The services of a workorder: each price and quantity keeps a visible label.
    page.goto(f"/workorders/{fresh.pk}/edit/")
    page.locator("#services-title").evaluate("title => title.scrollIntoView()")
    row = page.locator("[data-formset=line_items] [data-formset-row]").first
    for label in ["Service", "Price in dollars", "Quantity"]:
        field = row.get_by_label(label, exact=True)
        expect(field).to_be_visible()
        # On a phone each field's label shows above it; on a desktop the column heads do.
        says = (page.locator(f"label[for='{field.get_attribute('id')}']") if phone
                else page.locator(".rows__head"))
        expect(says).to_be_visible()
        assert says.bounding_box()["y"] + 4 < field.bounding_box()["y"], label
    tour.check(page, "edit", shot("edit-services"))

    for name, url in [
        ("new workorder", "/workorders/new/"),
        ("reschedule", f"/workorders/{fresh.pk}/reschedule/"),
        ("cancel confirmation", f"/workorders/{fresh.pk}/cancel/"),
        ("not found", "/workorders/999999/"),
    ]:
        page.goto(url)
        tour.check(page, name)

    page.set_content((ROOT / "templates" / "500.html").read_text())
    tour.check(page, "server error")

    office = pages.new(WIDTHS[width])
    login(office, office_user)
    office.goto("/spectora/connection/")
    expect(office.get_by_role("heading", level=1)).to_have_text("You can't do that here")
    tour.check(office, "not allowed")
    office.goto("/workorders/?search=Spectora+Lane")
    office.locator(".wo-link").click()
    expect(office.locator(".detail-head .chip--origin")).to_have_text("From Spectora")
    expect(office.locator(".detail-head .chip--attik")).to_have_count(0)
    tour.check(office, "Spectora-origin workorder")

    assert tour.found == {}, tour.report()


# Common window widths between a small phone and the desktop the tour uses.
IN_BETWEEN = [320, 360, 414, 600, 700, 768, 900, 1024, 1100, 1180, 1280]


@pytest.mark.usefixtures("no_auto_sync_on_booking")
def test_no_page_scrolls_sideways_at_any_common_width(pages, spectora, admin_user, book):
    """The breakpoints (the navigation folds at 1100 px, tables become cards at 640 px) leave
    no width in between where a page is wider than its window."""
    workorder = book()
    page = pages.new()
    login(page, admin_user)
    found = []
    detail = f"/workorders/{workorder.pk}/"
    for url in ["/", "/workorders/", detail, f"{detail}?tab=integrations", f"{detail}edit/",
                "/spectora/failed/", "/spectora/staff/", "/spectora/services/"]:
        page.goto(url)
        for width in IN_BETWEEN:
            page.set_viewport_size({"width": width, "height": 800})
            overflow = horizontal_overflow(page)
            if overflow:
                found.append(f"{url} at {width} px: {overflow}")
    assert found == [], "\n".join(found)
