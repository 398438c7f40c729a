"""Processing deliveries: imports of Spectora-origin jobs, order, deletes, drift of Attik's jobs."""

import random
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from spectora_integration.client import Inspection, Resource, SpectoraClient
from spectora_integration.inbound import deliveries, importer
from spectora_integration.models import (
    InboundWebhook,
    RunState,
    SpectoraLink,
    SyncRun,
    SyncState,
    Trigger,
)
from spectora_integration.sync import planner, runs
from spectora_sandbox.webhooks import event_body
from tests.factories import EmployeeFactory, WorkorderFactory, member
from tests.spectora_integration.test_sync import book, drain, sync
from tests.spectora_integration.test_webhooks import deliver, signed_headers
from workorders.models import (
    ActivityEvent,
    Origin,
    Role,
    Workorder,
    WorkorderStatus,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(queued):
    """Nothing is queued for real here: the tests run what would be queued themselves."""
    return queued


def when(days=2, hour=10):
    return (timezone.now() + timedelta(days=days)).replace(hour=hour, minute=0, second=0,
                                                          microsecond=0)


def person(wired, **body) -> dict:
    """Create or change an inspection as a person in Spectora (no webhook configured)."""
    return wired.control("inspections", body)


def new_job(wired, **attributes) -> dict:
    values = {"datetime": when().isoformat(), "duration": 150, "full_address": "4 Oak Ave",
              "client_name": "Robin Park", "client_email": "robin@example.com",
              "notes": "Side door"}
    values.update(attributes)
    return person(
        wired, attributes=values,
        assignments=[{"inspector_id": "insp-1", "primary": True},
                     {"inspector_id": "insp-2", "primary": False}],
        line_items=[{"service_id": "svc-1", "price_cents": 41000, "quantity": 1},
                    {"service_id": "svc-2", "price_cents": 5000, "quantity": 2}],
    )


def receive(wired, inspection_id, event="inspection.updated", **kwargs):
    return importer.inspection_receive(wired.connection, str(inspection_id),
                                      deleted=event == "inspection.deleted", **kwargs)


def remote_id_of(workorder) -> str:
    return SpectoraLink.objects.get(workorder=workorder).remote_id


def workorder_for(remote_id) -> Workorder:
    return SpectoraLink.objects.select_related("workorder").get(remote_id=remote_id).workorder


def from_flat(flat: dict) -> Inspection:
    """An Inspection as a read at that moment would have returned it."""
    children = {"assignments", "line_items", "reports"}
    attributes = {k: v for k, v in flat.items() if k not in children | {"id", "deleted"}}

    def resources(kind):
        return [Resource(kind, str(c["id"]), {k: v for k, v in c.items() if k != "id"})
                for c in flat[kind]]

    return Inspection(str(flat["id"]), attributes, resources("assignments"),
                      resources("line_items"), resources("reports"))


def attik_view(workorder: Workorder) -> dict:
    return {
        "scheduled_at": workorder.scheduled_at, "duration": workorder.duration_minutes,
        "address": workorder.address, "client_name": workorder.client_name,
        "notes": workorder.notes, "status": workorder.status,
        "cancel_reason": workorder.cancel_reason,
        "assignments": sorted((a.employee.spectora_inspector_id, a.primary)
                              for a in workorder.assignments.all()),
        "line_items": sorted((li.service.spectora_service_id, li.price_cents, li.quantity)
                             for li in workorder.line_items.all()),
    }


def spectora_view(job: dict) -> dict:
    from spectora_integration.client import parse_time

    return {
        "scheduled_at": parse_time(job["datetime"]), "duration": job["duration"],
        "address": job["full_address"], "client_name": job["client_name"] or "",
        "notes": job["notes"] or "",
        "status": WorkorderStatus.CANCELLED if job["canceled_at"] else WorkorderStatus.CONFIRMED,
        "cancel_reason": (job["cancel_reason"] or importer.CANCELLED_REASON)
        if job["canceled_at"] else "",
        "assignments": sorted((a["inspector_id"], a["primary"]) for a in job["assignments"]),
        "line_items": sorted((i["service_id"], i["price_cents"], i["quantity"])
                             for i in job["line_items"]),
    }


# ---------------------------------------------------------------- Spectora-origin imports

class TestImport:
    def test_a_spectora_origin_job_becomes_a_confirmed_read_only_workorder(self, spectora):
        job = new_job(spectora)

        assert receive(spectora, job["id"], "inspection.created") == importer.CREATED

        wo = workorder_for(job["id"])
        assert spectora_view(job) == attik_view(wo)
        assert (wo.origin, wo.status, wo.client_email) == (
            Origin.SPECTORA, WorkorderStatus.CONFIRMED, "robin@example.com")
        assert wo.number == spectora.connection.company.last_workorder_number + 0 or wo.number
        link = wo.spectora_link
        assert (link.remote_id, link.url, link.sync_state) == (
            job["id"], job["url"], SyncState.SYNCED)
        assert link.remote_updated_at.isoformat().startswith(job["updated_at"][:19])
        assert (link.import_missing, link.last_error) == ({}, "")
        (event,) = ActivityEvent.objects.filter(workorder=wo)
        assert event.actor is None and event.verb == "spectora_imported"
        assert f"job {job['id']}" in event.message

    def test_workorder_numbers_come_from_the_company_sequence(self, spectora):
        company = spectora.connection.company
        before = company.last_workorder_number
        first, second = new_job(spectora), new_job(spectora)
        receive(spectora, first["id"])
        receive(spectora, second["id"])
        assert [workorder_for(j["id"]).number for j in (first, second)] == [before + 1,
                                                                             before + 2]

    def test_unlinked_inspectors_and_unmapped_services_do_not_block_the_import(
        self, spectora, office_client
    ):
        job = person(
            spectora,
            attributes={"datetime": when().isoformat(), "full_address": "1 Pine St"},
            assignments=[{"inspector_id": "insp-5", "primary": True},
                         {"inspector_id": "insp-1", "primary": False}],
            line_items=[{"service_id": "svc-1"}, {"service_id": "svc-5"}],
        )

        assert receive(spectora, job["id"]) == importer.CREATED

        wo = workorder_for(job["id"])
        assert [(a.employee.spectora_inspector_id, a.primary) for a in wo.assignments.all()] == [
            ("insp-1", False)]
        assert [li.service.spectora_service_id for li in wo.line_items.all()] == ["svc-1"]
        link = wo.spectora_link
        assert link.import_missing == {
            "inspectors": [{"id": "insp-5", "name": "Dana Whitfield"}],
            "services": [{"id": "svc-5", "name": "Radon Test"}],
        }
        assert "Dana Whitfield" in link.last_error and "Radon Test" in link.last_error
        page = office_client.get(reverse("workorders:detail", args=[wo.pk])).content.decode()
        assert "data-import-missing" in page
        assert "Spectora inspector Dana Whitfield is not linked" in page
        assert "Spectora service Radon Test is not mapped" in page

    def test_what_is_missing_clears_once_it_is_linked_and_refreshed(self, spectora):
        job = person(spectora, attributes={"datetime": when().isoformat(),
                                           "full_address": "1 Pine St"},
                     assignments=[{"inspector_id": "insp-5", "primary": True}])
        receive(spectora, job["id"])
        EmployeeFactory(company=spectora.connection.company, spectora_inspector_id="insp-5")

        assert receive(spectora, job["id"]) == importer.UNCHANGED  # same state: not re-applied
        assert importer.workorder_refresh(workorder_for(job["id"]).pk) == importer.UPDATED

        wo = workorder_for(job["id"])
        assert [a.employee.spectora_inspector_id for a in wo.assignments.all()] == ["insp-5"]
        assert wo.spectora_link.import_missing == {}
        assert wo.spectora_link.last_error == ""

    def test_a_change_in_spectora_updates_the_workorder_and_its_version(self, spectora):
        job = new_job(spectora)
        receive(spectora, job["id"])
        version = workorder_for(job["id"]).version

        changed = person(spectora, id=job["id"],
                         attributes={"datetime": when(days=5).isoformat(), "notes": "Call first"},
                         assignments=[{"inspector_id": "insp-3", "primary": True}],
                         line_items=[{"service_id": "svc-4", "price_cents": 30000,
                                      "quantity": 1}])
        assert receive(spectora, job["id"]) == importer.UPDATED

        wo = workorder_for(job["id"])
        assert attik_view(wo) == spectora_view(changed)
        assert wo.version == version + 1
        event = ActivityEvent.objects.filter(workorder=wo, verb="spectora_updated").get()
        assert event.actor is None
        assert "date and time" in event.message and "inspectors" in event.message

    def test_the_same_state_twice_changes_nothing(self, spectora):
        job = new_job(spectora)
        receive(spectora, job["id"])
        wo = workorder_for(job["id"])

        assert receive(spectora, job["id"]) == importer.UNCHANGED

        again = workorder_for(job["id"])
        assert (again.version, again.updated_at) == (wo.version, wo.updated_at)
        assert ActivityEvent.objects.filter(workorder=wo).count() == 1

    def test_an_older_state_arriving_after_a_newer_one_is_ignored(self, spectora):
        old = from_flat(new_job(spectora))
        new = from_flat(person(spectora, id=old.id, attributes={"full_address": "99 New Rd"}))
        connection = spectora.connection

        assert importer.inspection_apply(connection, old.id, new) == importer.CREATED
        assert importer.inspection_apply(connection, old.id, old) == importer.STALE
        assert importer.inspection_apply(connection, old.id, old, force=True) == importer.STALE

        wo = workorder_for(old.id)
        assert wo.address == "99 New Rd"
        assert wo.spectora_link.remote_updated_at == new.updated_at

    def test_a_cancellation_in_spectora_cancels_the_workorder_with_its_reason(self, spectora):
        job = new_job(spectora)
        receive(spectora, job["id"])
        person(spectora, id=job["id"], attributes={"canceled_at": timezone.now().isoformat(),
                                                   "cancel_reason": "Buyer backed out"})

        assert receive(spectora, job["id"]) == importer.UPDATED

        wo = workorder_for(job["id"])
        assert (wo.status, wo.cancel_reason) == (WorkorderStatus.CANCELLED, "Buyer backed out")
        assert ActivityEvent.objects.filter(
            workorder=wo, message="Cancelled in Spectora: Buyer backed out").exists()

    def test_a_job_cancelled_before_attik_saw_it_arrives_cancelled(self, spectora):
        job = new_job(spectora)
        person(spectora, id=job["id"], attributes={"canceled_at": timezone.now().isoformat()})
        receive(spectora, job["id"])
        wo = workorder_for(job["id"])
        assert (wo.status, wo.cancel_reason) == (WorkorderStatus.CANCELLED,
                                                 importer.CANCELLED_REASON)

    def test_a_job_uncancelled_in_spectora_is_reinstated(self, spectora):
        job = new_job(spectora)
        person(spectora, id=job["id"], attributes={"canceled_at": timezone.now().isoformat()})
        receive(spectora, job["id"])
        person(spectora, id=job["id"], attributes={"canceled_at": None, "cancel_reason": None})
        receive(spectora, job["id"])
        wo = workorder_for(job["id"])
        assert (wo.status, wo.cancel_reason) == (WorkorderStatus.CONFIRMED, "")

    def test_a_deleted_job_cancels_its_workorder(self, spectora):
        job = new_job(spectora)
        receive(spectora, job["id"])
        person(spectora, id=job["id"], delete=True)

        assert receive(spectora, job["id"], "inspection.deleted") == importer.DELETED
        assert receive(spectora, job["id"], "inspection.deleted") == importer.UNCHANGED

        wo = workorder_for(job["id"])
        assert (wo.status, wo.cancel_reason) == (WorkorderStatus.CANCELLED,
                                                 importer.DELETED_REASON)
        assert wo.spectora_link.remote_deleted_at is not None
        assert ActivityEvent.objects.filter(workorder=wo, verb="spectora_deleted",
                                            actor=None).count() == 1

    def test_a_job_that_spectora_no_longer_has_is_treated_as_deleted(self, spectora):
        job = new_job(spectora)
        receive(spectora, job["id"])
        person(spectora, id=job["id"], delete=True)

        # An update whose read finds nothing (404): deleted since.
        assert receive(spectora, job["id"], "inspection.updated") == importer.DELETED
        assert workorder_for(job["id"]).cancel_reason == importer.DELETED_REASON

    def test_a_late_read_after_a_deletion_does_not_bring_the_job_back(self, spectora, client):
        snapshot = from_flat(new_job(spectora))
        person(spectora, id=snapshot.id, delete=True)
        # The deletion is delivered (and processed: nothing to cancel yet) before a stale
        # read of the job, taken before it was deleted, is applied.
        deliver(client, spectora.connection, "inspection.deleted", snapshot.id)
        assert receive(spectora, snapshot.id, "inspection.deleted") == importer.IGNORED

        assert importer.inspection_apply(spectora.connection, snapshot.id, snapshot) == (
            importer.STALE)
        assert not Workorder.objects.exists()

    def test_a_job_made_through_the_api_and_not_linked_yet_is_ignored(self, spectora):
        wo = book(spectora)
        sync(wo)
        remote_id = remote_id_of(wo)
        SpectoraLink.objects.filter(workorder=wo).update(remote_id=None)

        assert receive(spectora, remote_id) == importer.IGNORED
        assert Workorder.objects.count() == 1

    def test_the_import_that_loses_the_race_to_insert_updates_instead(self, spectora,
                                                                       monkeypatch):
        job = new_job(spectora)
        receive(spectora, job["id"])
        changed = from_flat(person(spectora, id=job["id"], attributes={"notes": "Later"}))
        real = importer._link_for
        calls = []

        def link_for(connection, inspection_id):
            calls.append(inspection_id)
            # The first look misses the link the other importer has just committed.
            return None if len(calls) == 1 else real(connection, inspection_id)

        monkeypatch.setattr(importer, "_link_for", link_for)
        number = spectora.connection.company.__class__.objects.get(
            pk=spectora.connection.company_id).last_workorder_number

        assert importer.inspection_apply(spectora.connection, job["id"], changed) == (
            importer.UPDATED)

        assert len(calls) == 2
        assert Workorder.objects.count() == 1
        assert workorder_for(job["id"]).notes == "Later"
        company = spectora.connection.company.__class__.objects.get(
            pk=spectora.connection.company_id)
        assert company.last_workorder_number == number  # the losing insert was rolled back

    def test_another_companys_link_to_the_same_id_is_reported_not_duplicated(
        self, spectora, other_company, monkeypatch
    ):
        job = new_job(spectora)
        other = WorkorderFactory(company=other_company, origin=Origin.SPECTORA)
        SpectoraLink.objects.create(workorder=other, remote_id=job["id"])

        with pytest.raises(importer.ImportFailed, match="already linked"):
            receive(spectora, job["id"])
        assert Workorder.objects.filter(company=spectora.connection.company).count() == 0


# ---------------------------------------------------------------- deliveries

class TestDeliveries:
    def test_a_duplicate_webhook_id_is_processed_once(self, spectora, client, no_broker):
        job = new_job(spectora)
        for _ in range(3):
            deliver(client, spectora.connection, "inspection.created", job["id"], msg_id="m-1")
        assert len(no_broker["deliveries"]) <= 1  # on_commit never fires in this test
        (delivery,) = InboundWebhook.objects.all()
        mark = len(spectora.requests_log())

        assert deliveries.process_delivery(delivery.pk) == importer.CREATED
        assert deliveries.process_delivery(delivery.pk) == "already_processed"

        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.error) == (1, "")
        assert delivery.processed_at is not None
        reads = [r for r in spectora.requests_log()[mark:]
                 if r["path"] == f"/v2/inspections/{job['id']}"]
        assert len(reads) == 1
        assert Workorder.objects.count() == 1

    def test_a_transient_error_is_recorded_and_raised_for_a_retry(self, spectora, client):
        job = new_job(spectora)
        deliver(client, spectora.connection, "inspection.created", job["id"])
        delivery = InboundWebhook.objects.get()
        spectora.faults({"method": "GET", "path": "/v2/inspections/*", "mode": "error",
                         "status": 503, "times": 1})

        with pytest.raises(importer.SpectoraError):
            deliveries.process_delivery(delivery.pk)
        delivery.refresh_from_db()
        assert delivery.processed_at is None
        assert delivery.error.startswith("Attempt 1 of 6 failed")

        assert deliveries.process_delivery(delivery.pk) == importer.CREATED
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.error) == (2, "")

    def test_the_task_retries_transient_errors_then_gives_up_visibly(self, spectora, client,
                                                                      monkeypatch):
        from spectora_integration import tasks

        job = new_job(spectora)
        deliver(client, spectora.connection, "inspection.created", job["id"])
        delivery = InboundWebhook.objects.get()
        spectora.faults({"method": "GET", "path": "/v2/inspections/*", "mode": "error",
                         "status": 503})
        delays = []
        real_delay = deliveries.retry_delay
        monkeypatch.setattr(deliveries, "retry_delay",
                            lambda attempt, retry_after=None:
                            delays.append(real_delay(attempt, retry_after)) or 0)

        assert tasks.process_webhook.apply((delivery.pk,)).get() == "failed"

        delivery.refresh_from_db()
        assert delivery.attempts == deliveries.MAX_RETRIES + 1
        assert delivery.error.startswith(f"Gave up after {deliveries.MAX_RETRIES + 1} attempts")
        assert delivery.processed_at is None
        assert len(delays) == deliveries.MAX_RETRIES
        assert all(0 < d <= deliveries.RETRY_CAP_SECONDS for d in delays)

    def test_retry_delays_grow_and_are_capped(self):
        random.seed(1)
        assert deliveries.retry_delay(1) <= 2
        assert 16 <= deliveries.retry_delay(6) <= 64
        assert deliveries.retry_delay(30) <= deliveries.RETRY_CAP_SECONDS
        assert deliveries.retry_delay(1, retry_after=20) == 20

    def test_a_permanent_error_is_recorded_without_a_retry(self, spectora, client):
        deliver(client, spectora.connection, "inspection.created", "1001")
        delivery = InboundWebhook.objects.get()
        spectora.faults({"method": "GET", "path": "/v2/inspections/*", "mode": "error",
                         "status": 403})

        assert deliveries.process_delivery(delivery.pk) == "failed"
        delivery.refresh_from_db()
        assert "not allowed" in delivery.error
        assert delivery.processed_at is None

    def test_the_admin_reprocess_action_queues_its_companys_deliveries_again(
        self, spectora, client, other_company, no_broker, django_capture_on_commit_callbacks
    ):
        from tests.spectora_fixtures import connect_company

        job = new_job(spectora)
        deliver(client, spectora.connection, "inspection.created", job["id"])
        mine = InboundWebhook.objects.get()
        deliveries.process_delivery(mine.pk)
        other = connect_company(other_company, spectora.sandbox)
        deliver(client, other.connection, "inspection.created", job["id"])
        theirs = InboundWebhook.objects.exclude(pk=mine.pk).get()
        admin = member(spectora.connection.company, Role.ADMIN, username="reprocessor")
        client.force_login(admin)

        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("admin:spectora_integration_inboundwebhook_changelist"),
                                   {"action": "reprocess",
                                    "_selected_action": [mine.pk, theirs.pk]})
        assert response.status_code == 302
        assert no_broker["deliveries"] == [mine.pk]
        mine.refresh_from_db()
        assert mine.processed_at is None
        page = client.get(reverse("admin:spectora_integration_inboundwebhook_changelist"))
        assert page.status_code == 200
        assert mine.webhook_id in page.content.decode()
        assert theirs.webhook_id not in page.content.decode()

    def test_office_staff_cannot_reprocess_in_the_admin(self, spectora, client, office_user):
        client.force_login(office_user)
        url = reverse("admin:spectora_integration_inboundwebhook_changelist")
        assert client.get(url).status_code in (302, 403)


# ---------------------------------------------------------------- drift of Attik's jobs

class TestDrift:
    def test_drift_of_an_attik_job_is_recorded_and_repaired(self, spectora, client, no_broker):
        wo = book(spectora)
        sync(wo)
        remote_id = remote_id_of(wo)
        person(spectora, id=remote_id, attributes={"notes": "Changed by hand"},
               assignments=[{"inspector_id": "insp-4", "primary": True}])
        deliver(client, spectora.connection, "inspection.updated", remote_id)

        assert deliveries.process_delivery(InboundWebhook.objects.get().pk) == importer.DRIFT

        link = SpectoraLink.objects.get(workorder=wo)
        assert link.drift_detected_at is not None
        event = ActivityEvent.objects.get(workorder=wo, verb="spectora_drift")
        assert event.actor is None
        assert event.message.startswith("Changed in Spectora by hand: ")
        # What Spectora had and what Attik puts back, by name (insp-4 is the 4th inspector).
        fourth, first = spectora.inspectors[3].name, spectora.inspectors[0].name
        assert "the notes had been set to “Changed by hand”, Attik clears it again" in (
            event.message)
        assert f"{fourth} had been added to the job, Attik removes them" in event.message
        assert f"{first} had been taken off the job, Attik assigns them again as primary" in (
            event.message)
        assert "insp-" not in event.message
        assert event.message.endswith("Attik's version is being put back.")
        run = SyncRun.objects.get(workorder=wo, state=RunState.QUEUED)
        assert run.trigger == Trigger.DRIFT and run.requested_by is None
        assert no_broker["runs"] == [] or run.pk in no_broker["runs"]

        drain(wo)

        client_ = SpectoraClient.for_connection(spectora.connection)
        actual = client_.inspection_get(remote_id)
        wo = Workorder.objects.get(pk=wo.pk)
        assert planner.plan_sync(planner.desired_state(wo), actual) == []
        assert actual["notes"] == ""

    def test_an_attik_job_that_matches_spectora_is_left_alone(self, spectora):
        wo = book(spectora)
        sync(wo)
        remote_id = remote_id_of(wo)

        assert receive(spectora, remote_id) == importer.IN_SYNC
        assert not SyncRun.objects.filter(workorder=wo, state=RunState.QUEUED).exists()
        assert not ActivityEvent.objects.filter(workorder=wo, verb="spectora_drift").exists()

    def test_drift_seen_while_a_sync_is_queued_is_left_to_that_sync(self, spectora):
        wo = book(spectora)
        sync(wo)
        remote_id = remote_id_of(wo)
        person(spectora, id=remote_id, attributes={"notes": "By hand"})
        runs.sync_request(wo, None)

        assert receive(spectora, remote_id) == importer.PENDING
        assert SyncRun.objects.filter(workorder=wo, state=RunState.QUEUED).count() == 1
        assert not ActivityEvent.objects.filter(workorder=wo, verb="spectora_drift").exists()

    def test_drift_reported_twice_queues_one_repair(self, spectora):
        wo = book(spectora)
        sync(wo)
        remote_id = remote_id_of(wo)
        person(spectora, id=remote_id, attributes={"notes": "By hand"})

        assert receive(spectora, remote_id) == importer.DRIFT
        assert receive(spectora, remote_id) in (importer.PENDING, importer.STALE)
        assert SyncRun.objects.filter(workorder=wo, state=RunState.QUEUED).count() == 1
        assert ActivityEvent.objects.filter(workorder=wo, verb="spectora_drift").count() == 1


# ---------------------------------------------------------------- Refresh from Spectora

class TestRefresh:
    def _imported(self, spectora):
        job = new_job(spectora)
        receive(spectora, job["id"])
        return workorder_for(job["id"])

    def _menu(self, client, workorder):
        html = client.get(reverse("workorders:detail", args=[workorder.pk])).content.decode()
        start = html.index('<details class="menu"')
        return html[start: html.index("</details>", start)]

    def test_the_menu_offers_refresh_instead_of_sync_for_spectora_origin_jobs(
        self, spectora, office_client
    ):
        menu = self._menu(office_client, self._imported(spectora))
        assert 'data-action="refresh_spectora"' in menu
        assert "Refresh from Spectora" in menu
        assert 'data-action="force_sync_spectora"' not in menu
        assert "Comes from Spectora: it syncs from there" in menu

    def test_the_menu_does_not_offer_refresh_for_attik_jobs(self, spectora, office_client):
        wo = book(spectora)
        menu = self._menu(office_client, wo)
        assert 'data-action="refresh_spectora"' not in menu
        assert 'data-action="sync_spectora"' in menu

    def test_refresh_queues_a_reimport_and_says_so(
        self, spectora, office_client, no_broker, django_capture_on_commit_callbacks
    ):
        wo = self._imported(spectora)
        with django_capture_on_commit_callbacks(execute=True):
            response = office_client.post(reverse("spectora:workorder_refresh", args=[wo.pk]))
        assert response.status_code == 302
        assert no_broker["refreshes"] == [wo.pk]
        toasts = list(get_messages(response.wsgi_request))
        # No "reload in a moment": the chip follows the refresh and the page updates itself,
        # and the toast goes once the chip no longer says it is refreshing.
        assert [str(m) for m in toasts] == [f"Refreshing {wo} from Spectora…"]
        assert "state-toast" in toasts[0].extra_tags
        assert SpectoraLink.objects.get(workorder=wo).sync_state == SyncState.QUEUED
        chip = office_client.get(reverse("spectora:sync_chip", args=[wo.pk])).content.decode()
        assert "Refresh queued" in chip and 'hx-trigger="every 1s"' in chip

    def test_the_refresh_task_brings_spectoras_latest_state(self, spectora, office_client):
        wo = self._imported(spectora)
        person(spectora, id=wo.spectora_link.remote_id, attributes={"client_name": "New Name"})
        importer.workorder_refresh_request(wo)
        assert importer.workorder_refresh(wo.pk) == importer.UPDATED
        assert Workorder.objects.get(pk=wo.pk).client_name == "New Name"
        assert SpectoraLink.objects.get(workorder=wo).sync_state == SyncState.SYNCED
        chip = office_client.get(reverse("spectora:sync_chip", args=[wo.pk])).content.decode()
        assert "data-sync-settled" in chip and "hx-trigger" not in chip

    def test_a_refresh_that_finds_nothing_new_settles_too(self, spectora):
        wo = self._imported(spectora)
        importer.workorder_refresh_request(wo)
        assert SpectoraLink.objects.get(workorder=wo).sync_state == SyncState.QUEUED
        assert importer.workorder_refresh(wo.pk) == importer.UNCHANGED
        assert SpectoraLink.objects.get(workorder=wo).sync_state == SyncState.SYNCED

    def test_a_refresh_whose_message_was_lost_stops_saying_refreshing(self, spectora):
        from spectora_integration.sync.status import sync_status

        wo = self._imported(spectora)
        importer.workorder_refresh_request(wo)
        wo = Workorder.objects.select_related("spectora_link").get(pk=wo.pk)
        assert sync_status(wo).live
        later = timezone.now() + timedelta(minutes=5)
        status = sync_status(wo, now=later)
        assert not status.live and status.label == "Refresh did not finish"

    def test_a_failed_refresh_is_shown_on_the_workorder(self, spectora, office_client):
        wo = self._imported(spectora)
        spectora.faults({"method": "GET", "path": "/v2/inspections/*", "mode": "error",
                         "status": 403})
        importer.workorder_refresh_request(wo)
        assert importer.workorder_refresh(wo.pk) == "failed"
        link = SpectoraLink.objects.get(workorder=wo)
        assert link.last_error.startswith("Refresh from Spectora failed")
        assert link.sync_state == SyncState.FAILED
        html = office_client.get(reverse("workorders:detail", args=[wo.pk])).content.decode()
        assert "Refresh failed" in html and 'data-sync-problem="failed"' in html
        assert "choose <em>Refresh from Spectora</em> under Actions again" in html

    def test_refresh_of_an_attik_job_is_refused(self, spectora, office_client):
        wo = book(spectora)
        response = office_client.post(reverse("spectora:workorder_refresh", args=[wo.pk]))
        assert [str(m) for m in get_messages(response.wsgi_request)] == [
            f"{wo} was booked in Attik: use Sync Spectora job."]

    def test_refresh_of_another_companys_workorder_is_404(self, spectora, other_admin, client):
        wo = self._imported(spectora)
        client.force_login(other_admin)
        response = client.post(reverse("spectora:workorder_refresh", args=[wo.pk]))
        assert response.status_code == 404

    def test_refresh_needs_post(self, spectora, office_client):
        wo = self._imported(spectora)
        response = office_client.get(reverse("spectora:workorder_refresh", args=[wo.pk]))
        assert response.status_code == 405


# ---------------------------------------------------------------- 1,000 deliveries

def test_a_thousand_webhooks_in_random_order_with_duplicates_converge_to_spectoras_state(
    spectora, client, monkeypatch
):
    """Deliveries arrive shuffled and repeated; each is processed with the state a read
    at its own moment returned (as a slow worker would), yet Attik ends equal to Spectora."""
    rng = random.Random(20251125)
    started = time.monotonic()
    events = []  # (event type, inspection id, the inspection as read then, or None)

    def record(event_type, flat):
        events.append((event_type, flat["id"],
                       None if event_type == "inspection.deleted" else from_flat(flat)))

    jobs = []
    for n in range(30):
        flat = new_job(spectora, full_address=f"{n} Replay St", duration=60 + n)
        jobs.append(flat["id"])
        record("inspection.created", flat)
    deleted = set()
    while len(events) < 800:
        iid = rng.choice([j for j in jobs if j not in deleted])
        roll = rng.random()
        if roll < 0.01 and len(deleted) < 3:
            record("inspection.deleted", person(spectora, id=iid, delete=True))
            deleted.add(iid)
            continue
        body = {"id": iid}
        if roll < 0.4:
            body["attributes"] = {"notes": f"note {len(events)}",
                                  "datetime": when(days=rng.randint(1, 30)).isoformat()}
        elif roll < 0.6:
            inspectors = rng.sample(["insp-1", "insp-2", "insp-3", "insp-4"], rng.randint(1, 3))
            body["assignments"] = [{"inspector_id": i, "primary": k == 0}
                                   for k, i in enumerate(inspectors)]
        elif roll < 0.8:
            body["line_items"] = [{"service_id": s, "price_cents": rng.randint(100, 90000),
                                   "quantity": rng.randint(1, 3)}
                                  for s in rng.sample(["svc-1", "svc-2", "svc-3", "svc-4"],
                                                      rng.randint(1, 3))]
        elif roll < 0.9:
            body["attributes"] = {"canceled_at": timezone.now().isoformat(),
                                  "cancel_reason": f"reason {len(events)}"}
        else:
            body["attributes"] = {"canceled_at": None, "cancel_reason": None,
                                  "client_name": f"Client {len(events)}"}
        record("inspection.updated", person(spectora, **body))

    planned = []
    for n, (event_type, iid, snapshot) in enumerate(events):
        planned.append((f"msg_{n}", event_type, iid, snapshot))
    planned += rng.sample(planned, 200)  # Spectora re-sends some
    rng.shuffle(planned)
    assert len(planned) == 1000

    snapshots = {msg_id: snapshot for msg_id, _, _, snapshot in planned}
    reading = {}

    def inspection_get(self, inspection_id):
        snapshot = snapshots[reading["msg_id"]]
        if snapshot is None:
            raise importer.PermanentError("gone", status=404)
        return snapshot

    monkeypatch.setattr(SpectoraClient, "inspection_get", inspection_get)
    monkeypatch.setattr(importer, "_inspector_names", lambda *args: {})

    def process_one(pending):
        pk, msg_id = pending.pop(rng.randrange(len(pending)))
        reading["msg_id"] = msg_id
        deliveries.process_delivery(pk)

    # Receiving and processing interleave, and a stored delivery waits a random while.
    answers, pending = Counter(), []
    secret = spectora.connection.webhook_secrets[0]
    for msg_id, event_type, iid, _ in planned:
        body = event_body(event_type, iid, "2030-01-01T00:00:00Z")
        response = deliver(client, spectora.connection, body=body,
                           headers=signed_headers(secret, body, msg_id=msg_id))
        answers[response.status_code] += 1
        if response.status_code == 202:
            pending.append((response.json()["id"], msg_id))
        if pending and rng.random() < 0.6:
            process_one(pending)
    while pending:
        process_one(pending)

    assert answers == {202: 800, 200: 200}
    assert InboundWebhook.objects.count() == 800
    assert not InboundWebhook.objects.filter(processed_at__isnull=True).exists()
    assert set(InboundWebhook.objects.values_list("attempts", flat=True)) == {1}
    final = {job["id"]: job for job in spectora.state()}
    assert set(final) == set(jobs) - deleted
    for iid in jobs:
        links = SpectoraLink.objects.filter(remote_id=iid).select_related("workorder")
        if iid in deleted:  # never imported, or imported and then cancelled
            assert all((link.workorder.status, link.workorder.cancel_reason) == (
                WorkorderStatus.CANCELLED, importer.DELETED_REASON) for link in links), iid
        else:
            (link,) = links
            assert attik_view(link.workorder) == spectora_view(final[iid]), iid
    assert Workorder.objects.count() == SpectoraLink.objects.count() >= len(jobs) - len(deleted)
    assert time.monotonic() - started < 60
