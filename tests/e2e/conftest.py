"""Browser tests: headless Chromium (Debian's, not a Playwright download) driving
``live_server``, with a real Celery worker and the Spectora sandbox over HTTP.

Each test module gets its own Playwright and browser; each test a fresh context
(1280x800, or a phone's 375x812 when asked; no cookies) and page. A test fails if the page
throws an uncaught JavaScript error; a failing test leaves a screenshot in
``var/e2e-failures/``.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from spectora_integration.models import SpectoraLink, SyncState
from spectora_integration.sync import runs
from tests.factories import PASSWORD
from tests.worker import wait_for
from workorders.services import AssigneeInput, LineItemInput, workorder_create

CHROMIUM = os.environ.get("ATTIK_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
WIDTHS = {1280: VIEWPORT, 375: PHONE}
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
WORKER_WAIT = 30  # seconds: a sync through the broker, the worker and the sandbox
SHORT = 5_000  # ms: what the page does by itself

expect.set_options(timeout=SHORT)


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser():
    """One Chromium per module. While Playwright runs, this thread has a running asyncio
    loop; Django refuses ORM calls from such a thread unless told the calls are really
    synchronous, which they are here (the live server answers from another thread)."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


class Pages:
    """Fresh browser contexts for a test: ``pages.new()`` is one person's browser."""

    def __init__(self, browser, base_url: str, request):
        self.browser = browser
        self.base_url = base_url
        self.request = request
        self.contexts = []
        self.errors: list[str] = []

    def new(self, viewport: dict = VIEWPORT) -> Page:
        context = self.browser.new_context(viewport=viewport, base_url=self.base_url)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page

    def close(self) -> None:
        report = getattr(self.request.node, "report_call", None)
        if report is not None and report.failed:
            folder = Path(settings.VAR_DIR) / "e2e-failures"
            folder.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", self.request.node.name)
            for n, context in enumerate(self.contexts):
                for m, page in enumerate(context.pages):
                    with contextlib.suppress(Exception):  # a crashed page has nothing to show
                        page.screenshot(path=str(folder / f"{name}-{n}-{m}.png"))
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser, live_server, request):
    pages = Pages(browser, live_server.url, request)
    yield pages
    pages.close()
    assert pages.errors == [], f"JavaScript errors on the page: {pages.errors}"


@pytest.fixture
def page(pages) -> Page:
    return pages.new()


def login(page: Page, user, password: str = PASSWORD) -> None:
    """Sign in through the login form; Attik lands on the dashboard."""
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/$"))


def open_actions_with_keyboard(page: Page) -> None:
    """Focus the Actions button and open it with Enter, as a keyboard user does."""
    page.locator("summary.menu__button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("details[data-menu]")).to_have_attribute("open", "")


# Where the page is wider than the window: the elements that first stick out on the right.
_OVERFLOW = """() => {
  const width = window.innerWidth;
  const name = (el) => el.tagName.toLowerCase() + (typeof el.className === "string" && el.className
    ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const culprits = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (!box.width || box.right <= width + 0.5 || !el.checkVisibility()) continue;
    if (el.parentElement.getBoundingClientRect().right > width + 0.5) continue;
    culprits.push(name(el) + " to " + Math.round(box.right) + "px");
  }
  return {scroll: document.documentElement.scrollWidth, inner: width, culprits: culprits};
}"""


def horizontal_overflow(page: Page) -> str | None:
    """None when the page fits its window (``scrollWidth <= innerWidth``), else what sticks out."""
    found = page.evaluate(_OVERFLOW)
    if found["scroll"] <= found["inner"]:
        return None
    return (f"scrollWidth {found['scroll']} > innerWidth {found['inner']}: "
            + "; ".join(found["culprits"][:6]))


def outside_viewport(page: Page, selector: str) -> list[str]:
    """The visible elements matching ``selector`` that are not wholly inside the window."""
    return page.evaluate("""(selector) => {
      const out = [];
      for (const el of document.querySelectorAll(selector)) {
        const box = el.getBoundingClientRect();
        if ((!box.width && !box.height) || !el.checkVisibility()) continue;
        if (box.left < -0.5 || box.right > window.innerWidth + 0.5) {
          out.push((el.textContent || el.tagName).trim().replace(/\\s+/g, " ").slice(0, 40)
                   + " at " + Math.round(box.left) + ".." + Math.round(box.right) + "px");
        }
      }
      return out;
    }""", selector)


def head_chip(page: Page):
    """The sync chip in the workorder's heading."""
    return page.locator(".detail-head .sync-chip")


def toast(page: Page):
    return page.locator("[data-toast]")


# ---------------------------------------------------------------- data


def today_at(hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localdate(), time(hour, minute)))


@pytest.fixture
def book(spectora):
    """Book a workorder for the wired company (linked inspectors, mapped services)."""

    def create(user=None, *, address="41 Juniper Court, Springfield", client="Avery Johnson",
               when=None, inspectors=None, services=None, **values):
        inspectors = spectora.inspectors[:2] if inspectors is None else inspectors
        services = spectora.services[:2] if services is None else services
        base = {
            "scheduled_at": when or today_at(14),
            "duration_minutes": 150,
            "address": address,
            "client_name": client,
            "client_email": f"{client.split()[0].lower()}@example.com",
            "notes": "",
        }
        base.update(values)
        return workorder_create(
            company=spectora.connection.company, user=user, values=base,
            assignees=[AssigneeInput(e, i == 0) for i, e in enumerate(inspectors)],
            line_items=[LineItemInput(s) for s in services],
        )

    return create


def synced(workorder, user=None) -> SpectoraLink:
    """Sync through the worker and wait until Spectora has the job."""
    runs.sync_request(workorder, user)
    return wait_for(
        lambda: SpectoraLink.objects.filter(workorder=workorder, sync_state=SyncState.SYNCED)
        .exclude(remote_id=None).first(),
        timeout=WORKER_WAIT,
    )


def link_state(workorder) -> str | None:
    return SpectoraLink.objects.filter(workorder=workorder).values_list(
        "sync_state", flat=True).first()


def soon(days: int = 1, hour: int = 10) -> datetime:
    return today_at(hour) + timedelta(days=days)
