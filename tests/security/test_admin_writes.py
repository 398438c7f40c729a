"""The Django admin never writes a workorder around the services (pen test, item 3).

Workorders are read-only in the admin: no add, no edit, no delete. The one write it
offers is the "Cancel workorder" action, which goes through ``services.workorder_cancel``
(activity entry, Spectora cancel through the sync queue). Unique constraints the company
admin cannot see (the company is filled in for them) come back as form errors, not 500s.
"""

import pytest

from spectora_integration.models import RunKind, SyncRun
from tests.factories import (
    AssignmentFactory,
    EmployeeFactory,
    LineItemFactory,
    UserFactory,
    WorkorderFactory,
    member,
)
from tests.spectora_integration.test_sync import book, drain, only_inspection
from workorders.models import ActivityEvent, Employee, Role, Workorder, WorkorderStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]

CHANGELIST = "/admin/workorders/workorder/"


@pytest.fixture
def admin_client(client, company):
    client.force_login(member(company, Role.ADMIN))
    return client


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def change_form(workorder, **overrides):
    data = {
        "scheduled_at_0": workorder.scheduled_at.strftime("%Y-%m-%d"),
        "scheduled_at_1": workorder.scheduled_at.strftime("%H:%M:%S"),
        "duration_minutes": workorder.duration_minutes,
        "address": workorder.address,
        "client_name": workorder.client_name,
        "client_email": workorder.client_email,
        "notes": workorder.notes,
        "status": workorder.status,
        "origin": workorder.origin,
        "cancel_reason": "",
        "company": workorder.company_id,
        "assignments-TOTAL_FORMS": "0",
        "assignments-INITIAL_FORMS": "0",
        "line_items-TOTAL_FORMS": "0",
        "line_items-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("as_superuser", [False, True])
def test_the_admin_offers_no_add_workorder(client, company, as_superuser):
    user = (UserFactory(is_staff=True, is_superuser=True) if as_superuser
            else member(company, Role.ADMIN))
    client.force_login(user)
    wo = WorkorderFactory.build(company=company)
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    response = client.post(f"{CHANGELIST}add/", change_form(wo))
    assert response.status_code == 403
    assert Workorder.objects.count() == 0
    assert b'href="/admin/workorders/workorder/add/"' not in client.get(CHANGELIST).content


@pytest.mark.parametrize("as_superuser", [False, True])
def test_an_admin_edit_cannot_bypass_the_services(client, company, as_superuser):
    user = (UserFactory(is_staff=True, is_superuser=True) if as_superuser
            else member(company, Role.ADMIN))
    client.force_login(user)
    wo = WorkorderFactory(company=company, address="1 Old Road", duration_minutes=120)
    AssignmentFactory(workorder=wo, employee__company=company, primary=True)
    LineItemFactory(workorder=wo, service__company=company, quantity=1)

    response = client.post(
        f"{CHANGELIST}{wo.pk}/change/",
        change_form(wo, address="2 New Road", duration_minutes=5, status="cancelled"),
    )

    assert response.status_code == 403
    wo.refresh_from_db()
    assert (wo.address, wo.duration_minutes, wo.status, wo.version) == (
        "1 Old Road", 120, WorkorderStatus.UNCONFIRMED, 1,
    )
    assert wo.assignments.count() == 1 and wo.line_items.count() == 1


def test_the_change_page_shows_the_workorder_read_only(admin_client, company):
    wo = WorkorderFactory(company=company, address="1 Old Road")
    AssignmentFactory(workorder=wo, employee__company=company, primary=True)
    page = admin_client.get(f"{CHANGELIST}{wo.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "1 Old Road" in html
    assert 'name="address"' not in html
    assert 'name="assignments-0-employee"' not in html
    assert 'name="_save"' not in html


@pytest.mark.parametrize("as_superuser", [False, True])
def test_a_workorder_is_never_deleted_from_the_admin(client, company, as_superuser):
    user = (UserFactory(is_staff=True, is_superuser=True) if as_superuser
            else member(company, Role.ADMIN))
    client.force_login(user)
    wo = WorkorderFactory(company=company)
    assert client.post(f"{CHANGELIST}{wo.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [wo.pk],
                             "post": "yes"})
    assert Workorder.objects.filter(pk=wo.pk).exists()
    assert "delete_selected" not in client.get(CHANGELIST).content.decode()


def test_the_activity_log_cannot_be_deleted_from_the_admin(admin_client, company):
    wo = WorkorderFactory(company=company)
    event = ActivityEvent.objects.create(company=company, workorder=wo, verb="x", message="kept")
    url = f"/admin/workorders/activityevent/{event.pk}/delete/"
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert ActivityEvent.objects.filter(pk=event.pk).exists()


def test_the_cancel_action_asks_for_a_reason_first(admin_client, company):
    wo = WorkorderFactory(company=company)
    page = admin_client.post(CHANGELIST, {"action": "cancel_workorders",
                                          "_selected_action": [wo.pk]})
    assert page.status_code == 200
    assert 'name="reason"' in page.content.decode()
    wo.refresh_from_db()
    assert wo.status == WorkorderStatus.UNCONFIRMED

    blank = admin_client.post(CHANGELIST, {"action": "cancel_workorders",
                                           "_selected_action": [wo.pk], "apply": "1",
                                           "reason": "   "})
    assert blank.status_code == 200
    wo.refresh_from_db()
    assert wo.status == WorkorderStatus.UNCONFIRMED


def test_the_cancel_action_goes_through_the_service_and_cancels_in_spectora(
    client, spectora, company,
):
    admin = member(company, Role.ADMIN)
    wo = book(spectora, user=admin)
    from spectora_integration.sync import runs

    runs.sync_request(wo, admin)
    drain(wo)
    assert only_inspection(spectora)["canceled_at"] is None
    client.force_login(admin)

    response = client.post(CHANGELIST, {"action": "cancel_workorders",
                                        "_selected_action": [wo.pk], "apply": "1",
                                        "reason": "Buyer walked"})

    assert response.status_code == 302
    wo.refresh_from_db()
    assert (wo.status, wo.cancel_reason) == (WorkorderStatus.CANCELLED, "Buyer walked")
    event = ActivityEvent.objects.get(workorder=wo, verb="cancelled")
    assert event.actor == admin
    assert SyncRun.objects.filter(workorder=wo, kind=RunKind.CANCEL).exists()
    drain(wo)
    job = only_inspection(spectora)
    assert job["canceled_at"] and job["cancel_reason"] == "Buyer walked"


def test_the_cancel_action_needs_the_cancel_permission(client, company):
    wo = WorkorderFactory(company=company)
    client.force_login(UserFactory(is_staff=True))  # staff flag, no company role
    response = client.post(CHANGELIST, {"action": "cancel_workorders",
                                        "_selected_action": [wo.pk], "apply": "1",
                                        "reason": "x"})
    assert response.status_code == 403
    wo.refresh_from_db()
    assert wo.status == WorkorderStatus.UNCONFIRMED


@pytest.mark.parametrize("path", [
    "?scheduled_at__year=9999",
    "?scheduled_at__year=9999&scheduled_at__month=12",
    "?scheduled_at__year=9999&scheduled_at__month=12&scheduled_at__day=31",
    "?scheduled_at__year=1",
    "?scheduled_at__year=99999999999999999999",
])
def test_the_admin_date_filter_never_answers_500(admin_client, company, path):
    WorkorderFactory(company=company)
    response = admin_client.get(CHANGELIST + path)
    assert response.status_code in (200, 302)


def test_a_second_employee_on_a_linked_inspector_is_a_form_error(admin_client, company):
    EmployeeFactory(company=company, name="Linked", spectora_inspector_id="insp-1")
    response = admin_client.post("/admin/workorders/employee/add/", {
        "name": "Twin", "email": "", "phone": "", "active": "on",
        "spectora_inspector_id": "insp-1",
    })
    assert response.status_code == 200
    assert "already linked" in response.content.decode()
    assert not Employee.objects.filter(name="Twin").exists()


def test_relinking_an_employee_to_a_taken_inspector_is_a_form_error(admin_client, company):
    EmployeeFactory(company=company, name="Linked", spectora_inspector_id="insp-1")
    other = EmployeeFactory(company=company, name="Other", spectora_inspector_id=None)
    response = admin_client.post(f"/admin/workorders/employee/{other.pk}/change/", {
        "name": "Other", "email": "", "phone": "", "active": "on",
        "spectora_inspector_id": "insp-1",
    })
    assert response.status_code == 200
    assert "already linked" in response.content.decode()
    other.refresh_from_db()
    assert other.spectora_inspector_id is None


def test_another_companys_inspector_id_is_free_to_link(admin_client, company, other_company):
    EmployeeFactory(company=other_company, spectora_inspector_id="insp-1")
    response = admin_client.post("/admin/workorders/employee/add/", {
        "name": "Mine", "email": "", "phone": "", "active": "on",
        "spectora_inspector_id": "insp-1",
    })
    assert response.status_code == 302
    assert Employee.objects.get(name="Mine").company == company


def test_a_scoped_form_reports_a_taken_one_per_company_row_as_a_form_error(company):
    """The general scoping: a uniqueness on the hidden company field (a one-to-one, here a
    second Spectora connection) is a non-field error, not a 500 or a ValueError."""
    from django.forms import modelform_factory

    from spectora_integration.models import SpectoraConnection
    from workorders.admin_scoping import company_scoped_form

    SpectoraConnection.objects.create(company=company, base_url="https://connect.spectora.com")
    form_class = company_scoped_form(
        modelform_factory(SpectoraConnection, fields=["base_url"]), company
    )
    form = form_class(data={"base_url": "https://connect.spectora.com"})
    assert not form.is_valid()
    assert "already exists" in " ".join(form.non_field_errors())
    assert SpectoraConnection.objects.count() == 1
