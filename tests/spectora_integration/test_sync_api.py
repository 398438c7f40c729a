"""The sync endpoints of the REST API (/api/v1/workorders/{id}/spectora/..., /sync-runs/)."""

import pytest
from rest_framework.test import APIClient

from spectora_integration.models import RunState, SyncRun
from spectora_integration.sync import runs
from tests.factories import WorkorderFactory, member
from tests.spectora_integration.test_sync import book, drain
from workorders.models import Role

pytestmark = pytest.mark.usefixtures("no_auto_sync_on_booking")  # Sync of never-synced jobs



@pytest.fixture(autouse=True)
def enqueued(queued):
    """No broker here: the test drives runs itself. Records what would be enqueued."""
    return queued["runs"]


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
class TestSyncEndpoint:
    def test_it_queues_a_run_and_answers_202(self, spectora, office_user):
        wo = book(spectora)
        response = client_for(office_user).post(
            f"/api/v1/workorders/{wo.pk}/spectora/sync/", {"force": True}, format="json"
        )
        assert response.status_code == 202
        run = response.json()["sync_run"]
        assert (run["state"], run["force"], run["trigger"]) == ("queued", True, "api")
        detail = client_for(office_user).get(f"/api/v1/workorders/{wo.pk}/").json()
        assert detail["spectora"]["sync_state"] == "queued"

    @pytest.mark.parametrize("case", ["not_connected", "cancelled", "spectora_origin",
                                      "missing_links"])
    def test_it_answers_409_with_a_code_when_clearly_ineligible(self, spectora, office_user,
                                                                 case):
        wo = book(spectora, inspectors=[spectora.unlinked] if case == "missing_links" else None)
        if case == "not_connected":
            spectora.connection.delete()
        elif case == "cancelled":
            wo.status = "cancelled"
            wo.save()
        elif case == "spectora_origin":
            wo.origin = "spectora"
            wo.save()
        response = client_for(office_user).post(f"/api/v1/workorders/{wo.pk}/spectora/sync/")
        assert response.status_code == 409
        assert response.json()["code"] == case
        assert response.json()["detail"]
        # Nothing is queued; the refusal is kept as a skipped run with its reason.
        run = SyncRun.objects.get()
        assert (run.state, run.reason_code) == ("skipped", case)
        assert run.reason == response.json()["detail"]

    def test_after_the_run_the_workorder_shows_the_link(self, spectora, office_user):
        wo = book(spectora)
        client_for(office_user).post(f"/api/v1/workorders/{wo.pk}/spectora/sync/")
        drain(wo)
        state = client_for(office_user).get(f"/api/v1/workorders/{wo.pk}/").json()["spectora"]
        job = spectora.state()[0]
        assert state["linked"] is True
        assert (state["remote_id"], state["url"]) == (job["id"], job["url"])
        assert state["sync_state"] == "synced"
        assert state["last_synced_at"]

    def test_preview_lists_the_plan_and_sends_nothing(self, spectora, office_user):
        wo = book(spectora)
        response = client_for(office_user).get(f"/api/v1/workorders/{wo.pk}/spectora/preview/")
        assert response.status_code == 200
        ops = [op["op"] for op in response.json()["operations"]]
        assert ops[0] == "create_inspection"
        assert "add_assignment" in ops and "add_line_item" in ops and "add_report" in ops
        assert spectora.state() == []
        assert not SyncRun.objects.exists()


@pytest.mark.django_db
class TestSyncRuns:
    def failed_run(self, spectora):
        wo = book(spectora)
        spectora.faults({"method": "POST", "path": "/v2/inspections", "mode": "error",
                         "status": 422, "times": 1})
        runs.sync_request(wo)
        return drain(wo)

    def test_it_lists_and_filters_runs(self, spectora, office_user):
        failed = self.failed_run(spectora)
        api = client_for(office_user)
        rows = api.get("/api/v1/sync-runs/?state=failed").json()["results"]
        assert [r["id"] for r in rows] == [failed.pk]
        assert rows[0]["reason"]
        assert api.get("/api/v1/sync-runs/?state=succeeded").json()["count"] == 0
        assert api.get("/api/v1/sync-runs/?state=bogus").status_code == 400
        detail = api.get(f"/api/v1/sync-runs/{failed.pk}/").json()
        assert detail["attempts"] == 1
        assert [c["method"] for c in detail["calls"]] == ["POST"]  # no search before a create
        assert detail["calls"][0]["status"] == 422

    def test_only_admins_retry(self, spectora, office_user, scheduler_user, admin_user):
        failed = self.failed_run(spectora)
        for user in (office_user, scheduler_user):
            response = client_for(user).post("/api/v1/sync-runs/retry/", {"all_failed": True},
                                             format="json")
            assert response.status_code == 403
        response = client_for(admin_user).post("/api/v1/sync-runs/retry/", {"ids": [failed.pk]},
                                               format="json")
        assert response.json() == {"retried": 1}
        assert drain(failed.workorder).state == RunState.SUCCEEDED

    def test_retry_needs_ids_or_all_failed(self, admin_user):
        response = client_for(admin_user).post("/api/v1/sync-runs/retry/", {}, format="json")
        assert response.status_code == 400


@pytest.mark.django_db
def test_sync_endpoints_hide_other_companies(spectora, other_company):
    wo = book(spectora)
    runs.sync_request(wo)
    run = SyncRun.objects.get()
    outsider = client_for(member(other_company, Role.ADMIN))
    assert outsider.post(f"/api/v1/workorders/{wo.pk}/spectora/sync/").status_code == 404
    assert outsider.get(f"/api/v1/workorders/{wo.pk}/spectora/preview/").status_code == 404
    assert outsider.get(f"/api/v1/sync-runs/{run.pk}/").status_code == 404
    assert outsider.get("/api/v1/sync-runs/").json()["count"] == 0
    retry = outsider.post("/api/v1/sync-runs/retry/", {"ids": [run.pk]}, format="json")
    assert retry.json() == {"retried": 0}
    assert SyncRun.objects.count() == 1


@pytest.mark.django_db
def test_a_workorder_never_synced_reports_never(office_user, company):
    wo = WorkorderFactory(company=company)
    data = client_for(office_user).get(f"/api/v1/workorders/{wo.pk}/").json()
    assert data["spectora"]["sync_state"] == "never"
