"""One set of bounds (``workorders.services``) for the form, the API and the services (pen
test, item 5): out-of-range numbers, dates and sizes are a 400 naming the field (a form
error on the pages), never a 500, and nothing is saved."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import EmployeeFactory, ServiceFactory, WorkorderFactory
from workorders import services
from workorders.errors import ValidationFailed
from workorders.models import ActivityEvent, LineItem, Workorder
from workorders.services import AssigneeInput, LineItemInput, workorder_create, workorder_update

pytestmark = pytest.mark.django_db

HUGE = 2**63


@pytest.fixture
def api(office_user):
    client = APIClient()
    client.force_authenticate(office_user)
    return client


@pytest.fixture
def catalogue(company):
    return {
        "employees": EmployeeFactory.create_batch(11, company=company),
        "service": ServiceFactory(company=company, price_cents=40000),
    }


def body(catalogue, **overrides):
    data = {
        "scheduled_at": (timezone.now() + timedelta(days=2)).isoformat(),
        "duration_minutes": 120,
        "address": "1 Oak St",
        "client_name": "Casey Nguyen",
        "client_email": "casey@example.com",
        "assignees": [{"employee": catalogue["employees"][0].pk, "primary": True}],
        "line_items": [{"service": catalogue["service"].pk, "quantity": 1}],
    }
    data.update(overrides)
    return data


def line(catalogue, **fields):
    return [{"service": catalogue["service"].pk, "quantity": 1, **fields}]


def local(year, month, day, hour=12, minute=0):
    return datetime(year, month, day, hour, minute).isoformat()  # naive: the site's time zone


OUT_OF_BOUNDS = {
    "quantity 2^63": ("line_items", lambda c: {"line_items": line(c, quantity=HUGE)}),
    "quantity 10^12": ("line_items", lambda c: {"line_items": line(c, quantity=10**12)}),
    "quantity 100": ("line_items", lambda c: {"line_items": line(c, quantity=100)}),
    "quantity 0": ("line_items", lambda c: {"line_items": line(c, quantity=0)}),
    "price 2^63": ("line_items", lambda c: {"line_items": line(c, price_cents=HUGE)}),
    "price 10^12 cents": ("line_items", lambda c: {"line_items": line(c, price_cents=10**12)}),
    "price $100,000.00": ("line_items", lambda c: {"line_items": line(c, price_cents=10**7)}),
    "5,000 line items": ("line_items", lambda c: {"line_items": line(c) * 5000}),
    "31 line items": ("line_items", lambda c: {"line_items": line(c) * 31}),
    "11 assignees": ("assignees", lambda c: {"assignees": [
        {"employee": e.pk, "primary": i == 0} for i, e in enumerate(c["employees"])
    ]}),
    "2,000,000-character notes": ("notes", lambda c: {"notes": "n" * 2_000_000}),
    "5,001-character notes": ("notes", lambda c: {"notes": "n" * 5001}),
    "301-character address": ("address", lambda c: {"address": "a" * 301}),
    "201-character client name": ("client_name", lambda c: {"client_name": "c" * 201}),
    "year 9999": ("scheduled_at", lambda c: {"scheduled_at": local(9999, 12, 31, 23, 59)}),
    "year 0001": ("scheduled_at", lambda c: {"scheduled_at": "0001-01-01T00:00:00Z"}),
    "1999-12-31": ("scheduled_at", lambda c: {"scheduled_at": local(1999, 12, 31)}),
    "2101-01-01": ("scheduled_at", lambda c: {"scheduled_at": local(2101, 1, 1, 0, 0)}),
    "5-minute duration": ("duration_minutes", lambda c: {"duration_minutes": 5}),
    "duration 2^63": ("duration_minutes", lambda c: {"duration_minutes": HUGE}),
}


@pytest.mark.parametrize("case", sorted(OUT_OF_BOUNDS))
def test_the_api_create_refuses_out_of_bounds_values(api, catalogue, case):
    field, overrides = OUT_OF_BOUNDS[case]
    response = api.post("/api/v1/workorders/", body(catalogue, **overrides(catalogue)),
                        format="json")
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()
    assert Workorder.objects.count() == 0 and LineItem.objects.count() == 0


@pytest.mark.parametrize("case", sorted(OUT_OF_BOUNDS))
def test_the_api_patch_refuses_out_of_bounds_values(api, company, catalogue, case):
    wo = WorkorderFactory(company=company, notes="before")
    field, overrides = OUT_OF_BOUNDS[case]
    response = api.patch(f"/api/v1/workorders/{wo.pk}/", overrides(catalogue), format="json")
    assert response.status_code == 400, response.content[:300]
    assert field in response.json()
    wo.refresh_from_db()
    assert (wo.version, wo.notes) == (1, "before")
    assert not ActivityEvent.objects.filter(workorder=wo).exists()


@pytest.mark.parametrize("case", [
    {"scheduled_at": local(2000, 1, 1, 0, 0)},
    {"scheduled_at": local(2100, 12, 31, 23, 59)},
    {"notes": "n" * 5000, "address": "a" * 300, "client_name": "c" * 200},
    {"duration_minutes": 15},
    {"duration_minutes": 1440},
    {"line_items": "max"},
], ids=["first day", "last day", "longest text", "shortest", "longest", "30 items at max"])
def test_the_api_accepts_values_on_the_bounds(api, catalogue, case):
    if case.get("line_items") == "max":
        case = {"line_items": line(catalogue, quantity=99, price_cents=9_999_999) * 30}
    response = api.post("/api/v1/workorders/", body(catalogue, **case), format="json")
    assert response.status_code == 201, response.content[:300]


def service_values(**overrides):
    values = {
        "scheduled_at": timezone.now() + timedelta(days=2),
        "duration_minutes": 120,
        "address": "1 Oak St",
        "client_name": "Casey Nguyen",
        "client_email": "",
        "notes": "",
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize("overrides,field", [
    ({"scheduled_at": datetime(1, 1, 1, tzinfo=UTC)}, "scheduled_at"),
    ({"scheduled_at": datetime(9999, 12, 31, 23, 59, tzinfo=UTC)}, "scheduled_at"),
    ({"scheduled_at": datetime(2030, 1, 1, 9)}, "scheduled_at"),  # naive
    ({"duration_minutes": 5}, "duration_minutes"),
    ({"duration_minutes": True}, "duration_minutes"),
    ({"notes": "n" * 5001}, "notes"),
    ({"client_email": "not an email"}, "client_email"),
    ({"client_email": "a" * 250 + "@example.com"}, "client_email"),
])
def test_the_services_hold_the_bounds_for_every_caller(company, office_user, overrides, field):
    with pytest.raises(ValidationFailed) as refused:
        workorder_create(company=company, user=office_user, values=service_values(**overrides))
    assert field in refused.value.fields
    wo = WorkorderFactory(company=company)
    with pytest.raises(ValidationFailed) as refused:
        workorder_update(wo, user=office_user, values=overrides, expected_version=None)
    assert field in refused.value.fields
    assert Workorder.objects.count() == 1


def test_a_catalogue_price_over_the_bound_is_refused_too(company, office_user):
    pricey = ServiceFactory(company=company, price_cents=services.PRICE_CENTS_MAX + 1)
    with pytest.raises(ValidationFailed) as refused:
        workorder_create(company=company, user=office_user, values=service_values(),
                         line_items=[LineItemInput(pricey)])
    assert "line_items" in refused.value.fields
    ok = workorder_create(company=company, user=office_user, values=service_values(),
                          line_items=[LineItemInput(pricey, price_cents=9_999_999, quantity=99)])
    assert ok.line_items.get().price_cents == 9_999_999


def test_the_service_refuses_too_many_rows(company, office_user):
    employees = EmployeeFactory.create_batch(services.ASSIGNEES_MAX + 1, company=company)
    service = ServiceFactory(company=company)
    with pytest.raises(ValidationFailed) as refused:
        workorder_create(company=company, user=office_user, values=service_values(),
                         assignees=[AssigneeInput(e) for e in employees])
    assert "assignees" in refused.value.fields
    with pytest.raises(ValidationFailed) as refused:
        workorder_create(company=company, user=office_user, values=service_values(),
                         line_items=[LineItemInput(service)] * (services.LINE_ITEMS_MAX + 1))
    assert "line_items" in refused.value.fields
    assert Workorder.objects.count() == 0


# -- The create form --------------------------------------------------------------------------


def rows(prefix, values):
    data = {f"{prefix}-TOTAL_FORMS": str(len(values)), f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    for index, row in enumerate(values):
        for key, value in row.items():
            data[f"{prefix}-{index}-{key}"] = value
    return data


def form_data(catalogue, line_rows=None, **overrides):
    data = {
        "form_token": "bounds-1",
        "scheduled_at": "2030-05-14T09:30",
        "duration_minutes": "120",
        "address": "12 Elm Street",
        "client_name": "Dana Whitfield",
        "client_email": "",
        "notes": "",
        **rows("assignees", [{"employee": str(catalogue["employees"][0].pk)}]),
        **rows("line_items", line_rows or [
            {"service": str(catalogue["service"].pk), "price": "", "quantity": "1"},
        ]),
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("overrides,field", [
    ({"scheduled_at": "9999-12-31T23:59"}, "scheduled_at"),
    ({"scheduled_at": "0001-01-01T00:00"}, "scheduled_at"),
    ({"scheduled_at": "2101-01-01T00:00"}, "scheduled_at"),
    ({"notes": "n" * 5001}, "notes"),
    ({"duration_minutes": "5"}, "duration_minutes"),
    ({"duration_minutes": str(HUGE)}, "duration_minutes"),
], ids=["year 9999", "year 0001", "2101", "notes", "5 minutes", "duration 2^63"])
def test_the_create_form_shows_out_of_bounds_values_as_field_errors(
    office_client, catalogue, overrides, field,
):
    response = office_client.post(reverse("workorders:create"), form_data(catalogue, **overrides))
    assert response.status_code == 200
    assert response.context["group"].form.errors[field]
    assert Workorder.objects.count() == 0


@pytest.mark.parametrize("row,error", [
    ({"quantity": str(HUGE)}, "at most 99"),
    ({"price": str(HUGE)}, "at most $99,999.99"),
    ({"price": "100000.00"}, "at most $99,999.99"),
])
def test_the_create_form_refuses_huge_numbers_on_the_row(office_client, catalogue, row, error):
    line_rows = [{"service": str(catalogue["service"].pk), "price": "", "quantity": "1", **row}]
    response = office_client.post(reverse("workorders:create"),
                                  form_data(catalogue, line_rows=line_rows))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert Workorder.objects.count() == 0


def test_the_create_form_refuses_more_filled_rows_than_the_bound(office_client, catalogue):
    filled = {"service": str(catalogue["service"].pk), "price": "", "quantity": "1"}
    blank = {"service": "", "price": "", "quantity": "1"}
    too_many = office_client.post(reverse("workorders:create"), form_data(
        catalogue, line_rows=[filled] * (services.LINE_ITEMS_MAX + 1)))
    assert too_many.status_code == 200
    assert f"at most {services.LINE_ITEMS_MAX} services" in too_many.content.decode()
    assert Workorder.objects.count() == 0
    # Blank (removed) rows do not count against the bound.
    ok = office_client.post(reverse("workorders:create"), form_data(
        catalogue, line_rows=[filled] * services.LINE_ITEMS_MAX + [blank] * 3))
    assert ok.status_code == 302
    assert Workorder.objects.get().line_items.count() == services.LINE_ITEMS_MAX


def test_the_form_and_the_api_read_the_bounds_from_the_services():
    from workorders.forms import LineItemForm, WorkorderForm, duration_field
    from workorders.serializers import LineItemSerializer, WorkorderSerializer

    assert duration_field().max_value == services.DURATION_MAX
    assert WorkorderForm.base_fields["notes"].max_length == services.NOTES_MAX_LENGTH
    assert LineItemForm.base_fields["quantity"].max_value == services.QUANTITY_MAX
    serializer = WorkorderSerializer()
    assert serializer.fields["notes"].max_length == services.NOTES_MAX_LENGTH
    assert serializer.fields["line_items"].max_length == services.LINE_ITEMS_MAX
    assert LineItemSerializer().fields["price_cents"].max_value == services.PRICE_CENTS_MAX


def test_too_many_rows_are_refused_before_they_are_looked_up(
    api, catalogue, django_assert_max_num_queries,
):
    data = body(catalogue, line_items=line(catalogue) * 5000,
                assignees=[{"employee": catalogue["employees"][0].pk}] * 5000)
    with django_assert_max_num_queries(10):
        response = api.post("/api/v1/workorders/", data, format="json")
    assert response.status_code == 400
    assert {"line_items", "assignees"} <= set(response.json())


@pytest.mark.parametrize("url", ["/api/v1/auth/token/", "/api/v1/workorders/"])
def test_a_json_body_nested_past_the_recursion_limit_is_a_400(api, url):
    """Found from outside: 1,000 nested brackets answered 500, even before signing in."""
    body = "[" * 100_000 + "]" * 100_000
    response = api.post(url, data=body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
