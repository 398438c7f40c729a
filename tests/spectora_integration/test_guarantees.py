"""Guarantees of the sync engine that each hold on their own, one test each.

Each test disables the layers that could cover for the one it pins, so breaking
that one guarantee (and only it) makes the test fail.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from spectora_integration.client import RateLimited, SpectoraClient
from spectora_integration.models import RunState, SpectoraLink, SyncRun, SyncState
from spectora_integration.sync import engine, planner, runs
from spectora_integration.sync.executor import create_key
from tests.spectora_integration.test_sync import assert_matches, book, drain

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def enqueued(queued):
    return queued["runs"]


@pytest.fixture
def search_finds_nothing(monkeypatch):
    """The external_ref search (where it is still used) never finds the job."""
    monkeypatch.setattr(SpectoraClient, "inspection_find_by_external_ref",
                        lambda self, ref: None)


def api_calls(wired, mark=0):
    return wired.requests_log()[mark:]


def creates(log):
    return [r for r in log if r["method"] == "POST" and r["path"] == "/v2/inspections"]


# ---------------------------------------------------------------- the workorder's lease

def test_a_run_whose_workorder_is_leased_by_another_run_is_deferred(spectora):
    wo = book(spectora)
    run = runs.sync_request(wo)
    holder = SyncRun.objects.create(company=wo.company, workorder=wo, state=RunState.RUNNING)
    SpectoraLink.objects.filter(workorder=wo).update(
        lease_run_id=holder.pk, lease_until=timezone.now() + timedelta(seconds=60)
    )
    mark = len(spectora.requests_log())

    assert engine.sync_execute(run.pk) == "busy"

    run.refresh_from_db()
    assert (run.state, run.attempts) == (RunState.QUEUED, 0)
    assert run.next_attempt_at > timezone.now()
    assert api_calls(spectora, mark) == []
    assert run.calls.count() == 0
    link = SpectoraLink.objects.get(workorder=wo)
    assert (link.lease_run_id, link.remote_id) == (holder.pk, None)


# ---------------------------------------------------------------- create, twice idempotent

def test_a_409_external_ref_taken_links_the_existing_job(spectora, search_finds_nothing):
    """The job exists (an earlier create whose answer and key are long gone): link to it."""
    wo = book(spectora)
    existing = SpectoraClient.for_connection(spectora.connection).inspection_create(
        planner.desired_state(wo).attributes, idempotency_key="an-expired-key",
    )
    mark = len(spectora.requests_log())

    run = runs.sync_request(wo)
    drain(wo)

    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.reason
    assert [r["status"] for r in creates(api_calls(spectora, mark))] == [409]
    assert [job["id"] for job in spectora.state()] == [existing.id]
    assert SpectoraLink.objects.get(workorder=wo).remote_id == existing.id
    assert "linked to it" in run.reason
    assert_matches(spectora, wo)  # the children were added to the linked job


def test_a_create_retried_after_a_lost_answer_replays_with_the_same_key(
    spectora, search_finds_nothing
):
    """The create reached Spectora but its answer was lost: the retry's key replays it."""
    wo = book(spectora)
    spectora.faults({"method": "POST", "path": "/v2/inspections", "mode": "applied_then_error",
                     "status": 503, "times": 1})
    mark = len(spectora.requests_log())

    run = runs.sync_request(wo)
    drain(wo)

    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.reason
    posts = creates(api_calls(spectora, mark))
    assert [(r["status"], r["replayed"]) for r in posts] == [(503, False), (201, True)]
    assert {r["idempotency_key"] for r in posts} == {create_key(wo)}
    (job,) = spectora.state()
    assert SpectoraLink.objects.get(workorder=wo).remote_id == job["id"]
    assert_matches(spectora, wo)


# ---------------------------------------------------------------- the link's state

def test_a_finishing_run_leaves_the_link_queued_when_a_newer_run_waits(spectora, monkeypatch):
    wo = book(spectora)
    first = runs.sync_request(wo)
    real_plan = planner.plan_sync
    newer = []

    def plan_while_someone_clicks(*args, **kwargs):
        if not newer:
            newer.append(runs.sync_request(wo))  # a click while the first run is running
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(planner, "plan_sync", plan_while_someone_clicks)
    engine.sync_execute(first.pk)

    first.refresh_from_db()
    (second,) = newer
    second.refresh_from_db()
    assert first.state == RunState.SUCCEEDED
    assert second.pk != first.pk and second.state == RunState.QUEUED
    assert SpectoraLink.objects.get(workorder=wo).sync_state == SyncState.QUEUED
    drain(wo)
    assert SpectoraLink.objects.get(workorder=wo).sync_state == SyncState.SYNCED


# ---------------------------------------------------------------- the remote id, at once

def test_the_remote_id_is_stored_as_soon_as_the_create_answers(spectora, search_finds_nothing):
    wo = book(spectora)
    spectora.faults({"method": "POST", "path": "/v2/inspections/*/line_items", "mode": "error",
                     "status": 503, "times": 1})
    run = runs.sync_request(wo)

    assert engine.sync_execute(run.pk) == "retrying"

    (job,) = spectora.state()
    link = SpectoraLink.objects.get(workorder=wo)
    assert (link.remote_id, link.url) == (job["id"], job["url"])
    mark = len(spectora.requests_log())
    drain(wo)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.reason
    log = api_calls(spectora, mark)
    assert creates(log) == []  # the retry read the job it knew, no second create
    assert log[0]["method"] == "GET" and log[0]["path"] == f"/v2/inspections/{job['id']}"
    assert len(spectora.state()) == 1
    assert_matches(spectora, wo)


# ---------------------------------------------------------------- fewer calls per create

def test_a_create_makes_no_search_first(spectora):
    wo = book(spectora)  # two inspectors, two services with one report each
    mark = len(spectora.requests_log())
    run = runs.sync_request(wo)
    drain(wo)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.reason
    log = api_calls(spectora, mark)
    assert [r["method"] for r in log] == ["POST"] * 7  # the create and six children
    assert not [r for r in log if r["path"] == "/v2/inspections" and r["method"] == "GET"]


def test_a_replayed_create_with_older_values_is_corrected(spectora, office_user):
    """The lost create's answer replays the values of then; the run re-reads and patches."""
    from workorders.services import workorder_update

    wo = book(spectora)
    spectora.faults({"method": "POST", "path": "/v2/inspections", "mode": "applied_then_error",
                     "status": 503, "times": 1})
    run = runs.sync_request(wo)
    assert engine.sync_execute(run.pk) == "retrying"
    workorder_update(wo, user=office_user, values={"notes": "Gate code 1234"},
                     expected_version=None)
    drain(wo)
    assert SyncRun.objects.filter(workorder=wo).exclude(state=RunState.SUCCEEDED).count() == 0
    assert_matches(spectora, wo)
    assert spectora.state()[0]["notes"] == "Gate code 1234"


# ---------------------------------------------------------------- child keys, never reused

def test_an_attempt_given_back_never_replays_an_earlier_childs_answer(spectora, monkeypatch):
    """A wait (429, a paused connection) gives the attempt back, so the next execution
    has the same attempt number but a shorter plan. Its child POSTs must not reuse the
    earlier execution's Idempotency-Keys: Spectora would replay the first answer (the
    inspector added before the wait) and the second inspector would never be added.
    Found by the fault soak in CI: one job in 300 kept one of its two inspectors."""
    wo = book(spectora)  # two inspectors
    real = SpectoraClient.child_add
    seen = []

    def second_assignment_waits(self, inspection_id, kind, attributes, *, idempotency_key):
        if kind == "assignments":
            seen.append(idempotency_key)
            if len(seen) == 2:
                raise RateLimited("Spectora asked us to slow down; it will be retried.",
                                  status=429, code="rate_limited", retry_after=0)
        return real(self, inspection_id, kind, attributes, idempotency_key=idempotency_key)

    monkeypatch.setattr(SpectoraClient, "child_add", second_assignment_waits)
    run = runs.sync_request(wo)
    drain(wo)

    run.refresh_from_db()
    assert (run.state, run.attempts, run.deferrals) == (RunState.SUCCEEDED, 1, 1), run.reason
    assert len(seen) == len(set(seen)) == 3, seen
    assert_matches(spectora, wo)
    assert not any(r.get("replayed") for r in spectora.requests_log())


# ---------------------------------------------------------------- a run's own cost

def test_a_resync_of_a_changed_workorder_costs_a_bounded_number_of_statements(
        spectora, django_assert_max_num_queries):
    """The usual bulk re-sync (one field changed) is database-bound on the workers: 41
    statements before the connection was read once per run, the lease taken in one
    UPDATE, the children loaded with their employees and services, and names read only
    for the operations that need them (docs/performance.md)."""
    wo = book(spectora)
    runs.sync_request(wo)
    drain(wo)
    wo.notes = "changed"
    wo.save()
    run = runs.sync_request(wo, trigger="bulk")
    SyncRun.objects.filter(pk=run.pk).update(next_attempt_at=None)

    with django_assert_max_num_queries(32):
        assert engine.sync_execute(run.pk) == RunState.SUCCEEDED
    assert_matches(spectora, wo)
