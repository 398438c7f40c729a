"""Prices in the workorder form: picking a service fills its price unless the person typed one,
and the price saved is the one Spectora gets."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import WORKER_WAIT, login, synced, toast
from tests.worker import wait_for
from workorders.models import Workorder

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def catalogue(spectora):
    """Radon Test $150 and Termite/WDO $95, both mapped to Spectora services."""
    radon, termite = spectora.services[1:3]
    for service, name, cents in [(radon, "Radon Test", 15000), (termite, "Termite/WDO", 9500)]:
        service.name, service.price_cents = name, cents
        service.save()
    return radon, termite


def prices(workorder) -> list[tuple[str, int]]:
    return sorted(Workorder.objects.get(pk=workorder.pk).line_items
                  .values_list("service__name", "price_cents"))


def test_changing_the_service_of_a_line_changes_its_price_and_spectoras(
    celery_worker_process, page, spectora, office_user, book, catalogue
):
    radon, termite = catalogue
    workorder = book(services=[radon])
    link = synced(workorder)

    login(page, office_user)
    page.goto(f"/workorders/{workorder.pk}/edit/")
    price = page.locator("input[name='line_items-0-price']")
    expect(price).to_have_value("150.00")
    page.locator("select[name='line_items-0-service']").select_option(str(termite.pk))
    expect(price).to_have_value("95.00")
    page.get_by_role("button", name="Save changes").click()

    expect(toast(page)).to_contain_text(f"Saved your changes to {workorder}")
    assert prices(workorder) == [("Termite/WDO", 9500)]
    wait_for(lambda: [(li["service_id"], li["price_cents"])
                      for job in spectora.state() if job["id"] == link.remote_id
                      for li in job["line_items"]] == [(termite.spectora_service_id, 9500)],
             timeout=WORKER_WAIT)


@pytest.mark.usefixtures("no_auto_sync_on_booking")
def test_a_price_the_person_typed_stays_when_the_service_changes(
    page, spectora, office_user, book, catalogue
):
    radon, termite = catalogue
    workorder = book(services=[radon])

    login(page, office_user)
    page.goto(f"/workorders/{workorder.pk}/edit/")
    # The existing line: Termite fills $95; the person types $150 (Radon's price) over it.
    page.locator("select[name='line_items-0-service']").select_option(str(termite.pk))
    page.locator("input[name='line_items-0-price']").fill("150")
    # A new line: picking Radon fills $150; the person types $120, then picks Termite.
    new_price = page.locator("input[name='line_items-1-price']")
    page.locator("select[name='line_items-1-service']").select_option(str(radon.pk))
    expect(new_price).to_have_value("150.00")
    new_price.fill("120")
    page.locator("select[name='line_items-1-service']").select_option(str(termite.pk))
    expect(new_price).to_have_value("120")
    page.get_by_role("button", name="Save changes").click()

    expect(toast(page)).to_contain_text(f"Saved your changes to {workorder}")
    assert prices(workorder) == [("Termite/WDO", 12000), ("Termite/WDO", 15000)]
