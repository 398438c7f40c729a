"""GET /api/v1/spectora/health/: admins only, one company's figures, the dashboard's."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from spectora_integration.models import (
    ConnectionState,
    RunState,
    SpectoraConnection,
    SyncRun,
)
from spectora_integration.sync.selectors import sync_health
from tests.factories import WorkorderFactory, member
from workorders.models import Role

pytestmark = pytest.mark.django_db
URL = "/api/v1/spectora/health/"


def api_as(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def run(company, state, **fields):
    return SyncRun.objects.create(company=company, workorder=WorkorderFactory(company=company),
                                  state=state, **fields)


def connected(company, state=ConnectionState.CONNECTED) -> SpectoraConnection:
    connection = SpectoraConnection(company=company, state=state)
    connection.set_api_key("a-long-api-key-1234")
    connection.save()
    return connection


@pytest.mark.parametrize("role", [Role.OFFICE_STAFF, Role.SCHEDULER])
def test_it_is_for_admins_only(company, role):
    assert api_as(member(company, role)).get(URL).status_code == 403


def test_it_needs_a_login(company):
    assert APIClient().get(URL).status_code in (401, 403)


def test_a_company_without_a_connection_is_not_connected(admin_user):
    body = api_as(admin_user).get(URL).json()
    assert body == {"connection": "not_connected", "paused_until": None, "queued": 0,
                    "retrying": 0, "failed_24h": 0, "oldest_queued_seconds": 0}


def test_it_counts_the_callers_company_only(company, admin_user, other_company):
    connected(company)
    now = timezone.now()
    old = run(company, RunState.QUEUED)
    SyncRun.objects.filter(pk=old.pk).update(created_at=now - timedelta(seconds=300))
    run(company, RunState.QUEUED)
    run(company, RunState.QUEUED, attempts=1, next_attempt_at=now + timedelta(seconds=30))
    run(company, RunState.FAILED, finished_at=now - timedelta(hours=2))
    run(company, RunState.FAILED, finished_at=now - timedelta(hours=30))
    for _ in range(3):
        run(other_company, RunState.QUEUED)
        run(other_company, RunState.FAILED, finished_at=now)
    body = api_as(admin_user).get(URL).json()
    assert body["connection"] == "connected"
    assert body["queued"] == 2
    assert body["retrying"] == 1
    assert body["failed_24h"] == 1
    assert body["failed_24h"] == sync_health(company).failed_last_24h  # the dashboard's figure
    assert 300 <= body["oldest_queued_seconds"] <= 330


def test_a_failing_connection_says_so(company, admin_user):
    connected(company, ConnectionState.FAILING)
    assert api_as(admin_user).get(URL).json()["connection"] == "failing"


def test_a_paused_connection_says_until_when(company, admin_user):
    connection = connected(company, ConnectionState.FAILING)
    until = (timezone.now() + timedelta(minutes=10)).replace(microsecond=0)
    SpectoraConnection.objects.filter(pk=connection.pk).update(  # what sync/breaker.py writes
        paused_at=timezone.now(), paused_until=until)
    body = api_as(admin_user).get(URL).json()
    assert body["connection"] == "paused"
    assert body["paused_until"].startswith(until.strftime("%Y-%m-%dT%H:%M:%S"))
    SpectoraConnection.objects.filter(pk=connection.pk).update(paused_at=None, paused_until=None)
    body = api_as(admin_user).get(URL).json()
    assert body["connection"] == "failing"
    assert body["paused_until"] is None
