"""Sync cuts the wait: a person's Sync runs a run waiting for a retry now."""

import pytest
from django.utils import timezone

from spectora_integration.models import RunState, SpectoraLink, SyncState
from spectora_integration.sync import engine, runs
from tests.spectora_integration.test_sync import book
from tests.spectora_integration.test_sync_api import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def long_backoff(monkeypatch):
    monkeypatch.setattr(runs, "BACKOFF_BASE_SECONDS", 120.0)


def failed_once(wired):
    """A run that failed transiently and now waits a minute or two for its retry."""
    wo = book(wired)
    wired.faults({"method": "POST", "path": "/v2/inspections", "mode": "error",
                  "status": 503, "times": 1})
    run = runs.sync_request(wo)
    assert engine.sync_execute(run.pk) == "retrying"
    run.refresh_from_db()
    assert run.next_attempt_at > timezone.now() + timezone.timedelta(seconds=30)
    assert engine.sync_execute(run.pk) == "not_claimed"  # the backoff holds it back
    return wo, run


@pytest.mark.parametrize("force", [False, True])
def test_the_api_sync_runs_a_waiting_run_now(spectora, office_user, queued, force,
                                             django_capture_on_commit_callbacks):
    wo, run = failed_once(spectora)
    sent_before = len(queued["runs"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(office_user).post(
            f"/api/v1/workorders/{wo.pk}/spectora/sync/", {"force": force}, format="json")
    assert response.status_code == 202
    assert response.json()["sync_run"]["id"] == run.pk
    assert queued["runs"][sent_before:] == [run.pk]  # sent now, with no countdown
    run.refresh_from_db()
    assert run.next_attempt_at <= timezone.now()
    assert run.force == force

    assert engine.sync_execute(run.pk) == RunState.SUCCEEDED
    run.refresh_from_db()
    assert (run.state, run.attempts) == (RunState.SUCCEEDED, 2)
    assert SpectoraLink.objects.get(workorder=wo).sync_state == SyncState.SYNCED
    # The delayed message of the retry arrives later and finds nothing to claim.
    assert engine.sync_execute(run.pk) == "not_claimed"
    assert len(spectora.state()) == 1


def test_the_page_sync_runs_a_waiting_run_now(spectora, office_user, queued, client,
                                              django_capture_on_commit_callbacks):
    wo, run = failed_once(spectora)
    client.force_login(office_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/workorders/{wo.pk}/spectora/sync/", {"force": "1"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.next_attempt_at <= timezone.now() and run.force
    assert engine.sync_execute(run.pk) == RunState.SUCCEEDED


def test_an_automatic_sync_does_not_cut_the_wait(spectora, office_user):
    wo, run = failed_once(spectora)
    waiting_until = run.next_attempt_at
    runs.sync_request(wo, None, trigger="auto")
    run.refresh_from_db()
    assert run.next_attempt_at == waiting_until
    assert engine.sync_execute(run.pk) == "not_claimed"
