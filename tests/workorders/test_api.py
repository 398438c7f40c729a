from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import (
    PASSWORD,
    AssignmentFactory,
    EmployeeFactory,
    LineItemFactory,
    ServiceFactory,
    UserFactory,
    WorkorderFactory,
)
from workorders.models import Origin, Workorder, WorkorderStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(office_user):
    client = APIClient()
    client.force_authenticate(office_user)
    return client


def payload(company, **overrides):
    employee = EmployeeFactory(company=company)
    service = ServiceFactory(company=company, price_cents=40000)
    body = {
        "scheduled_at": (timezone.now() + timedelta(days=2)).isoformat(),
        "duration_minutes": 150,
        "address": "1 Oak St",
        "client_name": "Casey Nguyen",
        "client_email": "casey@example.com",
        "assignees": [{"employee": employee.pk, "primary": True}],
        "line_items": [{"service": service.pk, "quantity": 1}],
    }
    body.update(overrides)
    return body


def test_it_issues_a_token_for_good_credentials(office_user):
    client = APIClient()
    bad = client.post("/api/v1/auth/token/", {"username": office_user.username, "password": "x"})
    assert bad.status_code == 400
    good = client.post(
        "/api/v1/auth/token/", {"username": office_user.username, "password": PASSWORD}
    )
    assert good.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {good.json()['token']}")
    assert client.get("/api/v1/workorders/").status_code == 200


def test_it_requires_authentication():
    assert APIClient().get("/api/v1/workorders/").status_code in (401, 403)


def test_a_user_without_a_company_is_refused():
    client = APIClient()
    client.force_authenticate(UserFactory())
    assert client.get("/api/v1/workorders/").status_code == 403


def test_it_creates_a_workorder_with_assignees_and_line_items(api, company):
    body = payload(company)
    response = api.post("/api/v1/workorders/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "unconfirmed"
    assert data["origin"] == "attik"
    assert data["assignees"] == body["assignees"]
    assert data["line_items"] == [
        {"service": body["line_items"][0]["service"], "price_cents": 40000, "quantity": 1}
    ]
    assert data["spectora"] == {
        "linked": False, "remote_id": None, "url": None, "sync_state": "never",
        "last_synced_at": None, "last_error": None,
    }


def test_it_answers_field_errors_and_saves_nothing(api, company):
    response = api.post(
        "/api/v1/workorders/",
        payload(company, address="", duration_minutes=-5, line_items=[{"service": 999999}]),
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()
    assert {"address", "duration_minutes", "line_items"} <= set(errors)
    assert Workorder.objects.count() == 0


def test_it_refuses_another_companys_employee_in_a_payload(api, company, other_company):
    foreign = EmployeeFactory(company=other_company)
    response = api.post(
        "/api/v1/workorders/",
        payload(company, assignees=[{"employee": foreign.pk, "primary": True}]),
        format="json",
    )
    assert response.status_code == 400
    assert "assignees" in response.json()


def test_an_idempotency_key_makes_one_workorder(api, company):
    body = payload(company)
    first = api.post("/api/v1/workorders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = api.post("/api/v1/workorders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.json()["id"] == second.json()["id"]
    assert Workorder.objects.count() == 1


def test_it_patches_with_a_version_and_refuses_a_stale_one(api, company):
    wo = WorkorderFactory(company=company)
    ok = api.patch(f"/api/v1/workorders/{wo.pk}/", {"notes": "gate code 4411", "version": 1},
                   format="json")
    assert ok.status_code == 200
    assert ok.json()["version"] == 2
    stale = api.patch(f"/api/v1/workorders/{wo.pk}/", {"notes": "x", "version": 1}, format="json")
    assert stale.status_code == 409
    assert stale.json()["code"] == "stale_version"
    wo.refresh_from_db()
    assert wo.notes == "gate code 4411"


def test_it_filters_by_search_status_and_origin(api, company):
    a = WorkorderFactory(company=company, client_name="Harper Diaz")
    WorkorderFactory(company=company, status=WorkorderStatus.CONFIRMED)
    WorkorderFactory(company=company, origin=Origin.SPECTORA)

    def ids(query):
        response = api.get(f"/api/v1/workorders/?{query}")
        assert response.status_code == 200
        return {row["number"] for row in response.json()["results"]}

    assert ids("search=harper") == {a.number}
    assert ids(f"search=WO-{a.number}") == {a.number}
    assert len(ids("status=confirmed")) == 1
    assert len(ids("origin=spectora")) == 1
    assert api.get("/api/v1/workorders/?status=bogus").status_code == 400


def test_it_pages_up_to_500(api, company):
    WorkorderFactory.create_batch(3, company=company)
    data = api.get("/api/v1/workorders/?page_size=2").json()
    assert data["count"] == 3
    assert len(data["results"]) == 2
    assert data["next"]


def test_confirm_and_cancel(api, company):
    wo = WorkorderFactory(company=company)
    assert api.post(f"/api/v1/workorders/{wo.pk}/confirm/").json()["status"] == "confirmed"
    assert api.post(f"/api/v1/workorders/{wo.pk}/cancel/", {}, format="json").status_code == 400
    response = api.post(f"/api/v1/workorders/{wo.pk}/cancel/", {"reason": "Sold"}, format="json")
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_reason"] == "Sold"


def test_a_scheduler_cannot_create_or_cancel(company, scheduler_user):
    client = APIClient()
    client.force_authenticate(scheduler_user)
    wo = WorkorderFactory(company=company)
    assert client.post("/api/v1/workorders/", payload(company), format="json").status_code == 403
    assert client.post(
        f"/api/v1/workorders/{wo.pk}/cancel/", {"reason": "x"}, format="json"
    ).status_code == 403
    assert client.patch(
        f"/api/v1/workorders/{wo.pk}/", {"notes": "ok"}, format="json"
    ).status_code == 200


def test_the_catalogue_shows_spectora_mappings(api, company, other_company):
    EmployeeFactory(company=company, spectora_inspector_id="insp-1")
    EmployeeFactory(company=company)
    EmployeeFactory(company=other_company)
    ServiceFactory(company=company, spectora_service_id="svc-1")
    employees = api.get("/api/v1/employees/").json()["results"]
    assert sorted(e["spectora_inspector_id"] or "" for e in employees) == ["", "insp-1"]
    services = api.get("/api/v1/services/").json()["results"]
    assert [s["spectora_service_id"] for s in services] == ["svc-1"]
    assert {"kind", "price_cents", "report_types"} <= set(services[0])
    assert api.get("/api/v1/report-types/").status_code == 200


def test_the_list_costs_the_same_queries_for_10_or_500(api, company, django_assert_max_num_queries):
    def fill(n):
        for wo in WorkorderFactory.create_batch(n, company=company):
            AssignmentFactory(workorder=wo)
            LineItemFactory(workorder=wo)

    fill(10)
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/v1/workorders/?page_size=500").json()["results"]) == 10
    fill(490)
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/v1/workorders/?page_size=500").json()["results"]) == 500


def test_the_openapi_schema_is_served(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/workorders/" in response.content
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


@pytest.mark.parametrize("page", ["1e999", "-1", "0", "abc", "9" * 30, "1.5"])
def test_a_page_number_that_is_not_a_sane_positive_integer_is_a_404(api, company, page):
    WorkorderFactory(company=company)
    response = api.get("/api/v1/workorders/", {"page": page})
    assert response.status_code == 404
