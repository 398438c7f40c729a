"""A new or confirmed workorder reaches Spectora by itself when it is eligible."""

import pytest

from spectora_integration.models import RunKind, SyncRun, Trigger
from workorders import services
from workorders.models import WorkorderStatus
from workorders.services import AssigneeInput, LineItemInput

pytestmark = pytest.mark.django_db


def book(wired, employees=None, **values):
    employees = wired.inspectors[:1] if employees is None else employees
    return services.workorder_create(
        company=wired.connection.company, user=None,
        values={"scheduled_at": wired.when, "duration_minutes": 90,
                "address": "1 Main St", "client_name": "Client", **values},
        assignees=[AssigneeInput(employee=e, primary=i == 0) for i, e in enumerate(employees)],
        line_items=[LineItemInput(service=wired.services[0], price_cents=None,
                                  quantity=1)],
    )


@pytest.fixture
def wired(spectora):
    from django.utils import timezone

    spectora.when = timezone.now().replace(microsecond=0) + timezone.timedelta(days=2)
    return spectora


def auto_runs(workorder):
    return SyncRun.objects.filter(workorder=workorder, kind=RunKind.SYNC, trigger=Trigger.AUTO)


def test_an_eligible_new_workorder_is_queued_for_sync_by_itself(
    wired, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        wo = book(wired)
    run = auto_runs(wo).get()
    assert queued["runs"] == [run.pk]


def test_an_ineligible_new_workorder_waits_for_a_person(wired, queued):
    wo = book(wired, employees=[wired.unlinked])
    assert not auto_runs(wo).exists()
    assert queued["runs"] == []


def test_confirming_syncs_and_joins_a_queued_run(wired, queued):
    wo = book(wired)
    services.workorder_confirm(wo, user=None)
    wo.refresh_from_db()
    assert wo.status == WorkorderStatus.CONFIRMED
    run = auto_runs(wo).get()  # the confirmation joined the run the booking queued
    assert len(run.requesters) == 2


def test_a_spectora_origin_workorder_is_never_pushed(wired, queued):
    from workorders.models import Origin

    wo = services.workorder_create(
        company=wired.connection.company, user=None, origin=Origin.SPECTORA,
        values={"scheduled_at": wired.when, "address": "2 Main St", "client_name": "C"},
    )
    assert not SyncRun.objects.filter(workorder=wo).exists()
