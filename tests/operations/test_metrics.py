"""/metrics: names and labels, figures read from the database, the bearer token."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from spectora_integration.models import (
    InboundWebhook,
    RunState,
    SpectoraConnection,
    SyncCall,
    SyncRun,
    Trigger,
)
from tests.factories import WorkorderFactory

ROOT = Path(__file__).resolve().parent.parent.parent


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return samples(response.content.decode())


def samples(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def run(company, state, trigger=Trigger.MANUAL, **fields):
    return SyncRun.objects.create(company=company, workorder=WorkorderFactory(company=company),
                                  state=state, trigger=trigger, **fields)


@pytest.fixture
def activity(company):
    now = timezone.now()
    done = run(company, RunState.SUCCEEDED, started_at=now - timedelta(seconds=3),
               finished_at=now)
    run(company, RunState.SUCCEEDED, Trigger.AUTO, started_at=now - timedelta(seconds=40),
        finished_at=now)
    run(company, RunState.FAILED, Trigger.AUTO, started_at=now - timedelta(seconds=0.2),
        finished_at=now)
    run(company, RunState.QUEUED)
    old = run(company, RunState.QUEUED)
    SyncRun.objects.filter(pk=old.pk).update(created_at=now - timedelta(seconds=90))
    run(company, RunState.QUEUED, attempts=2, next_attempt_at=now + timedelta(seconds=60))
    SyncCall.objects.create(run=done, method="POST", path="/v2/inspections", status=201)
    SyncCall.objects.create(run=done, method="POST", path="/v2/inspections", status=201)
    SyncCall.objects.create(run=done, method="PATCH", path="/v2/inspections/1", status=503)
    SyncCall.objects.create(run=done, method="GET", path="/v2/inspections/1", status=None,
                            error="timeout")
    connection_ = SpectoraConnection.objects.create(company=company)
    InboundWebhook.objects.create(connection=connection_, webhook_id="a", processed_at=now)
    InboundWebhook.objects.create(connection=connection_, webhook_id="b", error="boom")
    InboundWebhook.objects.create(connection=connection_, webhook_id="c")
    return connection_


@pytest.mark.django_db
def test_it_exposes_every_metric_with_its_labels(client, activity):
    found = scrape(client)
    assert found[("attik_sync_runs_total", (("state", "succeeded"), ("trigger", "manual")))] == 1
    assert found[("attik_sync_runs_total", (("state", "succeeded"), ("trigger", "auto")))] == 1
    assert found[("attik_sync_runs_total", (("state", "failed"), ("trigger", "auto")))] == 1
    assert found[("attik_sync_runs_total", (("state", "queued"), ("trigger", "manual")))] == 3
    assert found[("attik_spectora_calls_total", (("method", "POST"), ("status", "201")))] == 2
    assert found[("attik_spectora_calls_total", (("method", "PATCH"), ("status", "503")))] == 1
    assert found[("attik_spectora_calls_total", (("method", "GET"), ("status", "none")))] == 1
    assert found[("attik_sync_queue_depth", ())] == 2
    assert found[("attik_sync_retrying", ())] == 1
    assert 89 <= found[("attik_sync_oldest_queued_seconds", ())] <= 120
    assert found[("attik_sync_duration_seconds_bucket", (("le", "0.5"),))] == 1
    assert found[("attik_sync_duration_seconds_bucket", (("le", "5.0"),))] == 2
    assert found[("attik_sync_duration_seconds_bucket", (("le", "60.0"),))] == 3
    assert found[("attik_sync_duration_seconds_bucket", (("le", "+Inf"),))] == 3
    assert found[("attik_sync_duration_seconds_count", ())] == 3
    assert found[("attik_sync_duration_seconds_sum", ())] == pytest.approx(43.2, abs=0.01)
    label = (("connection", str(activity.pk)),)
    assert found[("attik_connection_paused", label)] == 0
    for outcome in ("processed", "failed", "pending"):
        assert found[("attik_webhook_deliveries_total", (("outcome", outcome),))] == 1


@pytest.mark.django_db
def test_a_paused_connection_reads_1_until_the_breaker_resumes_it(client, activity):
    label = ("attik_connection_paused", (("connection", str(activity.pk)),))
    assert scrape(client)[label] == 0
    SpectoraConnection.objects.filter(pk=activity.pk).update(  # what sync/breaker.py writes
        paused_at=timezone.now(), paused_until=timezone.now() + timedelta(minutes=5))
    assert scrape(client)[label] == 1
    SpectoraConnection.objects.filter(pk=activity.pk).update(  # its probe is due: still paused
        paused_until=timezone.now() - timedelta(minutes=5))
    assert scrape(client)[label] == 1
    SpectoraConnection.objects.filter(pk=activity.pk).update(paused_at=None, paused_until=None)
    assert scrape(client)[label] == 0


@pytest.mark.django_db
def test_the_duration_histogram_ignores_runs_older_than_its_window(client, company):
    now = timezone.now()
    old = run(company, RunState.SUCCEEDED, started_at=now - timedelta(days=2, seconds=3),
              finished_at=now - timedelta(days=2))
    SyncRun.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2, seconds=4))
    assert scrape(client)[("attik_sync_duration_seconds_count", ())] == 0


@pytest.mark.django_db
def test_the_token_is_required_when_set(client, settings):
    settings.ATTIK_METRICS_TOKEN = "s3cret-token-for-prometheus"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics",
                      HTTP_AUTHORIZATION="Token s3cret-token-for-prometheus").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token-for-prometheus")
    assert response.status_code == 200
    assert b"attik_sync_queue_depth" in response.content
    assert b"s3cret" not in client.get("/metrics").content


@pytest.mark.django_db
def test_no_token_set_means_open(client, settings):
    settings.ATTIK_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200


SCRAPE = """
import django; django.setup()
import sys
from django.test import Client
from django.utils import timezone
from spectora_integration.models import SyncRun, SyncCall
from workorders.models import Workorder
if sys.argv[1] == "work":
    wo = Workorder.objects.first()
    for state in ("succeeded", "failed"):
        r = SyncRun.objects.create(company_id=wo.company_id, workorder=wo, state=state,
                                   started_at=timezone.now(), finished_at=timezone.now())
        SyncCall.objects.create(run=r, method="POST", path="/v2/inspections", status=201)
sys.stdout.write(Client().get("/metrics").content.decode())
"""


def scrape_in_a_process(role: str) -> dict:
    env = dict(os.environ, ATTIK_DB_NAME=str(connection.settings_dict["NAME"]),
               DJANGO_SETTINGS_MODULE="attik.settings", ATTIK_METRICS_TOKEN="")
    done = subprocess.run([sys.executable, "-c", SCRAPE, role], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return samples(done.stdout)


@pytest.mark.django_db(transaction=True)
def test_two_processes_scrape_the_same_figures_as_the_one_that_did_the_work(client, company):
    WorkorderFactory(company=company)
    worker = scrape_in_a_process("work")
    other = scrape_in_a_process("scrape")
    key = ("attik_sync_runs_total", (("state", "failed"), ("trigger", "manual")))
    assert worker[key] == 1
    assert ("attik_spectora_calls_total", (("method", "POST"), ("status", "201"))) in other
    volatile = {"attik_sync_oldest_queued_seconds"}
    assert {k: v for k, v in worker.items() if k[0] not in volatile} == {
        k: v for k, v in other.items() if k[0] not in volatile}
    assert {k: v for k, v in scrape(client).items() if k[0] not in volatile} == {
        k: v for k, v in other.items() if k[0] not in volatile}
