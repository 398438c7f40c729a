"""The drift scan: catching up on Spectora without webhooks, and its watermark."""

import threading
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone

from spectora_integration import tasks
from spectora_integration.client import SpectoraClient, parse_time
from spectora_integration.inbound import deliveries, drift, importer
from spectora_integration.models import (
    ConnectionState,
    InboundWebhook,
    RunState,
    SpectoraConnection,
    SpectoraLink,
    SyncRun,
    Trigger,
)
from tests.spectora_fixtures import connect_company
from tests.spectora_integration.test_inbound import (
    attik_view,
    new_job,
    person,
    remote_id_of,
    spectora_view,
    workorder_for,
)
from tests.spectora_integration.test_sync import book, drain, sync
from tests.spectora_integration.test_webhooks import deliver
from workorders.models import ActivityEvent, Workorder


@pytest.fixture(autouse=True)
def no_broker(queued):
    return queued["runs"]


def scan(wired):
    wired.connection.refresh_from_db()
    return drift.drift_scan(wired.connection)


def list_queries(wired) -> list[dict]:
    return [parse_qs(r["query"]) for r in wired.requests_log()
            if r["method"] == "GET" and r["path"] == "/v2/inspections"]


@pytest.mark.django_db
class TestScan:
    def test_the_first_scan_looks_back_a_day_and_imports_spectora_origin_jobs(self, spectora):
        first, second = new_job(spectora), new_job(spectora, full_address="2 Ash Ct")

        result = scan(spectora)

        assert result.error == ""
        assert result.outcomes == {importer.CREATED: 2}
        for job in (first, second):
            assert attik_view(workorder_for(job["id"])) == spectora_view(job)
        (query,) = list_queries(spectora)
        since = parse_time(query["filter[updated_since]"][0])
        assert abs(since - (timezone.now() - timedelta(hours=24))) < timedelta(minutes=1)
        assert query["sort"] == ["updated_at"]
        spectora.connection.refresh_from_db()
        assert spectora.connection.drift_watermark == parse_time(second["updated_at"])

    def test_the_next_scan_starts_five_seconds_before_the_watermark(self, spectora):
        new_job(spectora)
        scan(spectora)
        watermark = SpectoraConnection.objects.get(pk=spectora.connection.pk).drift_watermark
        later = person(spectora, id=new_job(spectora)["id"], attributes={"notes": "n"})

        result = scan(spectora)

        since = parse_time(list_queries(spectora)[-1]["filter[updated_since]"][0])
        assert since == watermark - timedelta(seconds=5)
        assert result.outcomes[importer.CREATED] == 1
        assert result.outcomes[importer.UNCHANGED] == 1  # the overlap, not read again
        assert result.watermark == parse_time(later["updated_at"])

    def test_states_already_applied_are_not_read_again(self, spectora):
        job = new_job(spectora)
        importer.inspection_receive(spectora.connection, job["id"])
        mark = len(spectora.requests_log())

        result = scan(spectora)

        assert result.outcomes == {importer.UNCHANGED: 1}
        reads = [r for r in spectora.requests_log()[mark:]
                 if r["path"] == f"/v2/inspections/{job['id']}"]
        assert reads == []

    def test_an_error_leaves_the_watermark_unchanged(self, spectora):
        new_job(spectora)
        scan(spectora)
        watermark = SpectoraConnection.objects.get(pk=spectora.connection.pk).drift_watermark
        newer = new_job(spectora)
        spectora.faults({"method": "GET", "path": "/v2/inspections/*", "mode": "error",
                         "status": 503})

        result = scan(spectora)

        assert "server error" in result.error
        assert SpectoraConnection.objects.get(pk=spectora.connection.pk).drift_watermark == (
            watermark)
        spectora.faults()
        assert scan(spectora).outcomes[importer.CREATED] == 1
        assert workorder_for(newer["id"])

    def test_a_timeout_leaves_the_watermark_unchanged(self, spectora, settings):
        new_job(spectora)
        # The scan's calls use the same timeout settings as every other call.
        settings.SPECTORA_CONNECT_TIMEOUT_SECONDS = 1.0
        settings.SPECTORA_READ_TIMEOUT_SECONDS = 0.3
        spectora.faults({"method": "GET", "path": "/v2/inspections", "mode": "timeout",
                         "delay_ms": 1000})

        result = scan(spectora)

        assert "did not answer in time" in result.error
        assert SpectoraConnection.objects.get(pk=spectora.connection.pk).drift_watermark is None
        assert not Workorder.objects.exists()

    def test_the_watermark_never_moves_backwards(self, spectora):
        job = new_job(spectora)
        ahead = parse_time(job["updated_at"]) + timedelta(hours=1)
        SpectoraConnection.objects.filter(pk=spectora.connection.pk).update(
            drift_watermark=ahead)
        spectora.connection.refresh_from_db()
        spectora.connection.drift_watermark = None  # a scan that started before the other

        drift.drift_scan(spectora.connection)

        assert SpectoraConnection.objects.get(pk=spectora.connection.pk).drift_watermark == ahead

    def test_the_scan_finds_and_repairs_drift_of_an_attik_job(self, spectora):
        wo = book(spectora)
        sync(wo)
        person(spectora, id=remote_id_of(wo), attributes={"duration": 45})

        result = scan(spectora)

        assert result.outcomes == {importer.DRIFT: 1}
        run = SyncRun.objects.get(workorder=wo, state=RunState.QUEUED)
        assert run.trigger == Trigger.DRIFT
        assert ActivityEvent.objects.filter(workorder=wo, verb="spectora_drift").count() == 1
        drain(wo)
        assert spectora.state()[0]["duration"] == wo.duration_minutes
        assert scan(spectora).outcomes.get(importer.DRIFT, 0) == 0

    def test_every_connected_company_is_scanned_and_no_other(self, spectora, other_company,
                                                             sandbox):
        other = connect_company(other_company, sandbox)
        SpectoraConnection.objects.filter(pk=other.connection.pk).update(
            state=ConnectionState.DISCONNECTED)
        new_job(spectora)

        results = tasks.drift_scan.apply().get()

        assert list(results) == [spectora.connection.pk]
        assert results[spectora.connection.pk]["outcomes"] == {importer.CREATED: 1}

    def test_beat_runs_the_scan_every_configured_number_of_seconds(self):
        entry = settings.CELERY_BEAT_SCHEDULE["spectora-drift-scan"]
        assert entry == {"task": "spectora.drift_scan",
                         "schedule": settings.SPECTORA_DRIFT_SCAN_SECONDS}
        assert settings.SPECTORA_DRIFT_SCAN_SECONDS == 60
        assert tasks.drift_scan.name == "spectora.drift_scan"


@pytest.mark.django_db(transaction=True)
def test_a_webhook_arriving_while_the_drift_scan_runs_makes_one_workorder(
    company, sandbox, client, monkeypatch
):
    wired = connect_company(company, sandbox)
    job = new_job(wired)
    deliver(client, wired.connection, "inspection.created", job["id"])
    delivery = InboundWebhook.objects.get()
    both_have_read = threading.Barrier(2, timeout=15)
    real_get = SpectoraClient.inspection_get

    def inspection_get(self, inspection_id):
        inspection = real_get(self, inspection_id)
        both_have_read.wait()  # neither writes before the other has read
        return inspection

    monkeypatch.setattr(SpectoraClient, "inspection_get", inspection_get)
    outcomes, errors = {}, []

    def run(name, work):
        try:
            outcomes[name] = work()
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            db_connection.close()

    threads = [
        threading.Thread(target=run, args=("scan", lambda: drift.drift_scan(
            SpectoraConnection.objects.get(pk=wired.connection.pk)).outcomes)),
        threading.Thread(target=run, args=("webhook", lambda: deliveries.process_delivery(
            delivery.pk))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert Workorder.objects.count() == 1
    assert SpectoraLink.objects.filter(remote_id=job["id"]).count() == 1
    results = [outcomes["webhook"], *outcomes["scan"]]
    assert sorted(results) == sorted([importer.CREATED, importer.UNCHANGED])
    assert ActivityEvent.objects.filter(verb="spectora_imported").count() == 1
