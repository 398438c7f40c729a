"""The home page: today's jobs and the Spectora integration's health."""

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from spectora_integration.models import (
    ConnectionState,
    RunState,
    SpectoraConnection,
    SpectoraLink,
    SyncRun,
    SyncState,
)
from spectora_integration.sync.selectors import sync_health
from tests.factories import AssignmentFactory, EmployeeFactory, WorkorderFactory, member
from workorders.models import Role, WorkorderStatus
from workorders.selectors import workorders_on_day

pytestmark = pytest.mark.django_db


def today_at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    day = timezone.localdate() + timedelta(days=days)
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def finished_run(workorder, state, at, **fields) -> SyncRun:
    return SyncRun.objects.create(company=workorder.company, workorder=workorder, state=state,
                                  finished_at=at, **fields)


def connect(company, state=ConnectionState.CONNECTED) -> SpectoraConnection:
    connection = SpectoraConnection(company=company, state=state)
    connection.set_api_key("sandbox-key-123")
    connection.save()
    return connection


# -- Where it lives ------------------------------------------------------------------------


def test_the_dashboard_is_the_home_page_and_the_list_moved_to_workorders():
    assert reverse("workorders:dashboard") == "/"
    assert reverse("workorders:list") == "/workorders/"


def test_it_sends_anonymous_visitors_to_the_login_page(client, company):
    response = client.get(reverse("workorders:dashboard"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_answers_403_to_a_user_without_a_company(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory())

    assert client.get(reverse("workorders:dashboard")).status_code == 403


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OFFICE_STAFF, Role.SCHEDULER])
def test_it_renders_for_every_role_with_the_dashboard_marked_current(client, company, role):
    client.force_login(member(company, role))

    html = client.get(reverse("workorders:dashboard")).content.decode()

    assert f'href="{reverse("workorders:dashboard")}" aria-current="page">Dashboard' in html
    assert f'href="{reverse("workorders:list")}"' in html


# -- Today's jobs ---------------------------------------------------------------------------


def test_todays_jobs_are_the_companys_uncancelled_jobs_of_today_earliest_first(
    company, other_company
):
    late = WorkorderFactory(company=company, scheduled_at=today_at(16))
    early = WorkorderFactory(company=company, scheduled_at=today_at(0, 0))
    WorkorderFactory(company=company, scheduled_at=today_at(9), status=WorkorderStatus.CANCELLED)
    WorkorderFactory(company=company, scheduled_at=today_at(0, 0, days=1))
    WorkorderFactory(company=company, scheduled_at=today_at(23, 59, days=-1))
    WorkorderFactory(company=other_company, scheduled_at=today_at(10))

    assert list(workorders_on_day(company, timezone.localdate())) == [early, late]


def test_the_page_lists_todays_jobs_with_inspectors_and_sync_state(office_client, company):
    workorder = WorkorderFactory(company=company, scheduled_at=today_at(14, 30),
                                 address="41 Juniper Court")
    AssignmentFactory(workorder=workorder, employee__name="Maria Lopez")
    SpectoraLink.objects.create(workorder=workorder, sync_state=SyncState.SYNCED,
                                last_synced_at=timezone.now())
    WorkorderFactory(company=company, scheduled_at=today_at(10, days=3), address="9 Later Rd")

    html = office_client.get(reverse("workorders:dashboard")).content.decode()

    assert "Today's jobs" in html
    assert "41 Juniper Court" in html and "9 Later Rd" not in html
    assert "2:30 PM" in html and "Maria Lopez" in html
    assert 'data-sync-state="synced"' in html


def test_an_empty_day_says_so_and_points_to_the_list(office_client, company):
    html = office_client.get(reverse("workorders:dashboard")).content.decode()

    assert 'data-empty="today"' in html
    assert "Nothing is booked for today" in html
    assert f'href="{reverse("workorders:list")}"' in html
    assert f'href="{reverse("workorders:create")}"' in html


# -- Integration health ---------------------------------------------------------------------


def test_health_counts_recent_failures_open_failures_and_the_last_success(company, other_company):
    now = timezone.now()

    def workorder():
        return WorkorderFactory(company=company)

    finished_run(workorder(), RunState.SUCCEEDED, now - timedelta(hours=30))
    finished_run(workorder(), RunState.SUCCEEDED, now - timedelta(hours=2))
    finished_run(workorder(), RunState.FAILED, now - timedelta(hours=1))
    finished_run(workorder(), RunState.FAILED, now - timedelta(hours=3), dismissed_at=now)
    finished_run(workorder(), RunState.FAILED, now - timedelta(hours=40))
    finished_run(workorder(), RunState.SKIPPED, now - timedelta(hours=1))
    superseded = workorder()  # failed, then synced fine: nothing left to fix
    finished_run(superseded, RunState.FAILED, now - timedelta(hours=5))
    finished_run(superseded, RunState.SUCCEEDED, now - timedelta(hours=4))
    SyncRun.objects.create(company=company, workorder=workorder())  # queued, not finished
    finished_run(WorkorderFactory(company=other_company), RunState.SUCCEEDED, now)

    health = sync_health(company, now=now)

    assert health.last_success_at == now - timedelta(hours=2)
    assert health.last_failure_at == now - timedelta(hours=1)
    assert health.failed_last_24h == 3
    assert (health.failed_open, health.skipped_open) == (2, 1)
    assert not health.recovered


def test_the_chart_has_one_bar_per_day_for_fourteen_days_with_today_last(company):
    workorder = WorkorderFactory(company=company)
    finished_run(workorder, RunState.SUCCEEDED, today_at(9))
    finished_run(workorder, RunState.SUCCEEDED, today_at(11))
    finished_run(workorder, RunState.FAILED, today_at(12))
    finished_run(workorder, RunState.SUCCEEDED, today_at(9, days=-13))
    finished_run(workorder, RunState.SUCCEEDED, today_at(9, days=-14))  # before the window
    finished_run(workorder, RunState.SKIPPED, today_at(9, days=-2))  # neither ok nor failed

    health = sync_health(company, now=today_at(13))

    today = timezone.localdate()
    assert [d.day for d in health.days] == [today - timedelta(days=n) for n in range(13, -1, -1)]
    assert [(d.succeeded, d.failed) for d in (health.days[0], health.days[-1])] == [(1, 0), (2, 1)]
    assert sum(d.total for d in health.days[1:-1]) == 0
    assert (health.total, health.busiest) == (4, 3)


def test_the_page_shows_the_health_and_a_bar_chart_without_any_script(client, company):
    client.force_login(member(company, Role.ADMIN))
    connect(company)
    workorder = WorkorderFactory(company=company)
    finished_run(workorder, RunState.SUCCEEDED, today_at(9, days=-1))
    finished_run(workorder, RunState.FAILED, timezone.now() - timedelta(minutes=5))

    html = client.get(reverse("workorders:dashboard")).content.decode()

    assert "Connected" in html
    assert 'data-stat="failed-24h">1<' in html
    assert f'<a href="{reverse("spectora:failed_syncs")}?show=failed">1</a>' in html
    assert html.count('class="chart__day') == 14
    assert 'style="height: 100%"' in html
    assert "1 succeeded, 0 failed" in html and "0 succeeded, 1 failed" in html
    assert "<script" not in html.split('data-dashboard="health"')[1]


def test_a_company_without_spectora_is_told_who_connects_it(client, company):
    client.force_login(member(company, Role.OFFICE_STAFF))

    html = client.get(reverse("workorders:dashboard")).content.decode()

    assert "not connected to Spectora" in html
    assert "Ask an administrator to connect it" in html
    assert 'data-empty="chart"' in html
    assert reverse("spectora:failed_syncs") not in html


def test_an_admin_of_an_unconnected_company_gets_the_way_to_connect(client, company):
    client.force_login(member(company, Role.ADMIN))

    html = client.get(reverse("workorders:dashboard")).content.decode()

    assert f'<a href="{reverse("spectora:connection")}">Connect it on the Spectora page</a>' in html


def test_a_failing_connection_is_shown_with_spectoras_answer(client, company):
    client.force_login(member(company, Role.ADMIN))
    connection = connect(company, ConnectionState.FAILING)
    connection.last_error = "Spectora refused the API key (401)."
    connection.save()

    html = client.get(reverse("workorders:dashboard")).content.decode()

    assert "Spectora refused the API key (401)." in html


# -- Cost -----------------------------------------------------------------------------------


def _fill(company, jobs: int, runs: int) -> None:
    employees = EmployeeFactory.create_batch(3, company=company)
    for n in range(jobs):
        workorder = WorkorderFactory(company=company, scheduled_at=today_at(8 + n % 10, n % 60))
        AssignmentFactory(workorder=workorder, employee=employees[n % 3], primary=True)
        AssignmentFactory(workorder=workorder, employee=employees[(n + 1) % 3], primary=False)
        SpectoraLink.objects.create(workorder=workorder, sync_state=SyncState.SYNCED)
        for r in range(runs):
            state = RunState.FAILED if r % 4 == 0 else RunState.SUCCEEDED
            finished_run(workorder, state, timezone.now() - timedelta(days=r % 14, hours=1))


@pytest.mark.parametrize(("jobs", "runs"), [(2, 1), (30, 6)])
def test_the_dashboard_costs_the_same_queries_for_few_or_many_jobs_and_runs(
    client, company, jobs, runs, django_assert_max_num_queries
):
    client.force_login(member(company, Role.ADMIN))
    connect(company)
    _fill(company, jobs, runs)

    # session, user, membership, company; jobs, their inspectors; connection, totals, per day
    with django_assert_max_num_queries(11):  # 4 for the health, 1 for the Failed syncs badge
        response = client.get(reverse("workorders:dashboard"))

    assert response.status_code == 200
    assert response.content.decode().count('class="wo-link"') == jobs
