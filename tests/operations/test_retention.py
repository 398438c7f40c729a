"""Retention: old rows go in batches; recent rows and each workorder's latest run stay."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from operations import retention
from spectora_integration.models import (
    InboundWebhook,
    RunState,
    SpectoraConnection,
    SyncCall,
    SyncOutbox,
    SyncRun,
)
from tests.factories import WorkorderFactory
from workorders.models import ActivityEvent

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def aged(model, days: float, field: str, **values):
    row = model.objects.create(**values)
    model.objects.filter(pk=row.pk).update(**{field: NOW - timedelta(days=days)})
    return row


def run(workorder, state=RunState.SUCCEEDED, days=0.0):
    finished = NOW - timedelta(days=days) if state != RunState.QUEUED else None
    row = SyncRun.objects.create(company=workorder.company, workorder=workorder, state=state,
                                 finished_at=finished)
    SyncRun.objects.filter(pk=row.pk).update(created_at=NOW - timedelta(days=days, minutes=1))
    return row


def call(sync_run, days):
    return aged(SyncCall, days, "at", run=sync_run, method="GET", path="/v2/x", status=200)


def test_calls_older_than_30_days_go_and_newer_stay(company):
    sync_run = run(WorkorderFactory(company=company))
    old = [call(sync_run, 45), call(sync_run, 31)]
    kept = [call(sync_run, 29), call(sync_run, 1)]
    assert retention.prune(now=NOW)["sync_calls"] == 2
    assert set(SyncCall.objects.values_list("pk", flat=True)) == {c.pk for c in kept}
    assert not SyncCall.objects.filter(pk__in=[c.pk for c in old]).exists()


def test_finished_runs_older_than_90_days_go_with_their_calls_but_the_latest_stays(company):
    workorder = WorkorderFactory(company=company)
    oldest = run(workorder, days=200)
    older = run(workorder, RunState.FAILED, days=120)
    call(older, 120)
    SyncOutbox.objects.create(run=older)
    latest = run(workorder, days=100)  # old, but the workorder's latest: kept
    lone = run(WorkorderFactory(company=company), RunState.SKIPPED, days=150)  # its only run
    recent_wo = WorkorderFactory(company=company)
    stale_but_recent = run(recent_wo, days=95)
    run(recent_wo, days=10)
    counts = retention.prune(now=NOW)
    assert counts["sync_runs"] == 3
    assert set(SyncRun.objects.values_list("pk", flat=True)) >= {latest.pk, lone.pk}
    for gone in (oldest, older, stale_but_recent):
        assert not SyncRun.objects.filter(pk=gone.pk).exists()
    assert not SyncOutbox.objects.exists()


def test_unfinished_runs_are_never_pruned(company):
    workorder = WorkorderFactory(company=company)
    queued = run(workorder, RunState.QUEUED, days=300)
    run(workorder, days=1)
    running = run(WorkorderFactory(company=company), RunState.RUNNING, days=300)
    run(running.workorder, days=1)
    retention.prune(now=NOW)
    assert SyncRun.objects.filter(pk__in=[queued.pk, running.pk]).count() == 2


def test_webhooks_after_14_days_and_activity_after_a_year(company):
    connection = SpectoraConnection.objects.create(company=company)
    aged(InboundWebhook, 15, "received_at", connection=connection, webhook_id="old")
    new = aged(InboundWebhook, 13, "received_at", connection=connection, webhook_id="new")
    aged(ActivityEvent, 400, "created_at", company=company, verb="x", message="old")
    recent = aged(ActivityEvent, 300, "created_at", company=company, verb="x", message="new")
    counts = retention.prune(now=NOW)
    assert counts["inbound_webhooks"] == 1 and counts["activity_events"] == 1
    assert list(InboundWebhook.objects.values_list("pk", flat=True)) == [new.pk]
    assert list(ActivityEvent.objects.values_list("pk", flat=True)) == [recent.pk]


def test_ages_come_from_settings(company, settings):
    sync_run = run(WorkorderFactory(company=company))
    call(sync_run, 10)
    settings.ATTIK_RETAIN_SYNC_CALLS_DAYS = 30
    assert retention.prune(now=NOW)["sync_calls"] == 0
    settings.ATTIK_RETAIN_SYNC_CALLS_DAYS = 7
    assert retention.prune(now=NOW)["sync_calls"] == 1


def test_it_deletes_in_batches_of_bounded_size(company):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sync_run = run(WorkorderFactory(company=company))
    for _ in range(25):
        call(sync_run, 40)
    kept = call(sync_run, 1)
    policy = next(p for p in retention.policies() if p.name == "sync_calls")
    with CaptureQueriesContext(connection) as queries:
        assert retention.prune_table(policy, now=NOW, batch=4) == 25
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) >= 7  # 25 rows, 4 ids per window
    assert all('"id" >= ' in sql and '"id" < ' in sql for sql in deletes)
    assert list(SyncCall.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_walk_stops_at_the_first_window_of_recent_rows(company):
    sync_run = run(WorkorderFactory(company=company))
    call(sync_run, 40)
    call(sync_run, 1)
    late = call(sync_run, 40)  # out of id order: left for a later day, not hunted for
    policy = next(p for p in retention.policies() if p.name == "sync_calls")
    assert retention.prune_table(policy, now=NOW, batch=1) == 1
    assert SyncCall.objects.filter(pk=late.pk).exists()


def test_the_command_dry_run_counts_and_deletes_nothing(company):
    sync_run = run(WorkorderFactory(company=company))
    call(sync_run, 40)
    out = StringIO()
    call_command("prune", "--dry-run", stdout=out)
    assert "Would delete 1 sync calls" in out.getvalue()
    assert SyncCall.objects.count() == 1
    out = StringIO()
    call_command("prune", stdout=out)
    assert "Deleted 1 sync calls" in out.getvalue()
    assert SyncCall.objects.count() == 0


def test_it_logs_the_counts(company, caplog):
    sync_run = run(WorkorderFactory(company=company))
    call(sync_run, 40)
    with caplog.at_level("INFO", logger="operations.retention"):
        retention.prune(now=NOW)
    assert "pruned old rows: sync_calls=1 sync_runs=0" in caplog.text


def test_the_daily_task_prunes(company, settings):
    from operations.tasks import prune

    sync_run = run(WorkorderFactory(company=company))
    call(sync_run, 40)
    assert prune()["sync_calls"] == 1
    assert settings.CELERY_BEAT_SCHEDULE["operations-prune"]["task"] == "operations.prune"
