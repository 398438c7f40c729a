"""Random sequences of edits, syncs, cancels, reassignments, faults and worker deaths.

A hypothesis state machine drives the real services and the sandbox over HTTP;
runs are executed in-process (a "worker death" claims a run and abandons it,
which the outbox sweeper must recover). After draining, Spectora equals Attik
and nothing is duplicated.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from spectora_integration.models import RunState, SpectoraLink, SyncRun
from spectora_integration.sync import engine, runs
from spectora_integration.sync.planner import external_ref_for
from tests.factories import CompanyFactory
from tests.reliability.conftest import assert_spectora_equals_attik
from tests.spectora_fixtures import connect_company
from workorders.models import Workorder
from workorders.services import (
    AssigneeInput,
    LineItemInput,
    workorder_cancel,
    workorder_create,
    workorder_update,
)

FAULTS = {
    "none": [],
    "5xx": [{"method": "*", "path": "/v2/*", "mode": "error", "status": 503, "rate": 0.3}],
    "outage": [{"method": "*", "path": "/v2/*", "mode": "error", "status": 503}],  # breaker
    "applied": [{"method": "POST", "path": "/v2/*", "mode": "applied_then_error",
                 "status": 502, "rate": 0.3},
                {"method": "DELETE", "path": "/v2/*", "mode": "applied_then_error",
                 "status": 502, "rate": 0.3}],
    "timeouts": [{"method": "*", "path": "/v2/*", "mode": "timeout", "delay_ms": 400,
                  "rate": 0.15}],
    "429": [{"method": "*", "path": "/v2/*", "mode": "error", "status": 429, "rate": 0.3}],
    "lock": [{"method": "PATCH", "path": "/v2/*", "mode": "error", "status": 423, "rate": 0.5}],
}


def run_one(run_id: int) -> None:
    SyncRun.objects.filter(pk=run_id).update(next_attempt_at=None)
    engine.sync_execute(run_id)


def drain(company, limit: int = 400) -> None:
    company_runs = SyncRun.objects.filter(company=company)
    for _ in range(limit):
        # The sweeper frees runs abandoned by a "dead worker".
        runs.sweep_outbox(now=timezone.now() + timedelta(hours=1))
        run = company_runs.filter(state=RunState.QUEUED).order_by("id").first()
        if run is None:
            failed = company_runs.filter(state=RunState.FAILED, dismissed_at__isnull=True)
            if not failed.exists():
                return
            runs.sync_retry(failed, None)  # what an admin does on Failed syncs
            continue
        run_one(run.pk)
    stuck = list(company_runs.exclude(state=RunState.SUCCEEDED).values_list("state", "reason")[:5])
    raise AssertionError(f"runs never settled: {stuck}")


class SyncMachine(RuleBasedStateMachine):
    def __init__(self, sandbox):
        super().__init__()
        self.sandbox = sandbox
        sandbox.reset()
        # The sandbox starts its ids again: forget the previous example's jobs.
        Workorder.objects.all().delete()
        self.wired = connect_company(CompanyFactory(), sandbox)
        self.workorders = []
        self.seed = 0

    @initialize()
    def start(self):
        """Every history starts with one workorder already in Spectora."""
        self.book(inspectors=[0, 1], items=[0, 1])
        run = runs.sync_request(self.workorders[0], None)
        run_one(run.pk)

    @rule(inspectors=st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True),
          items=st.lists(st.integers(0, 3), min_size=0, max_size=3))
    def book(self, inspectors, items):
        if len(self.workorders) >= 4:
            return
        wo = workorder_create(
            company=self.wired.connection.company, user=None,
            values={"scheduled_at": timezone.now() + timedelta(days=2), "duration_minutes": 90,
                    "address": "1 Random Rd", "client_name": "Hypothesis"},
            assignees=[AssigneeInput(self.wired.inspectors[i], n == 0)
                       for n, i in enumerate(inspectors)],
            line_items=[LineItemInput(self.wired.services[i]) for i in items],
        )
        self.workorders.append(wo)

    def _open(self, index):
        wo = self.workorders[index % len(self.workorders)]
        wo.refresh_from_db()
        return None if wo.is_cancelled else wo

    @rule(index=st.integers(0, 3), text=st.text(alphabet="abc xyz", max_size=12))
    def edit_notes(self, index, text):
        wo = self._open(index)
        if wo:
            workorder_update(wo, user=None, values={"notes": text}, expected_version=None)

    @rule(index=st.integers(0, 3),
          team=st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
          primary=st.integers(0, 3))
    def reassign(self, index, team, primary):
        wo = self._open(index)
        if wo:
            workorder_update(wo, user=None, values={}, expected_version=None, assignees=[
                AssigneeInput(self.wired.inspectors[i], n == primary % len(team))
                for n, i in enumerate(team)])

    @rule(index=st.integers(0, 3), items=st.lists(
        st.tuples(st.integers(0, 3), st.integers(1, 3)), max_size=4))
    def change_services(self, index, items):
        wo = self._open(index)
        if wo:
            workorder_update(wo, user=None, values={}, expected_version=None, line_items=[
                LineItemInput(self.wired.services[i], None, qty) for i, qty in items])

    @rule(index=st.integers(0, 3))
    def cancel(self, index):
        wo = self._open(index)
        if wo:
            workorder_cancel(wo, user=None, reason="Hypothesis cancelled it")

    @rule(index=st.integers(0, 3), force=st.booleans())
    def request_sync(self, index, force):
        wo = self._open(index)
        if wo:
            runs.sync_request(wo, None, force=force)

    @rule(kind=st.sampled_from(sorted(FAULTS)))
    def set_faults(self, kind):
        self.seed += 1
        self.wired.faults(*FAULTS[kind], seed=self.seed)

    def _queued(self):
        return SyncRun.objects.filter(company=self.wired.connection.company,
                                      state=RunState.QUEUED).order_by("id")

    @rule(count=st.integers(1, 4))
    def worker_runs(self, count):
        for run in self._queued()[:count]:
            run_one(run.pk)

    @rule()
    def worker_dies_mid_run(self):
        run = self._queued().first()
        if run is not None:
            SyncRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING,
                                                     started_at=timezone.now())

    def teardown(self):
        self.wired.faults()
        drain(self.wired.connection.company)
        synced = [wo for wo in self.workorders
                  if SpectoraLink.objects.filter(workorder=wo, remote_id__isnull=False).exists()]
        refs = {job["external_ref"] for job in self.wired.state()}
        assert refs == {external_ref_for(wo) for wo in synced}
        live = []
        for wo in synced:
            wo.refresh_from_db()
            if not wo.is_cancelled:
                live.append(wo)
        assert_spectora_equals_attik(self.wired, live)
        for job in self.wired.state():
            wo = next(w for w in synced if external_ref_for(w) == job["external_ref"])
            assert bool(job["canceled_at"]) == wo.is_cancelled, (wo, job["canceled_at"])


@pytest.mark.django_db
@pytest.mark.usefixtures("queued")  # no broker: nothing is sent to workers
def test_random_histories_end_with_spectora_equal_to_attik(sandbox, settings_fast, monkeypatch):
    run_state_machine_as_test(
        lambda: SyncMachine(sandbox),
        settings=settings(max_examples=25, stateful_step_count=15, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )


@pytest.fixture
def settings_fast(settings):
    settings.SPECTORA_READ_TIMEOUT_SECONDS = 0.3
    # A fault streak may pause the connection: its probe is then always due, so a drain
    # goes on (and the breaker is part of every random history).
    settings.SPECTORA_PROBE_BASE_SECONDS = 0
    settings.SPECTORA_BREAKER_FAILURES = 3
    return settings
