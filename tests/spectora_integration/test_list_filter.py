"""The workorder list's filter by Spectora sync state (``spectora_sync``), offered through
the office's hook: every workorder is in exactly one state, on the page and in the API."""

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from spectora_integration.models import RunKind, RunState, SpectoraLink, SyncRun, SyncState
from spectora_integration.sync.selectors import SYNC_FILTER_CHOICES
from tests.factories import WorkorderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(office_user):
    client = APIClient()
    client.force_authenticate(office_user)
    return client


def _run(workorder, *, state=RunState.QUEUED, attempts=0, kind=RunKind.SYNC):
    return SyncRun.objects.create(
        company=workorder.company, workorder=workorder, state=state, attempts=attempts, kind=kind
    )


@pytest.fixture
def states(company):
    """Workorders in every sync state, by the name of the case."""

    def workorder(sync_state=None, **link):
        wo = WorkorderFactory(company=company)
        if sync_state is not None:
            SpectoraLink.objects.create(workorder=wo, sync_state=sync_state, **link)
        return wo

    cases = {
        "no link": workorder(),
        "link never": workorder(SyncState.NEVER),
        "queued": workorder(SyncState.QUEUED),
        "queued, first attempt pending": workorder(SyncState.QUEUED),
        "queued after a rate-limit wait": workorder(
            SyncState.QUEUED, last_error="Waiting for Spectora's rate limit; retrying in 3 s."
        ),
        "retrying": workorder(SyncState.QUEUED, last_error="Attempt 1 of 5 failed: 503."),
        "queued, a cancel retrying": workorder(SyncState.QUEUED),
        "syncing": workorder(SyncState.SYNCING),
        "synced": workorder(SyncState.SYNCED, remote_id="insp-1"),
        "synced, an old run failed": workorder(SyncState.SYNCED, remote_id="insp-2"),
        "failed": workorder(SyncState.FAILED, last_error="Spectora refused the address."),
        "skipped": workorder(SyncState.SKIPPED),
    }
    _run(cases["queued, first attempt pending"])
    _run(cases["queued after a rate-limit wait"], attempts=0)
    _run(cases["retrying"], attempts=1)
    _run(cases["queued, a cancel retrying"], attempts=2, kind=RunKind.CANCEL)
    _run(cases["synced, an old run failed"], state=RunState.FAILED, attempts=5)
    _run(cases["failed"], state=RunState.FAILED, attempts=5)
    return cases


EXPECTED = {
    "never": {"no link", "link never"},
    "queued": {"queued", "queued, first attempt pending", "queued after a rate-limit wait",
               "queued, a cancel retrying"},
    "retrying": {"retrying"},
    "syncing": {"syncing"},
    "synced": {"synced", "synced, an old run failed"},
    "failed": {"failed"},
    "skipped": {"skipped"},
}


@pytest.mark.parametrize("state", list(EXPECTED))
def test_the_api_filters_by_sync_state(api, states, state):
    response = api.get("/api/v1/workorders/", {"spectora_sync": state, "page_size": 100})

    assert response.status_code == 200
    numbers = {row["number"] for row in response.json()["results"]}
    assert numbers == {states[name].number for name in EXPECTED[state]}


@pytest.mark.parametrize("state", list(EXPECTED))
def test_the_page_filters_by_sync_state(office_client, states, state):
    html = office_client.get(reverse("workorders:list"), {"spectora_sync": state}).content.decode()

    numbers = {int(n) for n in re.findall(r'class="wo-link"[^>]*>WO-(\d+)<', html)}
    assert numbers == {states[name].number for name in EXPECTED[state]}
    assert f'<option value="{state}" selected>' in html


def test_every_workorder_is_in_exactly_one_sync_state(states):
    assert {value for value, _ in SYNC_FILTER_CHOICES} == set(EXPECTED)
    listed = [name for names in EXPECTED.values() for name in names]
    assert sorted(listed) == sorted(states)


def test_the_page_offers_the_sync_states_in_a_select(office_client, company):
    html = office_client.get(reverse("workorders:list")).content.decode()

    assert '<label for="id_spectora_sync">Spectora sync</label>' in html
    for value, label in SYNC_FILTER_CHOICES:
        assert f'<option value="{value}">{label}</option>' in html


def test_an_unknown_sync_state_is_a_400_naming_the_filter(api, company):
    response = api.get("/api/v1/workorders/", {"spectora_sync": "stuck"})

    assert response.status_code == 400
    assert list(response.json()) == ["spectora_sync"]
