"""A line's price when its service changes: the new service's price, unless a person typed one.

The bug: Radon Test ($150) changed to Termite/WDO ($95) on an existing line kept $150, because
the edit form posted the old price back as if someone had typed it, and $150 went to Spectora.
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from spectora_integration.models import RunState, SyncRun
from spectora_integration.sync import engine
from tests.factories import LineItemFactory, ServiceFactory, WorkorderFactory
from tests.workorders.test_page_actions import edit_data
from workorders.forms import WorkorderFormGroup
from workorders.selectors import employee_list, service_list
from workorders.services import LineItemInput, workorder_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def radon(company):
    return ServiceFactory(company=company, name="Radon Test", price_cents=15000)


@pytest.fixture
def termite(company):
    return ServiceFactory(company=company, name="Termite/WDO Inspection", price_cents=9500)


@pytest.fixture
def workorder(company, radon):
    workorder = WorkorderFactory(company=company)
    LineItemFactory(workorder=workorder, service=radon)  # at the catalogue price, $150
    return workorder


def edit_group(workorder, data=None):
    return WorkorderFormGroup(
        employees=employee_list(workorder.company), services=service_list(workorder.company),
        workorder=workorder, data=data,
    )


def posted_line(workorder, **row):
    """The edit form as the browser posts it, with the first line's fields replaced."""
    data = edit_data(workorder)
    data.update({f"line_items-0-{key}": value for key, value in row.items()})
    return data


def line_input(workorder, **row) -> LineItemInput:
    group = edit_group(workorder, posted_line(workorder, **row))
    assert group.is_valid(), group.line_items.errors
    [item] = group.line_item_inputs()
    return item


# -- The form -------------------------------------------------------------------------------


def test_the_edit_form_says_which_service_a_catalogue_price_came_from(company, workorder, radon):
    custom = LineItemFactory(workorder=workorder, service=radon, price_cents=12000)

    initial = {form.initial["price"]: form.initial["price_from"]
               for form in edit_group(workorder).line_items.forms if form.initial}

    assert initial == {Decimal("150.00"): str(radon.pk), Decimal("120.00"): ""}
    assert custom.price_cents == 12000


def test_a_changed_service_gets_its_own_price_when_the_old_one_stayed_in_the_box(
    workorder, radon, termite
):
    item = line_input(workorder, service=str(termite.pk), price="150.00",
                      price_from=str(radon.pk))

    assert (item.service, item.price_cents) == (termite, None)  # the services fill in $95


def test_without_price_from_the_old_service_of_the_line_decides(workorder, termite):
    """A post from a page without the field (or a script): the rule of the server alone."""
    item = line_input(workorder, service=str(termite.pk), price="150.00")

    assert (item.service, item.price_cents) == (termite, None)


def test_a_price_the_person_typed_is_kept_even_if_it_equals_the_old_price(workorder, termite):
    item = line_input(workorder, service=str(termite.pk), price="150.00", price_from="")

    assert (item.service, item.price_cents) == (termite, 15000)


def test_a_new_price_typed_with_the_new_service_is_kept(workorder, radon, termite):
    """No script: the person changed the service and the price; the price is not the old one's."""
    item = line_input(workorder, service=str(termite.pk), price="80.00",
                      price_from=str(radon.pk))

    assert item.price_cents == 8000


def test_an_unchanged_service_keeps_the_price_in_the_box(workorder, radon):
    item = line_input(workorder, service=str(radon.pk), price="150.00",
                      price_from=str(radon.pk))

    assert (item.service, item.price_cents) == (radon, 15000)


def test_a_custom_price_on_the_line_is_the_persons_and_stays(company, radon, termite):
    workorder = WorkorderFactory(company=company)
    LineItemFactory(workorder=workorder, service=radon, price_cents=12000)

    item = line_input(workorder, service=str(termite.pk), price="120.00", price_from="")

    assert item.price_cents == 12000


def test_price_from_naming_no_service_of_the_company_is_ignored(
    workorder, other_company, termite
):
    stranger = ServiceFactory(company=other_company, price_cents=15000)
    for source in [str(stranger.pk), "not-a-number"]:
        item = line_input(workorder, service=str(termite.pk), price="150.00",
                          price_from=source)
        assert item.price_cents == 15000, source


# -- The page and the services --------------------------------------------------------------


def test_changing_the_service_on_the_edit_page_stores_the_new_services_price(
    office_client, workorder, radon, termite
):
    response = office_client.post(
        reverse("workorders:edit", args=[workorder.pk]),
        posted_line(workorder, service=str(termite.pk), price_from=str(radon.pk)),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    [line] = workorder.line_items.all()
    assert (line.service, line.price_cents) == (termite, 9500)


def test_the_services_price_a_line_from_its_service_and_keep_a_given_price(
    office_user, workorder, termite
):
    """The API's rule stays: an explicit price_cents is the caller's."""
    workorder_update(workorder, user=office_user, values={}, expected_version=None,
                     line_items=[LineItemInput(termite)])
    assert list(workorder.line_items.values_list("price_cents", flat=True)) == [9500]

    workorder.refresh_from_db()
    workorder_update(workorder, user=office_user, values={}, expected_version=None,
                     line_items=[LineItemInput(termite, 15000)])
    assert list(workorder.line_items.values_list("price_cents", flat=True)) == [15000]


@pytest.mark.usefixtures("queued", "no_auto_sync_on_booking")
def test_spectora_gets_the_new_services_price(office_client, spectora):
    """The whole way: a synced job, the service changed on the page, the sync sends $95."""
    company = spectora.connection.company
    old, new = spectora.services[:2]
    old.price_cents, new.price_cents = 15000, 9500
    old.save()
    new.save()
    workorder = WorkorderFactory(company=company)
    workorder.assignments.create(employee=spectora.inspectors[0], primary=True)
    LineItemFactory(workorder=workorder, service=old)

    def sync():
        from spectora_integration.sync import runs

        runs.sync_request(workorder, None)
        for run in SyncRun.objects.filter(workorder=workorder, state=RunState.QUEUED):
            engine.sync_execute(run.pk)

    sync()
    assert [li["price_cents"] for li in spectora.state()[0]["line_items"]] == [15000]

    workorder.refresh_from_db()
    response = office_client.post(
        reverse("workorders:edit", args=[workorder.pk]),
        posted_line(workorder, service=str(new.pk), price_from=str(old.pk)),
    )
    assert response.status_code == 302
    sync()

    [line] = spectora.state()[0]["line_items"]
    assert (line["service_id"], line["price_cents"]) == (new.spectora_service_id, 9500)
