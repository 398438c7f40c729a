"""The circuit breaker per Spectora connection, in-process against the sandbox."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from spectora_integration.client import PermanentError, RateLimited, TransientError
from spectora_integration.models import RunState, SpectoraConnection, SyncRun
from spectora_integration.sync import breaker, engine, runs
from tests.factories import member
from tests.spectora_integration.test_sync import book
from workorders.models import Role

pytestmark = pytest.mark.django_db

EVERYTHING_503 = {"method": "*", "path": "*", "mode": "error", "status": 503}


@pytest.fixture(autouse=True)
def breaker_settings(settings, queued):
    settings.SPECTORA_BREAKER_FAILURES = 5
    settings.SPECTORA_BREAKER_WINDOW_SECONDS = 60
    settings.SPECTORA_PROBE_BASE_SECONDS = 10
    settings.SPECTORA_PROBE_CAP_SECONDS = 300


@pytest.fixture
def admin(company):
    return member(company, Role.ADMIN, username="breaker-admin", email="boss@example.com")


def connection(wired) -> SpectoraConnection:
    return SpectoraConnection.objects.get(pk=wired.connection.pk)


def queue_runs(wired, count):
    return [runs.sync_request(book(wired)) for _ in range(count)]


def calls(wired, mark=0):
    return wired.requests_log()[mark:]


def emails(subject_start):
    return [m for m in mail.outbox if m.subject.startswith(subject_start)]


def test_five_outage_failures_pause_the_connection_once(spectora, admin):
    spectora.faults(EVERYTHING_503)
    batch = queue_runs(spectora, 7)
    outcomes = [engine.sync_execute(run.pk) for run in batch[:5]]
    assert outcomes == ["retrying"] * 4 + ["paused"]
    conn = connection(spectora)
    assert conn.is_paused and conn.consecutive_failures == 5
    assert conn.paused_until == conn.paused_at + timedelta(seconds=10)
    assert len(emails("Spectora is not answering")) == 1
    assert "Attik will catch up by itself" in emails("Spectora is not answering")[0].body

    mark = len(spectora.requests_log())
    for run in batch[5:]:  # while paused: no call, no attempt used
        assert engine.sync_execute(run.pk) == "paused"
    assert calls(spectora, mark) == []
    for run in SyncRun.objects.filter(pk__in=[r.pk for r in batch[4:]]):
        assert (run.state, run.attempts) == (RunState.QUEUED, 0)
        assert run.next_attempt_at >= conn.paused_until
        assert run.reason.startswith("Spectora is not answering since")
    assert len(emails("Spectora is not answering")) == 1
    assert not emails("Spectora sync failed")


@pytest.mark.parametrize("status", [423, 429])
def test_sync_lock_and_rate_limit_answers_never_pause(spectora, status):
    spectora.faults({"method": "*", "path": "*", "mode": "error", "status": status})
    for run in queue_runs(spectora, 6):
        engine.sync_execute(run.pk)
    conn = connection(spectora)
    assert not conn.is_paused and conn.consecutive_failures == 0


@pytest.mark.parametrize(("error", "outage"), [
    (TransientError("x", status=503), True),
    (TransientError("x", status=500), True),
    (TransientError("x", code="timeout"), True),
    (TransientError("x", code="unreachable"), True),
    (TransientError("x", status=423), False),
    (TransientError("x", status=429, code="rate_limited"), False),
    (RateLimited("x", code="rate_limited_locally"), False),
    (TransientError("x", code="internal_error"), False),  # our own bug, not Spectora's
    (PermanentError("x", status=401), False),
    (PermanentError("x", status=403), False),
])
def test_what_counts_as_spectora_not_answering(error, outage):
    assert breaker.is_outage(error) is outage


def test_an_answer_ends_the_streak(spectora):
    spectora.faults({**EVERYTHING_503, "times": 4})
    for run in queue_runs(spectora, 4):
        assert engine.sync_execute(run.pk) == "retrying"
    assert connection(spectora).consecutive_failures == 4
    (run,) = queue_runs(spectora, 1)
    assert engine.sync_execute(run.pk) == RunState.SUCCEEDED
    assert connection(spectora).consecutive_failures == 0


def test_failures_further_apart_than_the_window_do_not_pause(spectora):
    spectora.faults(EVERYTHING_503)
    for run in queue_runs(spectora, 8):
        SpectoraConnection.objects.filter(pk=spectora.connection.pk).update(
            failing_since=timezone.now() - timedelta(seconds=61))
        engine.sync_execute(run.pk)
    assert not connection(spectora).is_paused


def pause_now(wired):
    SpectoraConnection.objects.filter(pk=wired.connection.pk).update(
        paused_at=timezone.now() - timedelta(seconds=30), probe_interval=10,
        paused_until=timezone.now() - timedelta(seconds=1), consecutive_failures=5)


def test_one_worker_claims_each_probe_and_the_interval_grows(spectora, settings):
    settings.SPECTORA_PROBE_CAP_SECONDS = 30
    settings.SPECTORA_PROBE_GROWTH = 2
    spectora.faults(EVERYTHING_503)
    pause_now(spectora)
    mark = len(spectora.requests_log())
    conn = connection(spectora)
    assert breaker.try_probe(conn) is False  # claimed, probed, still down
    assert breaker.try_probe(connection(spectora)) is False  # not due: no call
    assert [(r["method"], r["path"], r["query"]) for r in calls(spectora, mark)] == [
        ("GET", "/v2/inspectors", "page%5Bsize%5D=1")]
    conn = connection(spectora)
    assert conn.is_paused and conn.probe_interval == 20
    assert 18 < (conn.paused_until - timezone.now()).total_seconds() <= 20
    settings.SPECTORA_PROBE_GROWTH = 1.5
    for expected in (30, 30):  # 20 * 1.5, then capped
        SpectoraConnection.objects.filter(pk=conn.pk).update(paused_until=timezone.now())
        breaker.try_probe(connection(spectora))
        assert connection(spectora).probe_interval == expected


def test_the_first_answer_resumes_and_sends_the_waiting_runs_in_order(spectora, admin, queued):
    batch = queue_runs(spectora, 3)
    pause_now(spectora)
    sent_before = len(queued["runs"])
    assert engine.sync_execute(batch[1].pk) == RunState.SUCCEEDED  # its probe found Spectora
    assert not connection(spectora).is_paused
    assert queued["runs"][sent_before:] == [batch[0].pk, batch[2].pk]
    assert len(emails("Spectora answers again")) == 1
    for run in (batch[0], batch[2]):
        assert engine.sync_execute(run.pk) == RunState.SUCCEEDED
    assert len(emails("Spectora answers again")) == 1
    assert len(spectora.state()) == 3


def test_a_refused_key_still_fails_at_once(spectora, admin):
    conn = connection(spectora)
    conn.set_api_key("a-wrong-key-123")
    conn.save()
    (run,) = queue_runs(spectora, 1)
    assert engine.sync_execute(run.pk) == RunState.FAILED
    run.refresh_from_db()
    assert run.attempts == 1 and "refused the API key" in run.reason
    assert not connection(spectora).is_paused
    assert len(emails("Spectora sync failed")) == 1


def test_the_connection_says_it_is_paused(spectora):
    conn = connection(spectora)
    assert conn.pause_message == "" and conn.paused_since is None
    pause_now(spectora)
    conn = connection(spectora)
    since = timezone.localtime(conn.paused_at)
    assert conn.paused_since == conn.paused_at
    assert conn.pause_message == (f"Spectora is not answering since {since.hour}:"
                                  f"{since.minute:02d}; Attik will catch up by itself.")


def test_the_health_and_the_chip_say_it(spectora, client, admin):
    from django.urls import reverse

    from spectora_integration.sync.selectors import sync_health

    client.force_login(admin)
    html = client.get(reverse("workorders:dashboard")).content.decode()
    assert "chip--conn-paused" not in html and 'data-health="paused"' not in html
    pause_now(spectora)
    health = sync_health(spectora.connection.company)
    assert health.paused_since == connection(spectora).paused_at
    assert health.pause_message.endswith("Attik will catch up by itself.")
    html = client.get(reverse("workorders:dashboard")).content.decode()
    assert '<span class="chip chip--conn-paused"' in html
    assert health.pause_message in html.split('data-health="paused"')[1]
    page = client.get(reverse("spectora:connection")).content.decode()
    assert "chip--conn-paused" in page


def paused_with_next_probe_in(wired, seconds, interval):
    now = timezone.now()
    SpectoraConnection.objects.filter(pk=wired.connection.pk).update(
        paused_at=now - timedelta(seconds=120), probe_interval=interval,
        paused_until=now + timedelta(seconds=seconds), consecutive_failures=5)


def test_a_person_s_sync_while_paused_checks_spectora_sooner(spectora, office_user, admin,
                                                             django_capture_on_commit_callbacks):
    wo = book(spectora)
    paused_with_next_probe_in(spectora, 20, interval=40)  # the last probe was 20 s ago
    with django_capture_on_commit_callbacks(execute=True):
        run = runs.sync_request(wo, office_user)
    assert connection(spectora).paused_until <= timezone.now()
    assert engine.sync_execute(run.pk) == RunState.SUCCEEDED  # its probe found Spectora
    assert not connection(spectora).is_paused
    assert len(emails("Spectora answers again")) == 1


@pytest.mark.parametrize(("trigger", "last_probe_ago"), [("manual", 5), ("auto", 20)])
def test_clicks_add_at_most_one_probe_per_base_interval(spectora, office_user, trigger,
                                                        last_probe_ago):
    wo = book(spectora)
    paused_with_next_probe_in(spectora, 40 - last_probe_ago, interval=40)
    due = connection(spectora).paused_until
    mark = len(spectora.requests_log())
    run = runs.sync_request(wo, office_user, trigger=trigger)
    assert connection(spectora).paused_until == due
    assert engine.sync_execute(run.pk) == "paused"
    assert calls(spectora, mark) == []
