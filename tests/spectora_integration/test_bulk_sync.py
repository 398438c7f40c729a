"""Sync all upcoming workorders (API and the connection page), and the workorders a fixed
staff link or service mapping was holding back, queued by themselves."""

from datetime import datetime, time, timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from spectora_integration.models import RunState, SpectoraLink, SyncBatch, SyncRun, SyncState
from spectora_integration.sync import bulk, runs, selectors
from tests.factories import EmployeeFactory, ServiceFactory, WorkorderFactory
from tests.spectora_integration.test_setup_pages import html, mapping_post
from tests.spectora_integration.test_sync import book, drain
from workorders.models import ActivityEvent, Workorder

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_auto_sync_on_booking")]

SYNC_ALL = "/api/v1/spectora/sync-all/"


@pytest.fixture(autouse=True)
def enqueued(queued):
    return queued["runs"]


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def toasts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def move(workorder, when):
    Workorder.objects.filter(pk=workorder.pk).update(scheduled_at=when)
    return workorder


def midnight_today():
    return timezone.make_aware(datetime.combine(timezone.localdate(), time.min))


# ---------------------------------------------------------------- the API


def test_an_admin_queues_every_eligible_upcoming_workorder_with_the_bulk_trigger(
    spectora, admin_user, enqueued, django_capture_on_commit_callbacks
):
    upcoming = [book(spectora) for _ in range(3)]
    earlier_today = move(book(spectora), midnight_today() + timedelta(minutes=1))
    yesterday = move(book(spectora), midnight_today() - timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        response = api(admin_user).post(SYNC_ALL, {"force": False}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert (body["queued"], body["new"], body["joined"], body["skipped"]) == (4, 4, 0, 0)
    synced = {run.workorder_id for run in SyncRun.objects.all()}
    assert synced == {w.pk for w in [*upcoming, earlier_today]}
    assert yesterday.pk not in synced
    batch = SyncBatch.objects.get()
    assert (batch.pk, batch.total, batch.requested_by, batch.force) == (
        body["batch"], 4, admin_user, False)
    for run in SyncRun.objects.all():
        assert (run.trigger, run.state, run.batch_id, run.requested_by) == (
            "bulk", "queued", batch.pk, admin_user)
        assert run.outbox.enqueue_count == 1
    assert sorted(enqueued) == sorted(SyncRun.objects.values_list("pk", flat=True))
    assert set(SpectoraLink.objects.values_list("sync_state", flat=True)) == {"queued"}
    listed = api(admin_user).get("/api/v1/sync-runs/").json()["results"]
    assert {(r["trigger"], r["batch"]) for r in listed} == {("bulk", batch.pk)}
    activity = ActivityEvent.objects.filter(verb="sync_queued")
    assert sorted(activity.values_list("workorder_id", flat=True)) == sorted(synced)


def test_force_is_recorded_on_the_runs_and_the_batch(spectora, admin_user):
    book(spectora)

    api(admin_user).post(SYNC_ALL, {"force": True}, format="json")

    assert SyncRun.objects.get().force is True
    assert SyncBatch.objects.get().force is True


@pytest.mark.parametrize("user", ["office_user", "scheduler_user"])
def test_only_admins_may_sync_all(spectora, request, user):
    book(spectora)

    response = api(request.getfixturevalue(user)).post(SYNC_ALL, {}, format="json")

    assert response.status_code == 403
    assert not SyncRun.objects.exists()
    assert not SyncBatch.objects.exists()


def test_another_companys_workorders_are_untouched(spectora, admin_user, other_company,
                                                   other_admin):
    ours = book(spectora)
    theirs = WorkorderFactory(company=other_company)

    api(admin_user).post(SYNC_ALL, {}, format="json")

    assert list(SyncRun.objects.values_list("workorder_id", flat=True)) == [ours.pk]
    assert not SyncRun.objects.filter(workorder=theirs).exists()
    # The other company is not connected: its admin is told so, and nothing is queued.
    response = api(other_admin).post(SYNC_ALL, {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "not_connected"
    assert SyncRun.objects.count() == 1


def test_ineligible_workorders_are_left_out_and_counted_by_reason(spectora, admin_user):
    ok = book(spectora)
    for _ in range(2):
        book(spectora, inspectors=[spectora.unlinked])
    both = book(spectora, inspectors=[spectora.unlinked], services_=[spectora.unmapped])
    cancelled = book(spectora)
    Workorder.objects.filter(pk=cancelled.pk).update(status="cancelled")
    origin = book(spectora)
    Workorder.objects.filter(pk=origin.pk).update(origin="spectora")

    body = api(admin_user).post(SYNC_ALL, {}, format="json").json()

    assert (body["queued"], body["skipped"]) == (1, 5)
    reasons = {(g["code"], g["reason"]): (g["count"], g["fix"]) for g in body["skipped_reasons"]}
    name = spectora.unlinked.name
    assert reasons == {
        ("missing_links", f"{name} is not linked to a Spectora inspector."):
            (3, reverse("spectora:staff")),
        ("missing_links", f"Service {spectora.unmapped.name} is not mapped to a Spectora "
                          "service."): (1, reverse("spectora:services")),
        ("cancelled", "This workorder is cancelled; its Spectora job is cancelled instead "
                      "of synced."): (1, ""),
        ("spectora_origin", "This job was created in Spectora and syncs from Spectora; use "
                            "Refresh from Spectora instead."): (1, ""),
    }
    assert list(SyncRun.objects.values_list("workorder_id", flat=True)) == [ok.pk]
    assert not SyncRun.objects.filter(workorder=both).exists()
    assert SyncBatch.objects.get().skipped == 5


def test_a_second_call_joins_the_queued_runs_instead_of_adding_more(
    spectora, admin_user, enqueued, django_capture_on_commit_callbacks
):
    first, second = book(spectora), book(spectora)
    manual = runs.sync_request(first, admin_user)  # a person's Sync, already queued

    with django_capture_on_commit_callbacks(execute=True):
        body = api(admin_user).post(SYNC_ALL, {}, format="json").json()
        again = api(admin_user).post(SYNC_ALL, {"force": True}, format="json").json()

    assert (body["new"], body["joined"]) == (1, 1)
    assert (again["queued"], again["new"], again["joined"]) == (2, 0, 2)
    assert SyncRun.objects.count() == 2
    manual.refresh_from_db()
    assert manual.trigger == "manual"  # a person's run keeps its place and its trigger
    assert [r["trigger"] for r in manual.requesters] == ["manual", "bulk", "bulk"]
    latest = SyncBatch.objects.get(pk=again["batch"])
    assert set(SyncRun.objects.values_list("batch", flat=True)) == {latest.pk}
    assert all(run.force for run in SyncRun.objects.all())
    assert len(enqueued) == 1  # only the one new run was sent to the workers
    assert SyncRun.objects.get(workorder=second).requesters[-1]["trigger"] == "bulk"


def test_queueing_costs_the_same_number_of_queries_for_5_or_40_workorders(spectora,
                                                                         admin_user):
    def queries_for(n):
        SyncRun.objects.all().delete()
        Workorder.objects.all().delete()
        for _ in range(n):
            book(spectora)
        with CaptureQueriesContext(db_connection) as captured:
            assert bulk.sync_all(spectora.connection.company, admin_user).queued == n
        return len(captured)

    assert queries_for(5) == queries_for(40)


def test_the_runs_of_a_batch_are_counted_as_they_finish(spectora, admin_user):
    workorders = [book(spectora) for _ in range(3)]
    book(spectora, inspectors=[spectora.unlinked])
    api(admin_user).post(SYNC_ALL, {}, format="json")
    company = spectora.connection.company

    progress = selectors.batch_progress(company)
    assert (progress.total, progress.done, progress.left, progress.finished) == (3, 0, 3, False)

    drain(workorders[0])
    Workorder.objects.filter(pk=workorders[1].pk).update(status="cancelled")  # skipped at run
    drain(workorders[1])
    progress = selectors.batch_progress(company)
    assert (progress.done, progress.skipped, progress.left) == (1, 1, 1)
    drain(workorders[2])
    progress = selectors.batch_progress(company)
    assert (progress.done, progress.failed, progress.left, progress.finished) == (2, 0, 0, True)
    assert len(spectora.state()) == 2


# ---------------------------------------------------------------- the connection page


def test_the_connection_page_offers_the_button_to_admins_of_a_connected_company(
    admin_client, spectora
):
    page = html(admin_client, "spectora:connection")

    assert "Sync all upcoming workorders" in page
    assert f'action="{reverse("spectora:sync_all")}"' in page
    assert 'name="force"' in page
    assert 'id="bulk-progress"' not in page  # nothing asked yet


def test_without_a_connection_there_is_no_button(admin_client, company):
    assert 'action="/spectora/sync-all/"' not in html(admin_client, "spectora:connection")


def test_the_button_queues_and_the_page_shows_a_polling_progress_bar(admin_client, spectora):
    workorders = [book(spectora) for _ in range(2)]
    book(spectora, inspectors=[spectora.unlinked])

    response = admin_client.post(reverse("spectora:sync_all"), {"force": "1"})

    assert response.status_code == 302
    assert toasts(response) == [
        f"Force sync of 2 upcoming workorders queued. 1 left out: 1 × "
        f"{spectora.unlinked.name} is not linked to a Spectora inspector."
    ]
    page = html(admin_client, "spectora:connection")
    assert 'id="bulk-progress"' in page
    assert 'hx-get="/spectora/sync-all/progress/"' in page
    assert '<progress class="bulk-progress__bar" value="0" max="2"' in page
    partial = admin_client.get(reverse("spectora:sync_all_progress")).content.decode()
    assert "0 done" in partial and "0 failed" in partial and "2 left" in partial
    assert "<script" not in partial and "style=" not in partial
    for workorder in workorders:
        drain(workorder)
    partial = admin_client.get(reverse("spectora:sync_all_progress")).content.decode()
    assert "2 done" in partial and "0 left" in partial
    assert "hx-get" not in partial and "data-finished" in partial  # polling stops


@pytest.mark.parametrize("user", ["office_user", "scheduler_user"])
def test_office_staff_cannot_press_it_or_read_the_progress(client, spectora, request, user):
    book(spectora)
    client.force_login(request.getfixturevalue(user))

    assert client.post(reverse("spectora:sync_all")).status_code == 403
    assert client.get(reverse("spectora:sync_all_progress")).status_code == 403
    assert not SyncRun.objects.exists()


# ---------------------------------------------------------------- a fix queues what waited


def test_linking_an_inspector_queues_the_workorders_that_waited_for_them(
    admin_client, spectora, admin_user
):
    waiting = book(spectora, inspectors=[spectora.unlinked])
    refused = book(spectora, inspectors=[spectora.unlinked, spectora.inspectors[0]])
    with pytest.raises(runs.SyncRefused):
        runs.sync_request(refused, admin_user, strict=True)  # a skipped run, kept
    past = move(book(spectora, inspectors=[spectora.unlinked]),
                midnight_today() - timedelta(hours=1))
    still_missing = book(spectora, inspectors=[spectora.unlinked], services_=[spectora.unmapped])
    unrelated = book(spectora)  # never synced, but not waiting for this link
    name = spectora.unlinked.name

    response = admin_client.post(
        reverse("spectora:staff_link"), {"inspector_id": "insp-5", "employee": spectora.unlinked.pk}
    )

    toast = toasts(response)[0]  # a second one may warn that the names differ
    assert toast.startswith(f"Linked {name} to Spectora inspector ")
    assert toast.endswith(f"; queued 2 workorders that were waiting for {name}.")
    queued = SyncRun.objects.filter(state=RunState.QUEUED)
    assert sorted(queued.values_list("workorder_id", flat=True)) == sorted(
        [waiting.pk, refused.pk])
    assert set(queued.values_list("trigger", flat=True)) == {"bulk"}
    for other in (past, still_missing, unrelated):
        assert not SyncRun.objects.filter(workorder=other, state=RunState.QUEUED).exists()
    drain(waiting)
    assert SpectoraLink.objects.get(workorder=waiting).sync_state == SyncState.SYNCED


def test_a_link_that_nobody_waited_for_says_nothing_more(admin_client, spectora):
    book(spectora)
    employee = EmployeeFactory(company=spectora.connection.company)

    response = admin_client.post(
        reverse("spectora:staff_link"), {"inspector_id": "insp-5", "employee": employee.pk}
    )

    assert toasts(response)[0].startswith(f"Linked {employee.name} to Spectora inspector")
    assert "queued" not in toasts(response)[0]
    assert not SyncRun.objects.exists()


def test_a_synced_workorder_is_not_queued_again_by_a_fix(spectora, admin_user):
    from spectora_integration.setup import services as setup

    synced = book(spectora, services_=[spectora.services[0]])
    runs.sync_request(synced, admin_user)
    drain(synced)
    runs_before = SyncRun.objects.count()

    linked = setup.staff_link(spectora.unlinked, "insp-5", user=admin_user)
    changed = setup.service_map(spectora.services[0], "svc-6", user=admin_user)

    assert (linked.queued, changed) == (0, 1)
    assert SyncRun.objects.count() == runs_before


def test_mapping_a_service_queues_the_workorders_that_waited_for_it(admin_client, spectora):
    waiting = [book(spectora, services_=[spectora.unmapped]) for _ in range(3)]
    other_service = ServiceFactory(company=spectora.connection.company)
    elsewhere = book(spectora, services_=[other_service])  # still waits: not mapped
    page = html(admin_client, "spectora:services")

    response = admin_client.post(
        reverse("spectora:services"),
        mapping_post(page, **{f"service_{spectora.unmapped.pk}": "svc-5"}),
    )

    assert toasts(response) == [
        "Saved the service mapping: 1 change; queued 3 workorders that were waiting for it."
    ]
    queued = SyncRun.objects.filter(state=RunState.QUEUED, trigger="bulk")
    assert sorted(queued.values_list("workorder_id", flat=True)) == sorted(w.pk for w in waiting)
    assert not SyncRun.objects.filter(workorder=elsewhere).exists()
    assert ActivityEvent.objects.filter(verb="sync_queued").count() == 3


def test_a_workorder_deleted_before_its_turn_is_left_out_and_the_rest_queue(spectora,
                                                                             admin_user):
    kept, gone = book(spectora), book(spectora)
    listed = [kept, gone]
    Workorder.objects.filter(pk=gone.pk).delete()

    queued = runs.sync_request_many(spectora.connection.company, listed, admin_user)

    assert (queued.new, queued.joined) == (1, 0)
    assert list(SyncRun.objects.values_list("workorder_id", flat=True)) == [kept.pk]
    assert ActivityEvent.objects.filter(verb="sync_queued").count() == 1


def test_sync_request_many_refuses_another_companys_workorders(spectora, other_company):
    with pytest.raises(ValueError):
        runs.sync_request_many(spectora.connection.company,
                               [WorkorderFactory(company=other_company)])
    assert not SyncRun.objects.exists()


def test_the_progress_names_the_workorders_left_out_and_links_their_fix(admin_client, spectora):
    """The reasons stay on the page after the toast is gone, with the workorders they name
    and where to fix them (found from outside: only a toast said why, naming nobody)."""
    book(spectora)
    waiting = [book(spectora, inspectors=[spectora.unlinked]) for _ in range(2)]
    unmapped = book(spectora, services_=[spectora.unmapped])
    admin_client.post(reverse("spectora:sync_all"), {})

    partial = admin_client.get(reverse("spectora:sync_all_progress")).content.decode()
    left_out = partial[partial.index("data-left-out"):]
    assert "3 upcoming workorders left out when it was asked:" in left_out
    inspector_line = next(line for line in left_out.splitlines() if spectora.unlinked.name in line)
    for wo in waiting:
        link = f'<a href="{reverse("workorders:detail", args=[wo.pk])}">{wo}</a>'
        assert link in inspector_line
    assert f'<a href="{reverse("spectora:staff")}">Fix it</a>' in inspector_line
    service_line = next(line for line in left_out.splitlines() if spectora.unmapped.name in line)
    assert str(unmapped) in service_line
    assert reverse("spectora:services") in service_line
    assert SyncBatch.objects.get().left_out[0]["count"] == 2


def test_a_reason_naming_many_workorders_names_the_first_and_the_count(spectora, admin_user,
                                                                        monkeypatch):
    monkeypatch.setattr(bulk, "NAMED_PER_REASON", 2)
    for _ in range(3):
        book(spectora, inspectors=[spectora.unlinked])
    api(admin_user).post(SYNC_ALL, {}, format="json")
    (group,) = SyncBatch.objects.get().left_out
    assert (group["count"], len(group["workorders"])) == (3, 2)
