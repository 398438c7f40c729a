"""Office pages that change things: create, edit, reschedule, confirm, cancel."""

from datetime import UTC, datetime

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from tests.factories import (
    AssignmentFactory,
    EmployeeFactory,
    LineItemFactory,
    ServiceFactory,
    WorkorderFactory,
)
from workorders.models import ActivityEvent, Origin, Workorder, WorkorderStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def inspectors(company):
    return EmployeeFactory(company=company, name="Ann Lead"), EmployeeFactory(
        company=company, name="Bo Helper"
    )


@pytest.fixture
def services(company):
    return ServiceFactory(company=company, name="Full home", price_cents=45000), ServiceFactory(
        company=company, name="Radon", kind="add_on", price_cents=12500
    )


def management(prefix, total, initial=0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def create_data(inspectors, services, **overrides):
    lead, helper = inspectors
    full, radon = services
    data = {
        "form_token": "token-abc",
        "scheduled_at": "2030-05-14T09:30",
        "duration_minutes": "150",
        "address": "12 Elm Street",
        "client_name": "Dana Whitfield",
        "client_email": "dana@example.com",
        "notes": "Gate code 4411",
        **management("assignees", 3),
        "assignees-0-employee": str(lead.pk),
        "assignees-1-employee": str(helper.pk),
        "assignees-2-employee": "",
        "assignees-primary": "1",
        **management("line_items", 3),
        "line_items-0-service": str(full.pk),
        "line_items-0-price": "",
        "line_items-0-quantity": "1",
        "line_items-1-service": str(radon.pk),
        "line_items-1-price": "99.50",
        "line_items-1-quantity": "2",
        "line_items-2-service": "",
        "line_items-2-price": "",
        "line_items-2-quantity": "1",
    }
    data.update(overrides)
    return data


def edit_data(workorder, **overrides):
    local = timezone.localtime(workorder.scheduled_at)
    assignments = list(workorder.assignments.all())
    items = list(workorder.line_items.all())
    data = {
        "version": str(workorder.version),
        "scheduled_at": local.strftime("%Y-%m-%dT%H:%M"),
        "duration_minutes": str(workorder.duration_minutes),
        "address": workorder.address,
        "client_name": workorder.client_name,
        "client_email": workorder.client_email,
        "notes": workorder.notes,
        **management("assignees", len(assignments), len(assignments)),
        "assignees-primary": "0",
        **management("line_items", len(items), len(items)),
    }
    for index, assignment in enumerate(assignments):
        data[f"assignees-{index}-employee"] = str(assignment.employee_id)
    for index, item in enumerate(items):
        data[f"line_items-{index}-service"] = str(item.service_id)
        data[f"line_items-{index}-price"] = f"{item.price_cents / 100:.2f}"
        data[f"line_items-{index}-quantity"] = str(item.quantity)
    data.update(overrides)
    return data


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def workorder(company):
    workorder = WorkorderFactory(company=company, address="1 Oak Road", client_name="Lee Park")
    AssignmentFactory(workorder=workorder, primary=True)
    LineItemFactory(workorder=workorder, price_cents=30000)
    return workorder


# -- Create ---------------------------------------------------------------------------------


def test_the_create_form_carries_a_fresh_form_token(office_client, inspectors, services):
    first = office_client.get(reverse("workorders:create")).context["group"].form
    second = office_client.get(reverse("workorders:create")).context["group"].form

    assert first["form_token"].value()
    assert first["form_token"].value() != second["form_token"].value()
    html = office_client.get(reverse("workorders:create")).content.decode()
    assert 'type="datetime-local"' in html
    assert 'name="form_token"' in html
    assert 'data-price="450.00"' in html


def test_it_books_a_workorder_and_lands_on_its_page(
    office_client, company, office_user, inspectors, services
):
    response = office_client.post(reverse("workorders:create"), create_data(inspectors, services))

    workorder = Workorder.objects.get(company=company)
    assert response.status_code == 302
    assert response.url == reverse("workorders:detail", args=[workorder.pk])
    assert messages_of(response) == [f"Booked {workorder} for Dana Whitfield."]
    assert timezone.localtime(workorder.scheduled_at).replace(tzinfo=None) == datetime(
        2030, 5, 14, 9, 30
    )
    assert workorder.duration_minutes == 150
    assert workorder.created_by == office_user
    assert workorder.form_token == "token-abc"
    assignments = {(a.employee.name, a.primary) for a in workorder.assignments.all()}
    assert assignments == {("Ann Lead", False), ("Bo Helper", True)}
    items = sorted(
        (li.service.name, li.price_cents, li.quantity) for li in workorder.line_items.all()
    )
    assert items == [("Full home", 45000, 1), ("Radon", 9950, 2)]


def test_the_scheduled_time_is_read_in_the_site_time_zone(
    office_client, company, inspectors, services, settings
):
    settings.TIME_ZONE = "America/New_York"

    office_client.post(reverse("workorders:create"), create_data(inspectors, services))

    workorder = Workorder.objects.get(company=company)
    assert workorder.scheduled_at.astimezone(UTC).hour == 13  # 09:30 EDT is 13:30 UTC


def test_a_double_submit_with_the_same_token_books_one_workorder(
    office_client, company, inspectors, services
):
    data = create_data(inspectors, services)

    first = office_client.post(reverse("workorders:create"), data)
    second = office_client.post(reverse("workorders:create"), data)

    assert Workorder.objects.filter(company=company).count() == 1
    assert first.url == second.url


def test_an_invalid_create_shows_field_errors_and_saves_nothing(
    office_client, company, inspectors, services
):
    data = create_data(
        inspectors,
        services,
        address="  ",
        scheduled_at="",
        duration_minutes="5",
        client_email="not-an-email",
        **{"line_items-1-price": "-3"},
    )

    response = office_client.post(reverse("workorders:create"), data)

    assert response.status_code == 200
    form = response.context["group"].form
    assert form.errors["address"] == ["Enter the property address."]
    assert form.errors["scheduled_at"] == ["Enter the date and time of the inspection."]
    assert form.errors["duration_minutes"] == ["Duration must be at least 15 minutes."]
    assert form.errors["client_email"] == ["Enter an email address like name@example.com."]
    html = response.content.decode()
    assert "The price cannot be negative." in html
    assert "Nothing was saved." in html
    assert 'value="Dana Whitfield"' in html
    assert not Workorder.objects.exists()
    assert not ActivityEvent.objects.exists()


def test_an_inspector_listed_twice_is_refused(office_client, inspectors, services):
    lead, _ = inspectors
    data = create_data(inspectors, services, **{"assignees-1-employee": str(lead.pk)})

    response = office_client.post(reverse("workorders:create"), data)

    assert "Ann Lead is listed twice" in response.content.decode()
    assert not Workorder.objects.exists()


def test_another_companys_inspector_or_service_cannot_be_chosen(
    office_client, other_company, inspectors, services
):
    theirs = EmployeeFactory(company=other_company)
    their_service = ServiceFactory(company=other_company)
    data = create_data(
        inspectors,
        services,
        **{"assignees-0-employee": str(theirs.pk), "line_items-0-service": str(their_service.pk)},
    )

    response = office_client.post(reverse("workorders:create"), data)

    group = response.context["group"]
    assert group.assignees.forms[0].errors["employee"]
    assert group.line_items.forms[0].errors["service"]
    assert not Workorder.objects.exists()


def test_service_refusals_land_on_the_right_field(office_client, inspectors, services, monkeypatch):
    from workorders import services as workorder_services
    from workorders.errors import ValidationFailed

    def refuse(**kwargs):
        raise ValidationFailed(
            "Check the inspectors.",
            fields={"assignees": ["Choose one primary inspector."], "address": ["No such street."]},
        )

    monkeypatch.setattr(workorder_services, "workorder_create", refuse)

    response = office_client.post(reverse("workorders:create"), create_data(inspectors, services))

    group = response.context["group"]
    assert group.assignees.non_form_errors() == ["Choose one primary inspector."]
    assert group.form.errors["address"] == ["No such street."]


def test_a_scheduler_cannot_create(client, scheduler_user, inspectors, services):
    client.force_login(scheduler_user)

    assert client.get(reverse("workorders:create")).status_code == 403
    response = client.post(reverse("workorders:create"), create_data(inspectors, services))

    assert response.status_code == 403
    assert not Workorder.objects.exists()


# -- Edit -----------------------------------------------------------------------------------


def test_the_edit_form_starts_from_the_workorder_and_its_version(office_client, workorder):
    response = office_client.get(reverse("workorders:edit", args=[workorder.pk]))

    html = response.content.decode()
    assert 'name="version" value="1"' in html
    assert 'value="1 Oak Road"' in html
    assert 'name="assignees-primary" value="0" checked' in html
    assert 'value="300.00"' in html
    assert timezone.localtime(workorder.scheduled_at).strftime("%Y-%m-%dT%H:%M") in html


def test_it_saves_an_edit(office_client, workorder, inspectors):
    lead, _ = inspectors
    data = edit_data(workorder, address="2 Oak Road", **{"assignees-0-employee": str(lead.pk)})

    response = office_client.post(reverse("workorders:edit", args=[workorder.pk]), data)

    assert response.status_code == 302
    assert response.url == reverse("workorders:detail", args=[workorder.pk])
    assert messages_of(response) == [f"Saved your changes to {workorder}."]
    workorder.refresh_from_db()
    assert workorder.address == "2 Oak Road"
    assert workorder.version == 2
    assert [(a.employee, a.primary) for a in workorder.assignments.all()] == [(lead, True)]


def test_an_edit_can_remove_a_service_by_clearing_its_row(office_client, workorder):
    data = edit_data(workorder, **{"line_items-0-service": "", "line_items-0-price": ""})

    office_client.post(reverse("workorders:edit", args=[workorder.pk]), data)

    assert not workorder.line_items.exists()


def test_a_stale_edit_is_refused_and_keeps_the_users_input(office_client, workorder, office_user):
    data = edit_data(workorder, address="Typed by me")
    Workorder.objects.filter(pk=workorder.pk).update(version=2, address="Saved by them")

    response = office_client.post(reverse("workorders:edit", args=[workorder.pk]), data)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Someone else saved" in html
    assert 'value="Typed by me"' in html
    workorder.refresh_from_db()
    assert workorder.address == "Saved by them"


def test_a_spectora_origin_workorder_cannot_be_edited(office_client, company):
    mirrored = WorkorderFactory(company=company, origin=Origin.SPECTORA, address="Theirs")

    page = office_client.get(reverse("workorders:edit", args=[mirrored.pk]))
    post = office_client.post(
        reverse("workorders:edit", args=[mirrored.pk]), edit_data(mirrored, address="Mine")
    )

    assert page.status_code == post.status_code == 302
    assert "comes from Spectora" in messages_of(post)[-1]
    mirrored.refresh_from_db()
    assert mirrored.address == "Theirs"


def test_a_cancelled_workorder_cannot_be_edited(office_client, company):
    cancelled = WorkorderFactory(company=company, status=WorkorderStatus.CANCELLED)

    response = office_client.post(
        reverse("workorders:edit", args=[cancelled.pk]), edit_data(cancelled, address="New")
    )

    assert response.status_code == 302
    cancelled.refresh_from_db()
    assert cancelled.address != "New"


def test_an_edit_with_no_change_says_so(office_client, workorder):
    response = office_client.post(
        reverse("workorders:edit", args=[workorder.pk]), edit_data(workorder)
    )

    assert messages_of(response) == [f"Nothing changed on {workorder}."]
    workorder.refresh_from_db()
    assert workorder.version == 1


# -- Reschedule -----------------------------------------------------------------------------


def test_it_reschedules(office_client, workorder):
    response = office_client.post(
        reverse("workorders:reschedule", args=[workorder.pk]),
        {"scheduled_at": "2031-01-02T14:15", "duration_minutes": "90", "version": "1"},
    )

    assert response.status_code == 302
    assert messages_of(response) == [f"Rescheduled {workorder}."]
    workorder.refresh_from_db()
    assert timezone.localtime(workorder.scheduled_at).strftime("%Y-%m-%d %H:%M") == (
        "2031-01-02 14:15"
    )
    assert workorder.duration_minutes == 90
    assert workorder.activity.filter(verb="rescheduled").exists()


def test_a_stale_reschedule_is_refused(office_client, workorder):
    Workorder.objects.filter(pk=workorder.pk).update(version=3)

    response = office_client.post(
        reverse("workorders:reschedule", args=[workorder.pk]),
        {"scheduled_at": "2031-01-02T14:15", "duration_minutes": "90", "version": "1"},
    )

    assert response.status_code == 200
    assert "Someone else saved" in response.content.decode()


def test_a_spectora_origin_workorder_cannot_be_rescheduled(office_client, company):
    mirrored = WorkorderFactory(company=company, origin=Origin.SPECTORA, duration_minutes=60)

    office_client.post(
        reverse("workorders:reschedule", args=[mirrored.pk]),
        {"scheduled_at": "2031-01-02T14:15", "duration_minutes": "90", "version": "1"},
    )

    mirrored.refresh_from_db()
    assert mirrored.duration_minutes == 60


# -- Confirm --------------------------------------------------------------------------------


def test_it_confirms_on_post(office_client, workorder):
    response = office_client.post(reverse("workorders:confirm", args=[workorder.pk]))

    assert response.status_code == 302
    assert messages_of(response) == [f"Confirmed {workorder}."]
    workorder.refresh_from_db()
    assert workorder.status == WorkorderStatus.CONFIRMED


def test_confirm_changes_nothing_on_get(office_client, workorder):
    response = office_client.get(reverse("workorders:confirm", args=[workorder.pk]))

    assert response.status_code == 405
    workorder.refresh_from_db()
    assert workorder.status == WorkorderStatus.UNCONFIRMED


def test_a_cancelled_workorder_cannot_be_confirmed(office_client, company):
    cancelled = WorkorderFactory(company=company, status=WorkorderStatus.CANCELLED)

    response = office_client.post(reverse("workorders:confirm", args=[cancelled.pk]))

    assert "cannot be confirmed" in messages_of(response)[0]
    cancelled.refresh_from_db()
    assert cancelled.status == WorkorderStatus.CANCELLED


def test_a_scheduler_can_confirm(client, scheduler_user, workorder):
    client.force_login(scheduler_user)

    client.post(reverse("workorders:confirm", args=[workorder.pk]))

    workorder.refresh_from_db()
    assert workorder.status == WorkorderStatus.CONFIRMED


# -- Cancel ---------------------------------------------------------------------------------


def test_the_cancel_page_asks_for_a_reason(office_client, workorder):
    html = office_client.get(reverse("workorders:cancel", args=[workorder.pk])).content.decode()

    assert "Cancel WO-" in html
    assert 'name="reason"' in html


def test_it_cancels_with_a_reason(office_client, workorder):
    response = office_client.post(
        reverse("workorders:cancel", args=[workorder.pk]), {"reason": "Buyer walked away"}
    )

    assert response.status_code == 302
    assert messages_of(response) == [f"Cancelled {workorder}."]
    workorder.refresh_from_db()
    assert workorder.status == WorkorderStatus.CANCELLED
    assert workorder.cancel_reason == "Buyer walked away"


@pytest.mark.parametrize("reason", ["", "   "])
def test_it_refuses_to_cancel_without_a_reason(office_client, workorder, reason):
    response = office_client.post(
        reverse("workorders:cancel", args=[workorder.pk]), {"reason": reason}
    )

    assert response.status_code == 200
    assert "Enter a reason" in response.content.decode()
    workorder.refresh_from_db()
    assert workorder.status == WorkorderStatus.UNCONFIRMED


def test_a_scheduler_cannot_cancel(client, scheduler_user, workorder):
    client.force_login(scheduler_user)

    assert client.get(reverse("workorders:cancel", args=[workorder.pk])).status_code == 403
    response = client.post(reverse("workorders:cancel", args=[workorder.pk]), {"reason": "Because"})

    assert response.status_code == 403
    workorder.refresh_from_db()
    assert workorder.status == WorkorderStatus.UNCONFIRMED


def test_changes_need_a_csrf_token(workorder, office_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(office_user)

    response = client.post(reverse("workorders:confirm", args=[workorder.pk]))

    assert response.status_code == 403
    workorder.refresh_from_db()
    assert workorder.status == WorkorderStatus.UNCONFIRMED
