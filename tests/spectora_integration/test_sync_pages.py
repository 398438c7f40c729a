"""Sync from the Actions menu, the live chip, Preview and the Failed syncs page."""

import pytest
from django.urls import reverse

from spectora_integration.models import RunState, SyncRun
from spectora_integration.sync import runs
from tests.factories import member
from tests.spectora_integration.test_sync import book, drain
from workorders.models import Role

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("no_auto_sync_on_booking"),  # Sync of never-synced jobs
]


@pytest.fixture(autouse=True)
def enqueued(queued):
    """No broker here: the test drives runs itself. Records what would be enqueued."""
    return queued["runs"]


def test_sync_from_the_actions_menu_queues_a_run(client, spectora, office_user):
    wo = book(spectora)
    client.force_login(office_user)
    response = client.post(reverse("spectora:workorder_sync", args=[wo.pk]), follow=True)
    assert "Sync of" in response.content.decode()
    assert SyncRun.objects.get(workorder=wo).state == RunState.QUEUED
    chip = client.get(reverse("spectora:sync_chip", args=[wo.pk])).content.decode()
    assert "Sync queued" in chip
    assert 'hx-trigger="every 1s"' in chip  # keeps polling until it settles


def test_force_sync_is_recorded_as_force(client, spectora, office_user):
    wo = book(spectora)
    client.force_login(office_user)
    client.post(reverse("spectora:workorder_sync", args=[wo.pk]), {"force": "1"})
    assert SyncRun.objects.get(workorder=wo).force is True


def test_an_ineligible_sync_explains_itself(client, spectora, office_user):
    wo = book(spectora, inspectors=[spectora.unlinked])
    client.force_login(office_user)
    page = client.post(reverse("spectora:workorder_sync", args=[wo.pk]), follow=True)
    html = page.content.decode()
    assert "Not synced" in html and spectora.unlinked.name in html
    # The reason stays on the workorder: a banner that survives a reload, an Activity
    # entry, and a skipped run on Failed syncs; nothing is queued.
    again = client.get(reverse("workorders:detail", args=[wo.pk])).content.decode()
    assert 'data-sync-problem="skipped"' in again and spectora.unlinked.name in again
    assert wo.activity.filter(verb="sync_skipped").exists()
    assert SyncRun.objects.get(workorder=wo).state == RunState.SKIPPED


def test_after_a_sync_the_chip_stops_polling_and_open_spectora_job_links_the_job(
    client, spectora, office_user
):
    wo = book(spectora)
    runs.sync_request(wo, office_user)
    drain(wo)
    client.force_login(office_user)
    chip = client.get(reverse("spectora:sync_chip", args=[wo.pk])).content.decode()
    assert "Synced" in chip and "hx-trigger" not in chip
    detail = client.get(reverse("workorders:detail", args=[wo.pk])).content.decode()
    url = spectora.state()[0]["url"]
    assert f'href="{url}" target="_blank"' in detail


def test_preview_shows_the_plan_and_sends_nothing(client, spectora, office_user):
    wo = book(spectora)
    client.force_login(office_user)
    html = client.get(reverse("spectora:workorder_preview", args=[wo.pk])).content.decode()
    assert 'data-op="create_inspection"' in html
    assert spectora.state() == []


def failed(spectora):
    wo = book(spectora)
    spectora.faults(
        {"method": "POST", "path": "/v2/inspections", "mode": "error", "status": 422, "times": 1}
    )
    runs.sync_request(wo)
    return drain(wo)


def test_the_failed_syncs_page_lists_and_retries(client, spectora, admin_user):
    run = failed(spectora)
    client.force_login(admin_user)
    html = client.get(reverse("spectora:failed_syncs")).content.decode()
    assert f'data-run="{run.pk}"' in html
    assert run.reason in html
    client.post(reverse("spectora:failed_syncs"), {"action": "retry", "run": [run.pk]})
    assert drain(run.workorder).state == RunState.SUCCEEDED
    html = client.get(reverse("spectora:failed_syncs")).content.decode()
    assert 'data-empty="failed-syncs"' in html


def test_retry_all_and_dismiss(client, spectora, admin_user):
    first = failed(spectora)
    client.force_login(admin_user)
    client.post(reverse("spectora:failed_syncs"), {"action": "dismiss", "run": [first.pk]})
    first.refresh_from_db()
    assert first.dismissed_at is not None
    second = failed(spectora)
    client.post(reverse("spectora:failed_syncs"), {"action": "retry_all"})
    assert SyncRun.objects.filter(workorder=second.workorder, state=RunState.QUEUED).exists()


@pytest.mark.parametrize("role", [Role.OFFICE_STAFF, Role.SCHEDULER])
def test_only_admins_see_the_failed_syncs_page(client, company, role):
    client.force_login(member(company, role))
    assert client.get(reverse("spectora:failed_syncs")).status_code == 403
    assert client.post(reverse("spectora:failed_syncs"), {"action": "retry_all"}).status_code == 403


def test_another_companys_workorder_cannot_be_synced_or_previewed(client, spectora, other_company):
    wo = book(spectora)
    client.force_login(member(other_company, Role.ADMIN))
    for name in ("workorder_sync", "workorder_preview", "sync_chip"):
        method = client.post if name == "workorder_sync" else client.get
        assert method(reverse(f"spectora:{name}", args=[wo.pk])).status_code == 404
    assert not SyncRun.objects.exists()


def test_the_failed_syncs_page_is_company_scoped(client, spectora, other_company):
    run = failed(spectora)
    client.force_login(member(other_company, Role.ADMIN))
    html = client.get(reverse("spectora:failed_syncs")).content.decode()
    assert f'data-run="{run.pk}"' not in html
    client.post(reverse("spectora:failed_syncs"), {"action": "retry", "run": [run.pk]})
    run.refresh_from_db()
    assert run.dismissed_at is None


def test_the_skipped_banner_points_at_the_fix_the_message_names(client, spectora, admin_user):
    """An unmapped service alone: the advice is the Service mapping page, not the staff
    links, and one service is "it" (found from outside)."""
    wo = book(spectora, services_=[spectora.unmapped])
    client.force_login(admin_user)
    client.post(reverse("spectora:workorder_sync", args=[wo.pk]))
    banner = client.get(reverse("workorders:detail", args=[wo.pk])).content.decode()
    banner = banner[banner.index('data-sync-problem="skipped"'):][:1500]
    assert "An admin can map it on the Service mapping page." in banner
    assert reverse("spectora:services") in banner
    assert reverse("spectora:staff") not in banner
