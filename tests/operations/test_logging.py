"""Request ids, and log lines that carry the sync's context in JSON or text."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from rest_framework.test import APIClient

from attik import logcontext
from spectora_integration import tasks
from spectora_integration.models import SyncRun
from tests.spectora_integration.test_sync import book

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def json_lines():
    """Every log line as the production handler writes it (filter + JSON formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logcontext.LogContextFilter())
    handler.setFormatter(logcontext.json_formatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    lines.text = stream.getvalue
    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.django_db
def test_every_response_carries_a_generated_request_id(client):
    first = client.get("/login/")["X-Request-ID"]
    second = client.get("/login/")["X-Request-ID"]
    assert len(first) == 32 and first != second


@pytest.mark.django_db
def test_a_sane_incoming_request_id_is_kept(client):
    response = client.get("/login/", HTTP_X_REQUEST_ID="lb-7f3a9c21.trace_01")
    assert response["X-Request-ID"] == "lb-7f3a9c21.trace_01"


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["short", "x" * 65, "abc def ghi", "abcdefgh\nforged=1",
                                      '{"json": "injection"}'])
def test_an_odd_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/login/", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
@pytest.mark.usefixtures("queued")
def test_a_sync_logs_its_context_and_the_request_id_of_the_click(spectora, admin_user,
                                                                 json_lines):
    wo = book(spectora)
    api = APIClient()
    api.force_authenticate(admin_user)
    response = api.post(f"/api/v1/workorders/{wo.pk}/spectora/sync/", {"force": False},
                        format="json", HTTP_X_REQUEST_ID="click-0001-abcdef")
    assert response.status_code == 202
    run = SyncRun.objects.get(pk=response.json()["sync_run"]["id"])
    assert run.request_id == "click-0001-abcdef"
    assert tasks.run_sync(run.pk) == "succeeded"  # the task body, as a worker runs it
    lines = [line for line in json_lines() if line.get("sync_run") == run.pk]
    assert any(line["message"].startswith("spectora POST /v2/inspections") for line in lines)
    assert any(line["message"] == f"sync run {run.pk}: succeeded" for line in lines)
    for line in lines:
        assert line["company"] == spectora.connection.company_id
        assert line["workorder"] == wo.pk
        assert line["attempt"] == 1
        assert line["request_id"] == "click-0001-abcdef"
        assert {"time", "level", "logger", "message"} <= set(line)
    assert logcontext.current() == {}  # nothing outlives the task


@pytest.mark.django_db
@pytest.mark.usefixtures("queued")
def test_a_retry_logs_its_attempt_number(spectora, admin_user, json_lines):
    from spectora_integration.sync import runs

    wo = book(spectora)
    run = runs.sync_request(wo, admin_user)
    assert run.request_id == ""  # not queued by a request
    spectora.faults({"method": "POST", "path": "/v2/inspections", "mode": "error",
                     "status": 503, "times": 1})
    tasks.run_sync(run.pk)
    SyncRun.objects.filter(pk=run.pk).update(next_attempt_at=None)
    tasks.run_sync(run.pk)
    attempts = {line["attempt"] for line in json_lines() if line.get("sync_run") == run.pk}
    assert attempts == {1, 2}


def log_line_in_a_process(**env) -> str:
    script = ("import django; django.setup(); import logging; "
              "logging.getLogger('attik.test').warning('hello %s', 'there')")
    full_env = {k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT",
                                                                  "ATTIK_DEMO_MODE")}
    full_env.update(DJANGO_SETTINGS_MODULE="attik.settings", **env)
    if env.get("ATTIK_DEMO_MODE") == "false":  # production refuses the development keys
        full_env.update(SECRET_KEY="a-production-secret-key-" + "x" * 40,
                        ATTIK_ENCRYPTION_KEY=Fernet.generate_key().decode())
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(("env", "is_json"), [
    ({"ATTIK_DEMO_MODE": "false"}, True),
    ({"ATTIK_DEMO_MODE": "true"}, False),
    ({"ATTIK_DEMO_MODE": "true", "LOG_FORMAT": "json"}, True),
    ({"ATTIK_DEMO_MODE": "false", "LOG_FORMAT": "text"}, False),
])
def test_production_logs_json_and_the_demo_text(env, is_json):
    line = log_line_in_a_process(**env)
    if is_json:
        record = json.loads(line)
        assert record["message"] == "hello there"
        assert record["level"] == "WARNING" and record["logger"] == "attik.test"
    else:
        assert line.endswith("WARNING attik.test hello there")
