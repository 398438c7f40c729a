from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import (
    AssignmentFactory,
    EmployeeFactory,
    ServiceFactory,
    WorkorderFactory,
)
from workorders.errors import NotAllowed, StaleVersion, ValidationFailed
from workorders.models import ActivityEvent, Origin, Workorder, WorkorderStatus
from workorders.services import (
    AssigneeInput,
    LineItemInput,
    workorder_cancel,
    workorder_confirm,
    workorder_create,
    workorder_reschedule,
    workorder_update,
)

pytestmark = pytest.mark.django_db


def values(**overrides):
    base = {
        "scheduled_at": timezone.now() + timedelta(days=3),
        "duration_minutes": 120,
        "address": "12 Elm St, Springfield",
        "client_name": "Avery Johnson",
        "client_email": "avery@example.com",
        "notes": "",
    }
    base.update(overrides)
    return base


def test_it_numbers_workorders_per_company(company, other_company, office_user):
    first = workorder_create(company=company, user=office_user, values=values())
    second = workorder_create(company=company, user=office_user, values=values())
    elsewhere = workorder_create(company=other_company, user=None, values=values())
    assert second.number == first.number + 1
    assert elsewhere.number == first.number


def test_it_makes_the_first_assignee_primary_when_none_is_chosen(company, office_user):
    a, b = EmployeeFactory.create_batch(2, company=company)
    wo = workorder_create(
        company=company, user=office_user, values=values(),
        assignees=[AssigneeInput(a), AssigneeInput(b)],
    )
    assert [(x.employee, x.primary) for x in wo.assignments.order_by("id")] == [
        (a, True), (b, False)
    ]


def test_it_refuses_two_primaries(company, office_user):
    a, b = EmployeeFactory.create_batch(2, company=company)
    with pytest.raises(ValidationFailed) as err:
        workorder_create(
            company=company, user=office_user, values=values(),
            assignees=[AssigneeInput(a, True), AssigneeInput(b, True)],
        )
    assert "assignees" in err.value.fields
    assert Workorder.objects.count() == 0


def test_it_refuses_another_companys_inspector_or_service(company, other_company, office_user):
    foreign_employee = EmployeeFactory(company=other_company)
    foreign_service = ServiceFactory(company=other_company)
    with pytest.raises(ValidationFailed):
        workorder_create(
            company=company, user=office_user, values=values(),
            assignees=[AssigneeInput(foreign_employee)],
        )
    with pytest.raises(ValidationFailed):
        workorder_create(
            company=company, user=office_user, values=values(),
            line_items=[LineItemInput(foreign_service)],
        )
    assert Workorder.objects.count() == 0


def test_it_requires_address_client_and_time(company, office_user):
    with pytest.raises(ValidationFailed) as err:
        workorder_create(
            company=company, user=office_user,
            values=values(address="", client_name="", scheduled_at=None),
        )
    assert set(err.value.fields) == {"address", "client_name", "scheduled_at"}


def test_it_prices_line_items_from_the_service_unless_given(company, office_user):
    service = ServiceFactory(company=company, price_cents=45000)
    wo = workorder_create(
        company=company, user=office_user, values=values(),
        line_items=[LineItemInput(service), LineItemInput(service, 100, 2)],
    )
    assert sorted((li.price_cents, li.quantity) for li in wo.line_items.all()) == [
        (100, 2), (45000, 1)
    ]


def test_a_repeated_form_token_returns_the_first_workorder(company, office_user):
    first = workorder_create(company=company, user=office_user, values=values(), form_token="t1")
    again = workorder_create(company=company, user=office_user, values=values(), form_token="t1")
    assert first.pk == again.pk
    assert Workorder.objects.count() == 1


def test_it_refuses_a_stale_edit(company, office_user):
    wo = WorkorderFactory(company=company)
    workorder_update(wo, user=office_user, values={"notes": "first"}, expected_version=1)
    with pytest.raises(StaleVersion):
        workorder_update(wo, user=office_user, values={"notes": "second"}, expected_version=1)
    wo.refresh_from_db()
    assert wo.notes == "first"
    assert wo.version == 2


def test_an_edit_that_changes_nothing_keeps_the_version(company, office_user):
    wo = WorkorderFactory(company=company, notes="same")
    workorder_update(wo, user=office_user, values={"notes": "same"}, expected_version=1)
    wo.refresh_from_db()
    assert wo.version == 1
    assert not ActivityEvent.objects.filter(workorder=wo, verb="edited").exists()


def test_it_replaces_assignees_and_records_what_changed(company, office_user):
    wo = WorkorderFactory(company=company)
    old = AssignmentFactory(workorder=wo).employee
    new = EmployeeFactory(company=company)
    workorder_update(
        wo, user=office_user, values={}, expected_version=1, assignees=[AssigneeInput(new)]
    )
    assert list(wo.assignments.values_list("employee", "primary")) == [(new.pk, True)]
    event = ActivityEvent.objects.get(workorder=wo, verb="edited")
    assert event.data["fields"] == ["assignees"]
    assert old.pk not in wo.assignments.values_list("employee", flat=True)


def test_it_reschedules(company, office_user):
    wo = WorkorderFactory(company=company)
    when = timezone.now() + timedelta(days=9)
    workorder_reschedule(wo, user=office_user, scheduled_at=when, duration_minutes=90)
    wo.refresh_from_db()
    assert (wo.scheduled_at, wo.duration_minutes) == (when, 90)
    assert ActivityEvent.objects.filter(workorder=wo, verb="rescheduled").exists()


def test_it_confirms_once(company, office_user):
    wo = WorkorderFactory(company=company)
    workorder_confirm(wo, user=office_user)
    workorder_confirm(wo, user=office_user)
    assert wo.status == WorkorderStatus.CONFIRMED
    assert ActivityEvent.objects.filter(workorder=wo, verb="confirmed").count() == 1


def test_cancel_needs_a_reason_and_happens_once(company, office_user):
    wo = WorkorderFactory(company=company)
    with pytest.raises(ValidationFailed):
        workorder_cancel(wo, user=office_user, reason="  ")
    workorder_cancel(wo, user=office_user, reason="Buyer walked")
    workorder_cancel(wo, user=office_user, reason="Again")
    wo.refresh_from_db()
    assert (wo.status, wo.cancel_reason) == (WorkorderStatus.CANCELLED, "Buyer walked")
    assert ActivityEvent.objects.filter(workorder=wo, verb="cancelled").count() == 1


def test_cancelled_and_spectora_origin_workorders_cannot_be_edited(company, office_user):
    cancelled = WorkorderFactory(company=company, status=WorkorderStatus.CANCELLED)
    remote = WorkorderFactory(company=company, origin=Origin.SPECTORA)
    for wo in (cancelled, remote):
        with pytest.raises(NotAllowed):
            workorder_update(wo, user=office_user, values={"notes": "x"}, expected_version=None)
    with pytest.raises(NotAllowed):
        workorder_confirm(cancelled, user=office_user)
