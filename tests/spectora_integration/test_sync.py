"""The sync engine against the sandbox over real HTTP (runs executed in-process)."""

import random
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection as db_connection
from django.utils import timezone

from spectora_integration.models import (
    RunKind,
    RunState,
    SpectoraLink,
    SyncCall,
    SyncRun,
    SyncState,
    Trigger,
)
from spectora_integration.sync import engine, runs
from spectora_integration.sync.backoff import backoff_delay
from tests.factories import WorkorderFactory
from workorders.models import Origin
from workorders.services import (
    AssigneeInput,
    LineItemInput,
    workorder_cancel,
    workorder_create,
    workorder_update,
)

WRITES = {"POST", "PATCH", "DELETE"}

pytestmark = pytest.mark.usefixtures("no_auto_sync_on_booking")  # Sync of never-synced jobs



@pytest.fixture(autouse=True)
def enqueued(queued):
    """No broker here: the test drives runs itself. Records what would be enqueued."""
    return queued["runs"]


def book(wired, user=None, inspectors=None, services_=None, **values):
    inspectors = wired.inspectors[:2] if inspectors is None else inspectors
    services_ = wired.services[:2] if services_ is None else services_
    base = {
        "scheduled_at": timezone.now().replace(microsecond=0) + timedelta(days=2),
        "duration_minutes": 120,
        "address": "12 Elm St",
        "client_name": "Avery Johnson",
        "client_email": "avery@example.com",
    }
    base.update(values)
    return workorder_create(
        company=wired.connection.company,
        user=user,
        values=base,
        assignees=[AssigneeInput(e, i == 0) for i, e in enumerate(inspectors)],
        line_items=[LineItemInput(s) for s in services_],
    )


def drain(workorder, limit=20):
    """Run every queued run of the workorder until none is left, ignoring backoff waits."""
    last = None
    for _ in range(limit):
        run = SyncRun.objects.filter(workorder=workorder, state=RunState.QUEUED).first()
        if run is None:
            return last
        SyncRun.objects.filter(pk=run.pk).update(next_attempt_at=None)
        engine.sync_execute(run.pk)
        last = SyncRun.objects.get(pk=run.pk)
    raise AssertionError("runs never settled")


def sync(workorder, user=None, **kwargs):
    run = runs.sync_request(workorder, user, **kwargs)
    drain(workorder)
    run.refresh_from_db()
    return run


def only_inspection(wired):
    state = wired.state()
    assert len(state) == 1, state
    return state[0]


def assert_matches(wired, workorder):
    """Spectora's job equals Attik's workorder, with no duplicates."""
    job = only_inspection(wired)
    wanted_assignees = {
        (a.employee.spectora_inspector_id, a.primary) for a in workorder.assignments.all()
    }
    got_assignees = [(a["inspector_id"], a["primary"]) for a in job["assignments"]]
    assert sorted(got_assignees) == sorted(wanted_assignees)
    wanted_items = sorted(
        (li.service.spectora_service_id, li.price_cents, li.quantity)
        for li in workorder.line_items.all()
    )
    got_items = sorted(
        (i["service_id"], i["price_cents"], i["quantity"]) for i in job["line_items"]
    )
    assert got_items == wanted_items
    wanted_templates = sorted(
        {
            rt.spectora_template_id
            for li in workorder.line_items.all()
            for rt in li.service.report_types.all()
        }
    )
    assert sorted(r["template_id"] for r in job["reports"]) == wanted_templates
    assert job["full_address"] == workorder.address
    assert job["duration"] == workorder.duration_minutes
    return job


def writes_since(wired, mark):
    return [r for r in wired.requests_log()[mark:] if r["method"] in WRITES]


@pytest.mark.django_db
class TestSync:
    def test_it_creates_the_job_with_assignees_line_items_and_reports(self, spectora, office_user):
        wo = book(spectora, office_user)
        run = sync(wo, office_user)
        assert run.state == RunState.SUCCEEDED, run.reason
        job = assert_matches(spectora, wo)
        link = SpectoraLink.objects.get(workorder=wo)
        assert (link.remote_id, link.sync_state) == (job["id"], SyncState.SYNCED)
        assert link.url == job["url"]
        assert link.last_synced_at is not None
        assert job["external_ref"] == f"attik-{wo.company_id}-{wo.pk}"
        assert run.calls.count() >= 6

    def test_a_noop_sync_makes_one_get_and_no_write(self, spectora):
        wo = book(spectora)
        sync(wo)
        mark = len(spectora.requests_log())
        run = sync(wo)
        log = spectora.requests_log()[mark:]
        assert [(r["method"], r["path"]) for r in log] == [
            ("GET", f"/v2/inspections/{only_inspection(spectora)['id']}")
        ]
        assert run.reason == "Already up to date: nothing to send."

    def test_one_change_makes_one_write(self, spectora, office_user):
        wo = book(spectora)
        sync(wo)
        mark = len(spectora.requests_log())
        workorder_update(
            wo, user=office_user, values={"notes": "Dog in yard"}, expected_version=None
        )
        drain(wo)
        assert [(r["method"]) for r in writes_since(spectora, mark)] == ["PATCH"]
        assert only_inspection(spectora)["notes"] == "Dog in yard"

    def test_removed_assignees_are_removed_and_the_primary_follows(self, spectora, office_user):
        a, b, c, _ = spectora.inspectors
        wo = book(spectora, inspectors=[a, b])
        sync(wo)
        workorder_update(
            wo,
            user=office_user,
            values={},
            expected_version=None,
            assignees=[AssigneeInput(c, True), AssigneeInput(b, False)],
        )
        drain(wo)
        job = assert_matches(spectora, wo)
        assert {x["inspector_id"] for x in job["assignments"]} == {"insp-2", "insp-3"}
        assert [x["inspector_id"] for x in job["assignments"] if x["primary"]] == ["insp-3"]

    def test_line_items_and_reports_follow_without_duplicates(self, spectora, office_user):
        s1, s2, s3, _ = spectora.services
        wo = book(spectora, services_=[s1, s2])
        sync(wo)
        workorder_update(
            wo,
            user=office_user,
            values={},
            expected_version=None,
            line_items=[LineItemInput(s2, 999, 2), LineItemInput(s3)],
        )
        drain(wo)
        for _ in range(3):
            sync(wo)
        assert_matches(spectora, wo)

    def test_force_resends_everything_without_duplicates(self, spectora):
        wo = book(spectora)
        sync(wo)
        mark = len(spectora.requests_log())
        run = sync(wo, force=True)
        assert run.state == RunState.SUCCEEDED
        writes = writes_since(spectora, mark)
        assert {w["method"] for w in writes} == {"PATCH"}
        assert len(writes) == 1 + 2 + 2  # the job, two assignments, two line items
        assert_matches(spectora, wo)

    def test_a_report_with_content_is_never_removed(self, spectora, office_user):
        s1, s2, *_ = spectora.services
        wo = book(spectora, services_=[s1, s2])
        sync(wo)
        job = only_inspection(spectora)
        started = next(r for r in job["reports"] if r["template_id"] == "tpl-2")
        spectora.control(f"reports/{started['id']}", {"status": "started"})
        workorder_update(
            wo, user=office_user, values={}, expected_version=None, line_items=[LineItemInput(s1)]
        )
        run = drain(wo)
        assert run.state == RunState.SUCCEEDED
        assert "already has content" in run.reason
        assert {r["template_id"] for r in only_inspection(spectora)["reports"]} == {
            "tpl-1",
            "tpl-2",
        }

    def test_it_previews_without_sending(self, spectora):
        wo = book(spectora)
        mark = len(spectora.requests_log())
        preview = engine.sync_preview(wo)
        assert preview["eligible"]
        assert preview["operations"][0]["op"] == "create_inspection"
        assert writes_since(spectora, mark) == []
        assert spectora.state() == []

    def test_reassigning_a_hundred_random_times_keeps_spectora_equal(self, spectora, office_user):
        rng = random.Random(7)
        wo = book(spectora)
        sync(wo)
        for _ in range(100):
            team = rng.sample(spectora.inspectors, k=rng.randint(1, 4))
            primary = rng.randrange(len(team))
            wo.refresh_from_db()
            workorder_update(
                wo,
                user=office_user,
                values={},
                expected_version=wo.version,
                assignees=[AssigneeInput(e, i == primary) for i, e in enumerate(team)],
            )
            drain(wo)
            assert_matches(spectora, wo)


@pytest.mark.django_db
class TestEligibility:
    @pytest.mark.parametrize(
        "case,code",
        [
            ("not_connected", "not_connected"),
            ("cancelled", "cancelled"),
            ("spectora_origin", "spectora_origin"),
            ("unlinked_inspector", "missing_links"),
            ("unmapped_service", "missing_links"),
        ],
    )
    def test_it_skips_ineligible_workorders_with_a_reason(self, spectora, office_user, case, code):
        inspectors, services_ = spectora.inspectors[:1], spectora.services[:1]
        if case == "unlinked_inspector":
            inspectors = [spectora.unlinked]
        if case == "unmapped_service":
            services_ = [spectora.unmapped]
        wo = book(spectora, inspectors=inspectors, services_=services_)
        if case == "not_connected":
            spectora.connection.delete()
        if case == "cancelled":
            workorder_cancel(wo, user=office_user, reason="Sold")
        if case == "spectora_origin":
            type(wo).objects.filter(pk=wo.pk).update(origin=Origin.SPECTORA)
        wo.refresh_from_db()
        with pytest.raises(runs.SyncRefused) as refused:
            runs.sync_request(wo, office_user, strict=True)
        assert refused.value.ineligible.code == code
        run = sync(wo, office_user)
        assert (run.state, run.reason_code) == (RunState.SKIPPED, code)
        assert run.reason
        assert spectora.state() == []

    def test_the_reason_names_what_is_missing(self, spectora):
        wo = book(spectora, inspectors=[spectora.unlinked], services_=[spectora.unmapped])
        run = sync(wo)
        assert spectora.unlinked.name in run.reason
        assert spectora.unmapped.name in run.reason
        assert "Sync Spectora Staff" in run.reason


@pytest.mark.django_db
class TestFaults:
    def test_it_retries_on_503_then_succeeds(self, spectora):
        wo = book(spectora)
        spectora.faults(
            {
                "method": "POST",
                "path": "/v2/inspections",
                "mode": "error",
                "status": 503,
                "times": 2,
            }
        )
        run = sync(wo)
        assert (run.state, run.attempts) == (RunState.SUCCEEDED, 3)
        assert_matches(spectora, wo)

    def test_applied_then_error_on_create_still_makes_one_job(self, spectora):
        wo = book(spectora)
        spectora.faults(
            {
                "method": "POST",
                "path": "/v2/inspections",
                "mode": "applied_then_error",
                "status": 500,
                "times": 1,
            }
        )
        run = sync(wo)
        assert run.state == RunState.SUCCEEDED
        assert_matches(spectora, wo)

    def test_applied_then_error_on_children_makes_no_duplicates(self, spectora):
        wo = book(spectora)
        spectora.faults(
            {
                "method": "POST",
                "path": "/v2/inspections/*",
                "mode": "applied_then_error",
                "status": 502,
                "rate": 0.3,
            },
            seed=3,
        )
        run = sync(wo)
        assert spectora.faults_fired() >= 2
        assert run.state == RunState.SUCCEEDED
        assert_matches(spectora, wo)

    def test_a_timeout_is_retried(self, spectora, settings):
        settings.SPECTORA_READ_TIMEOUT_SECONDS = 0.5
        wo = book(spectora)
        spectora.faults(
            {
                "method": "POST",
                "path": "/v2/inspections",
                "mode": "timeout",
                "delay_ms": 1500,
                "times": 1,
            }
        )
        run = sync(wo)
        assert (run.state, run.attempts) == (RunState.SUCCEEDED, 2)
        assert SyncCall.objects.filter(run=run, status__isnull=True).exists()
        assert_matches(spectora, wo)

    def test_a_sync_lock_is_retried_later(self, spectora, office_user):
        wo = book(spectora)
        sync(wo)
        spectora.control("lock", {"inspection_id": only_inspection(spectora)["id"], "seconds": 60})
        workorder_update(wo, user=office_user, values={"notes": "x"}, expected_version=None)
        run = SyncRun.objects.get(workorder=wo, state=RunState.QUEUED)
        engine.sync_execute(run.pk)
        run.refresh_from_db()
        assert run.state == RunState.QUEUED
        assert "Sync Lock" in run.reason
        assert SpectoraLink.objects.get(workorder=wo).sync_state == SyncState.QUEUED

    def test_429_honours_retry_after(self, spectora):
        wo = book(spectora)
        spectora.control("rate_limit", {"per_second": 1, "burst": 1})
        run = runs.sync_request(wo)
        before = timezone.now()
        for _ in range(3):
            SyncRun.objects.filter(pk=run.pk).update(next_attempt_at=None)
            engine.sync_execute(run.pk)
            run.refresh_from_db()
            if run.state == RunState.QUEUED:
                break
        assert run.state == RunState.QUEUED, run.reason
        assert run.next_attempt_at >= before + timedelta(seconds=1)
        assert "rate limit" in run.reason
        assert (run.attempts, run.deferrals) == (0, 1)  # waiting is not a failed attempt

    def test_rate_limiting_alone_never_fails_a_run(self, spectora):
        wo = book(spectora)
        spectora.faults({"method": "*", "path": "/v2/*", "mode": "error", "status": 429,
                         "times": runs.MAX_ATTEMPTS + 2})
        run = sync(wo)
        assert run.state == RunState.SUCCEEDED
        assert run.deferrals == runs.MAX_ATTEMPTS + 2
        assert run.attempts == 1

    def test_a_permanent_error_fails_at_once_and_tells_the_admins(self, spectora, admin_user):
        wo = book(spectora)
        spectora.faults(
            {"method": "POST", "path": "/v2/inspections", "mode": "error", "status": 422}
        )
        run = sync(wo)
        assert (run.state, run.attempts) == (RunState.FAILED, 1)
        link = SpectoraLink.objects.get(workorder=wo)
        assert (link.sync_state, link.last_error) == (SyncState.FAILED, run.reason)
        assert len(mail.outbox) == 1
        assert admin_user.email in mail.outbox[0].to
        assert "sandbox-key" not in mail.outbox[0].body

    def test_transient_errors_fail_after_the_cap(self, spectora, settings):
        settings.SPECTORA_BREAKER_FAILURES = 1000  # one run alone: the breaker stays out
        wo = book(spectora)
        spectora.faults({"method": "*", "path": "/v2/*", "mode": "error", "status": 503})
        run = sync(wo)
        assert (run.state, run.attempts) == (RunState.FAILED, runs.MAX_ATTEMPTS)
        assert run.reason.startswith("Gave up after")

    def test_backoff_is_capped_jittered_and_honours_retry_after(self):
        for attempt in range(1, 20):
            delay = backoff_delay(attempt, None, base=runs.BACKOFF_BASE_SECONDS,
                                  cap=runs.BACKOFF_CAP_SECONDS)
            assert 0 < delay <= runs.BACKOFF_CAP_SECONDS
        cap = runs.BACKOFF_CAP_SECONDS
        assert backoff_delay(1, 30, base=2, cap=cap) >= 30
        assert backoff_delay(1, 10_000, base=2, cap=cap) <= cap


@pytest.mark.django_db
class TestCancelAndAutoSync:
    def test_cancel_after_link_cancels_the_job(self, spectora, office_user):
        wo = book(spectora)
        sync(wo)
        workorder_cancel(wo, user=office_user, reason="Buyer walked")
        drain(wo)
        job = only_inspection(spectora)
        assert job["canceled_at"]
        assert job["cancel_reason"] == "Buyer walked"

    def test_cancel_before_the_job_exists_is_applied_once_linked(self, spectora, office_user):
        wo = book(spectora)
        # The create reaches Spectora but the answer is lost; then the office cancels.
        spectora.faults(
            {
                "method": "POST",
                "path": "/v2/inspections",
                "mode": "applied_then_error",
                "status": 500,
                "times": 1,
            }
        )
        run = runs.sync_request(wo)
        engine.sync_execute(run.pk)
        assert not SpectoraLink.objects.get(workorder=wo).linked
        workorder_cancel(wo, user=office_user, reason="Changed mind")
        drain(wo)
        job = only_inspection(spectora)
        assert job["canceled_at"] and job["cancel_reason"] == "Changed mind"
        assert SyncRun.objects.get(workorder=wo, kind=RunKind.SYNC).state == RunState.SKIPPED

    def test_a_never_synced_workorder_sends_nothing_on_cancel(self, spectora, office_user):
        wo = book(spectora)
        workorder_cancel(wo, user=office_user, reason="Gone")
        assert not SyncRun.objects.filter(workorder=wo).exists()

    def test_ten_edits_make_one_sync(self, spectora, office_user, enqueued):
        wo = book(spectora)
        sync(wo)
        for n in range(10):
            workorder_update(
                wo, user=office_user, values={"notes": f"edit {n}"}, expected_version=None
            )
        queued = SyncRun.objects.filter(workorder=wo, state=RunState.QUEUED)
        assert queued.count() == 1
        assert len(queued.get().requesters) == 10
        assert queued.get().trigger == Trigger.AUTO
        drain(wo)
        assert only_inspection(spectora)["notes"] == "edit 9"

    def test_unlinked_workorders_do_not_auto_sync(self, spectora, office_user):
        wo = book(spectora)
        workorder_update(wo, user=office_user, values={"notes": "x"}, expected_version=None)
        assert not SyncRun.objects.filter(workorder=wo).exists()


@pytest.mark.django_db
class TestRunsAndOutbox:
    def test_retry_queues_a_fresh_run_and_dismiss_hides_it(self, spectora, office_user):
        wo = book(spectora)
        spectora.faults(
            {
                "method": "POST",
                "path": "/v2/inspections",
                "mode": "error",
                "status": 400,
                "times": 1,
            }
        )
        failed = sync(wo)
        assert failed.state == RunState.FAILED
        assert runs.sync_retry(SyncRun.objects.filter(pk=failed.pk), office_user) == 1
        failed.refresh_from_db()
        assert failed.dismissed_at is not None
        rerun = drain(wo)
        assert rerun.state == RunState.SUCCEEDED
        assert rerun.trigger == Trigger.RETRY

    def test_the_sweeper_reenqueues_lost_messages(self, spectora, enqueued):
        wo = book(spectora)
        run = runs.sync_request(wo)
        assert runs.sweep_outbox() == 0  # too fresh
        later = timezone.now() + timedelta(seconds=runs.SWEEP_AFTER_SECONDS + 5)
        assert runs.sweep_outbox(now=later) == 1
        assert enqueued[-1] == run.pk

    def test_the_sweeper_frees_a_run_left_by_a_dead_worker(self, spectora, enqueued):
        wo = book(spectora)
        run = runs.sync_request(wo)
        SyncRun.objects.filter(pk=run.pk).update(
            state=RunState.RUNNING, started_at=timezone.now() - timedelta(minutes=10)
        )
        later = timezone.now() + timedelta(seconds=runs.SWEEP_AFTER_SECONDS + 5)
        runs.sweep_outbox(now=later)
        run.refresh_from_db()
        assert run.state == RunState.QUEUED
        assert drain(wo).state == RunState.SUCCEEDED

    def test_a_run_is_claimed_once(self, spectora):
        wo = book(spectora)
        run = runs.sync_request(wo)
        assert engine.sync_execute(run.pk) == RunState.SUCCEEDED
        assert engine.sync_execute(run.pk) == "not_claimed"

    def test_calls_are_recorded_without_the_key_or_personal_data(self, spectora):
        wo = book(spectora, client_name="Secret Person", client_email="secret@example.com")
        run = sync(wo)
        dump = repr(list(SyncCall.objects.filter(run=run).values()))
        assert "sandbox-key" not in dump
        assert "Secret Person" not in dump and "secret@example.com" not in dump
        assert "[redacted]" in dump


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_requests_make_one_run_and_one_job(company, sandbox):
    from tests.spectora_fixtures import connect_company

    wired = connect_company(company, sandbox)
    wo = book(wired)
    errors = []

    def request():
        try:
            runs.sync_request(wo, None)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=request) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    queued_runs = SyncRun.objects.filter(workorder=wo)
    assert queued_runs.count() == 1
    assert len(queued_runs.get().requesters) == 50

    def execute():
        try:
            engine.sync_execute(queued_runs.get().pk)
        finally:
            db_connection.close()

    workers = [threading.Thread(target=execute) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert len(wired.state()) == 1
    assert queued_runs.get().state == RunState.SUCCEEDED


@pytest.mark.django_db
def test_a_spectora_origin_workorder_is_skipped(spectora):
    wo = WorkorderFactory(company=spectora.connection.company, origin=Origin.SPECTORA)
    run = sync(wo)
    assert run.reason_code == "spectora_origin"


@pytest.mark.django_db
def test_an_unexpected_error_never_leaves_a_run_running(spectora, monkeypatch):
    from spectora_integration.sync import planner

    wo = book(spectora)
    real = planner.plan_sync
    calls = []

    def crash_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "plan_sync", crash_once)
    run = runs.sync_request(wo)
    engine.sync_execute(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.QUEUED
    assert "Unexpected error (RuntimeError)" in run.reason
    assert drain(wo).state == RunState.SUCCEEDED


@pytest.mark.django_db
def test_a_job_linked_to_another_workorder_is_refused(spectora):
    first, second = book(spectora), book(spectora)
    sync(first)
    remote_id = SpectoraLink.objects.get(workorder=first).remote_id
    SpectoraLink.objects.create(workorder=second)
    monkey_ref = f"attik-{first.company_id}-{first.pk}"
    from spectora_integration.sync import planner

    original = planner.external_ref_for
    planner.external_ref_for = lambda wo: monkey_ref  # second finds first's job by reference
    try:
        run = sync(second)
    finally:
        planner.external_ref_for = original
    assert (run.state, run.reason_code) == (RunState.FAILED, "already_linked")
    assert remote_id in run.reason
