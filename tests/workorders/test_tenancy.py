"""One company never sees or touches another's rows: API and admin."""

import pytest
from rest_framework.test import APIClient

from tests.factories import (
    AssignmentFactory,
    EmployeeFactory,
    LineItemFactory,
    ReportTypeFactory,
    ServiceFactory,
    WorkorderFactory,
    member,
)
from workorders.models import ActivityEvent, Role, Workorder

pytestmark = pytest.mark.django_db


@pytest.fixture
def theirs(other_company):
    wo = WorkorderFactory(company=other_company, notes="their secret notes")
    AssignmentFactory(workorder=wo)
    LineItemFactory(workorder=wo)
    ActivityEvent.objects.create(company=other_company, workorder=wo, verb="x", message="theirs")
    return {
        "workorder": wo,
        "employee": EmployeeFactory(company=other_company),
        "service": ServiceFactory(company=other_company),
        "report_type": ReportTypeFactory(company=other_company),
    }


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OFFICE_STAFF, Role.SCHEDULER])
def test_the_api_hides_other_companies_rows(company, theirs, role):
    client = APIClient()
    client.force_authenticate(member(company, role))
    wo = theirs["workorder"]
    for url in (
        "/api/v1/workorders/", "/api/v1/employees/", "/api/v1/services/",
        "/api/v1/report-types/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert response.json()["count"] == 0, url
    for url in (
        f"/api/v1/workorders/{wo.pk}/",
        f"/api/v1/employees/{theirs['employee'].pk}/",
        f"/api/v1/services/{theirs['service'].pk}/",
        f"/api/v1/report-types/{theirs['report_type'].pk}/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.patch(f"/api/v1/workorders/{wo.pk}/", {"notes": "mine"}, format="json"
                        ).status_code in (403, 404)
    assert client.post(f"/api/v1/workorders/{wo.pk}/confirm/").status_code in (403, 404)
    assert client.post(f"/api/v1/workorders/{wo.pk}/cancel/", {"reason": "x"}, format="json"
                       ).status_code in (403, 404)
    wo.refresh_from_db()
    assert (wo.notes, wo.status, wo.version) == ("their secret notes", "unconfirmed", 1)


ADMIN_MODELS = [
    ("workorders", "workorder", "workorder"),
    ("workorders", "employee", "employee"),
    ("workorders", "service", "service"),
    ("workorders", "reporttype", "report_type"),
]


@pytest.mark.parametrize("app,model,key", ADMIN_MODELS)
def test_the_admin_hides_other_companies_rows(client, company, theirs, app, model, key):
    admin = member(company, Role.ADMIN)
    client.force_login(admin)
    obj = theirs[key]
    changelist = client.get(f"/admin/{app}/{model}/")
    assert changelist.status_code == 200
    assert str(obj).encode() not in changelist.content
    assert client.get(f"/admin/{app}/{model}/{obj.pk}/change/").status_code in (302, 404)
    assert client.post(f"/admin/{app}/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code in (
        302, 403, 404,
    )
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_the_admin_offers_only_own_company_choices(client, company, other_company):
    admin = member(company, Role.ADMIN)
    mine = ReportTypeFactory(company=company, name="Mine Report")
    ReportTypeFactory(company=other_company, name="Their Report")
    service = ServiceFactory(company=company)
    client.force_login(admin)
    page = client.get(f"/admin/workorders/service/{service.pk}/change/")
    assert page.status_code == 200
    assert mine.name.encode() in page.content
    assert b"Their Report" not in page.content


def test_the_admin_activity_log_is_company_scoped(client, company, theirs):
    client.force_login(member(company, Role.ADMIN))
    page = client.get("/admin/workorders/activityevent/")
    assert page.status_code == 200
    assert b"theirs" not in page.content


@pytest.mark.parametrize("role", [Role.OFFICE_STAFF, Role.SCHEDULER])
def test_only_company_admins_get_into_the_admin(client, company, role):
    user = member(company, role)
    user.is_staff = True  # even if someone flips the flag, the role decides
    user.save()
    client.force_login(user)
    assert client.get("/admin/workorders/workorder/").status_code == 403


def test_a_company_admin_cannot_manage_companies_or_users(client, company):
    client.force_login(member(company, Role.ADMIN))
    assert client.get("/admin/workorders/company/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403


def test_a_company_admin_creates_rows_in_their_own_company(client, company):
    client.force_login(member(company, Role.ADMIN))
    response = client.post("/admin/workorders/employee/add/", {"name": "New Hire", "email": "",
                                                               "phone": "", "active": "on"})
    assert response.status_code == 302
    assert EmployeeFactory._meta.model.objects.get(name="New Hire").company == company
    assert Workorder.objects.count() == 0
