"""The office forms on their own: parsing, row sets and where service errors land."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import (
    AssignmentFactory,
    EmployeeFactory,
    LineItemFactory,
    ServiceFactory,
    WorkorderFactory,
)
from workorders.errors import NotAllowed, StaleVersion, ValidationFailed
from workorders.forms import (
    CancelForm,
    RescheduleForm,
    WorkorderFormGroup,
    apply_service_error,
    dollars,
)

pytestmark = pytest.mark.django_db


def rows(prefix, values: list[dict], initial=0):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(values)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(values):
        for key, value in row.items():
            data[f"{prefix}-{index}-{key}"] = value
    return data


def group_for(company, data):
    return WorkorderFormGroup(
        employees=company_employees(company), services=company_services(company), data=data
    )


def company_employees(company):
    from workorders.selectors import employee_list

    return employee_list(company)


def company_services(company):
    from workorders.selectors import service_list

    return service_list(company)


def base_data(**overrides):
    data = {
        "form_token": "t-1",
        "scheduled_at": "2030-05-14T09:30",
        "duration_minutes": "120",
        "address": "12 Elm Street",
        "client_name": "Dana",
        **rows("assignees", []),
        **rows("line_items", []),
    }
    data.update(overrides)
    return data


def test_dollars_formats_cents_for_people():
    assert dollars(45000) == "$450.00"
    assert dollars(12345678) == "$123,456.78"
    assert dollars(5) == "$0.05"
    assert dollars(None) == ""


def test_the_primary_radio_picks_the_primary_inspector(company):
    lead, helper = EmployeeFactory.create_batch(2, company=company)
    data = base_data(
        **rows("assignees", [{"employee": str(lead.pk)}, {"employee": str(helper.pk)}]),
        **{"assignees-primary": "1"},
    )

    group = group_for(company, data)

    assert group.is_valid()
    assert [(a.employee, a.primary) for a in group.assignee_inputs()] == [
        (lead, False),
        (helper, True),
    ]


def test_blank_rows_are_ignored(company):
    service = ServiceFactory(company=company)
    data = base_data(
        **rows("assignees", [{"employee": ""}, {"employee": ""}]),
        **rows(
            "line_items",
            [
                {"service": "", "price": "", "quantity": "1"},
                {"service": str(service.pk), "price": "", "quantity": "1"},
            ],
        ),
    )

    group = group_for(company, data)

    assert group.is_valid()
    assert group.assignee_inputs() == []
    [item] = group.line_item_inputs()
    assert (item.service, item.price_cents, item.quantity) == (service, None, 1)


def test_a_price_in_dollars_becomes_cents(company):
    service = ServiceFactory(company=company)
    data = base_data(
        **rows("line_items", [{"service": str(service.pk), "price": "19.99", "quantity": "3"}])
    )

    group = group_for(company, data)

    assert group.is_valid()
    [item] = group.line_item_inputs()
    assert (item.price_cents, item.quantity) == (1999, 3)


def test_a_price_without_a_service_is_explained(company):
    ServiceFactory(company=company)
    data = base_data(**rows("line_items", [{"service": "", "price": "10", "quantity": "1"}]))

    group = group_for(company, data)

    assert not group.is_valid()
    assert group.line_items.forms[0].errors["service"] == [
        "Choose a service for this price, or clear the price."
    ]


def test_inactive_catalogue_entries_are_offered_only_when_already_used(company):
    retired = EmployeeFactory(company=company, name="Retired Rita", active=False)
    EmployeeFactory(company=company, name="Gone Gary", active=False)
    workorder = WorkorderFactory(company=company)
    AssignmentFactory(workorder=workorder, employee=retired)
    LineItemFactory(workorder=workorder)

    group = WorkorderFormGroup(
        employees=company_employees(company),
        services=company_services(company),
        workorder=workorder,
    )

    names = [e.name for e in group.catalogue.employees]
    assert "Retired Rita" in names
    assert "Gone Gary" not in names
    assert group.form.initial["version"] == workorder.version
    assert group.line_items.forms[0].initial["price"] == Decimal("450.00")


def test_the_datetime_local_value_is_read_in_the_site_time_zone(settings):
    settings.TIME_ZONE = "America/Los_Angeles"
    form = RescheduleForm(
        {"scheduled_at": "2030-01-10T08:00", "duration_minutes": "60", "version": "1"}
    )

    assert form.is_valid(), form.errors
    local = timezone.localtime(form.cleaned_data["scheduled_at"])
    assert local.replace(tzinfo=None) == datetime(2030, 1, 10, 8, 0)
    assert local.utcoffset().total_seconds() == -8 * 3600


def test_an_untouched_time_keeps_its_seconds():
    stored = timezone.now().replace(second=42, microsecond=7)
    shown = timezone.localtime(stored).strftime("%Y-%m-%dT%H:%M")
    form = RescheduleForm(
        {"scheduled_at": shown, "duration_minutes": "60", "version": "1"},
        initial={"scheduled_at": stored},
    )

    assert form.is_valid()
    assert form.cleaned_data["scheduled_at"] == stored


def test_the_duration_must_be_sensible():
    form = RescheduleForm(
        {"scheduled_at": "2030-01-10T08:00", "duration_minutes": "2000", "version": "1"}
    )

    assert form.errors["duration_minutes"] == ["Duration must be at most 24 hours (1440 minutes)."]


def test_a_cancel_needs_a_reason():
    assert CancelForm({"reason": "  "}).errors["reason"]
    assert CancelForm({"reason": "Buyer walked away"}).is_valid()


@pytest.mark.parametrize(
    "error",
    [
        StaleVersion("Someone else saved WO-1 while you were editing it."),
        NotAllowed("This workorder is cancelled."),
        ValidationFailed("Check it.", fields={"mystery": ["Something odd."]}),
    ],
)
def test_refusals_without_a_matching_field_become_non_field_errors(error):
    form = CancelForm({"reason": "x"})
    form.is_valid()

    apply_service_error(form, error)

    assert form.non_field_errors()
    assert form.non_field_errors()[0] in (error.message, "Something odd.")


def test_a_field_refusal_lands_on_its_field():
    form = CancelForm({"reason": "x"})
    form.is_valid()

    apply_service_error(form, ValidationFailed("No.", fields={"reason": ["Enter a reason."]}))

    assert form.errors["reason"] == ["Enter a reason."]
