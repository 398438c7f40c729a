"""The Failed syncs page: failed and skipped runs, each with its fix; retries stay in view."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from spectora_integration.models import RunState, SyncRun
from spectora_integration.sync import runs
from tests.spectora_integration.test_sync import book, drain

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("no_auto_sync_on_booking", "queued"),
]

FAILED_SYNCS = reverse("spectora:failed_syncs")


def failed(spectora):
    wo = book(spectora)
    spectora.faults(
        {"method": "POST", "path": "/v2/inspections", "mode": "error", "status": 422, "times": 1}
    )
    runs.sync_request(wo)
    return drain(wo)


def skipped(spectora, user):
    wo = book(spectora, inspectors=[spectora.unlinked])
    with pytest.raises(runs.SyncRefused):
        runs.sync_request(wo, user, strict=True)
    return SyncRun.objects.get(workorder=wo)


def toasts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_retry_with_nothing_selected_is_an_error_not_a_success(client, spectora, admin_user):
    failed(spectora)
    client.force_login(admin_user)
    response = client.post(FAILED_SYNCS, {"action": "retry"})
    assert toasts(response) == ["Nothing was selected: tick the syncs to retry or dismiss, "
                                "or use Retry all."]
    assert not SyncRun.objects.filter(state=RunState.QUEUED).exists()


def test_skipped_syncs_are_listed_with_a_filter_and_a_link_to_their_fix(
    client, spectora, admin_user
):
    gone_wrong = failed(spectora)
    not_sent = skipped(spectora, admin_user)
    client.force_login(admin_user)
    everything = client.get(FAILED_SYNCS).content.decode()
    assert f'data-run="{gone_wrong.pk}"' in everything and f'data-run="{not_sent.pk}"' in everything
    only_skipped = client.get(FAILED_SYNCS + "?show=skipped").content.decode()
    assert f'data-run="{not_sent.pk}"' in only_skipped
    assert f'data-run="{gone_wrong.pk}"' not in only_skipped
    assert f'href="{reverse("spectora:staff")}"' in only_skipped  # an unlinked inspector
    only_failed = client.get(FAILED_SYNCS + "?show=failed").content.decode()
    assert f'data-run="{gone_wrong.pk}"' in only_failed
    assert f'data-run="{not_sent.pk}"' not in only_failed
    # A 422 is fixed in the job's data: the link goes to its calls and Spectora's answers.
    assert f'{reverse("workorders:detail", args=[gone_wrong.workorder.pk])}?tab=integrations' \
        in only_failed


def test_after_a_retry_the_page_shows_it_in_flight_not_all_is_well(client, spectora, admin_user):
    run = failed(spectora)
    client.force_login(admin_user)
    client.post(FAILED_SYNCS, {"action": "retry", "run": [run.pk]})
    html = client.get(FAILED_SYNCS).content.decode()
    assert 'data-retries-in-flight="1"' in html
    assert 'data-empty="failed-syncs"' not in html
    assert 'hx-trigger="every 2s"' in html  # the page follows the retry by itself
    assert drain(run.workorder).state == RunState.SUCCEEDED
    html = client.get(FAILED_SYNCS).content.decode()
    assert 'data-empty="failed-syncs"' in html and "every 2s" not in html


def test_a_failure_superseded_by_a_later_success_is_not_listed(client, spectora, admin_user):
    run = failed(spectora)
    runs.sync_request(run.workorder)
    drain(run.workorder)
    client.force_login(admin_user)
    assert f'data-run="{run.pk}"' not in client.get(FAILED_SYNCS).content.decode()


def test_the_navigation_shows_how_many_are_waiting_to_be_fixed(client, spectora, admin_user):
    failed(spectora)
    skipped(spectora, admin_user)
    client.force_login(admin_user)
    html = client.get(reverse("workorders:list")).content.decode()
    assert 'data-nav-badge="2"' in html


def test_a_sync_refused_because_the_workorder_is_cancelled_is_not_offered_for_retry(
    client, spectora, admin_user
):
    """Found from outside: Retry all re-queued such runs, which could never succeed."""
    wo = book(spectora)
    wo.status = "cancelled"
    wo.save()
    with pytest.raises(runs.SyncRefused):
        runs.sync_request(wo, admin_user, strict=True)
    run = SyncRun.objects.get(workorder=wo, state=RunState.SKIPPED)
    client.force_login(admin_user)
    assert f'data-run="{run.pk}"' not in client.get(FAILED_SYNCS).content.decode()
    html = client.get(reverse("workorders:list")).content.decode()
    assert "data-nav-badge" not in html
