"""A real worker logs a sync as JSON lines carrying the request id of the click."""

import json

import pytest
from rest_framework.test import APIClient

from spectora_integration.models import RunState, SyncRun
from tests.spectora_fixtures import connect_company
from tests.spectora_integration.test_sync import book
from tests.worker import WorkerProcess, unique_queue, wait_for


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_auto_sync_on_booking")  # the click queues the run
def test_the_worker_logs_the_sync_as_json_with_the_clicks_request_id(company, sandbox,
                                                                       admin_user, settings):
    wired = connect_company(company, sandbox)
    wo = book(wired)
    queue = unique_queue("jsonlog")
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    worker = WorkerProcess(queue, concurrency=1, extra_env={"LOG_FORMAT": "json"}).start()
    try:
        api = APIClient()
        api.force_authenticate(admin_user)
        response = api.post(f"/api/v1/workorders/{wo.pk}/spectora/sync/", {"force": False},
                            format="json", HTTP_X_REQUEST_ID="click-json-0042")
        run_id = response.json()["sync_run"]["id"]
        wait_for(lambda: SyncRun.objects.filter(pk=run_id, state=RunState.SUCCEEDED).exists(),
                 timeout=60)

        def lines_of_the_run():
            found = []
            for line in worker.log_path.read_text().splitlines():
                if line.startswith("{") and f'"sync_run": {run_id}' in line:
                    found.append(json.loads(line))
            return found if any("succeeded" in line["message"] for line in found) else None

        lines = wait_for(lines_of_the_run, timeout=15)
    finally:
        worker.stop()
    assert any(line["message"].startswith("spectora POST /v2/inspections") for line in lines)
    for line in lines:
        assert line["request_id"] == "click-json-0042"
        assert (line["company"], line["workorder"], line["attempt"]) == (company.pk, wo.pk, 1)
    text = worker.log_path.read_text()
    for personal in (wo.client_name, wo.client_email, "sandbox-key"):
        assert personal not in text
