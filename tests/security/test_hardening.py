"""Production settings, CSRF, login throttling, roles, and secrets that never show."""

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from spectora_integration.models import SyncCall
from spectora_integration.sync import runs
from tests.factories import PASSWORD, WorkorderFactory, member
from tests.spectora_integration.test_sync import book, drain
from workorders.models import ActivityEvent, Role

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    env = dict(
        os.environ,
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="attik.settings",
        ATTIK_DEMO_MODE="false",
        SECRET_KEY=secrets.token_urlsafe(60),
        ATTIK_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        SECURE_SSL_REDIRECT="true",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
        ALLOWED_HOSTS="attik.example.com",
        ATTIK_VAR_DIR=str(tmp_path),
        DATABASE_URL="",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_the_login_is_throttled_after_repeated_failures(settings, office_user):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for _ in range(3):
        client.post(reverse("login"), {"username": office_user.username, "password": "wrong"})
    locked = client.post(reverse("login"), {"username": office_user.username, "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


POST_PAGES = [
    ("workorders:create", False),
    ("workorders:edit", True),
    ("workorders:reschedule", True),
    ("workorders:confirm", True),
    ("workorders:cancel", True),
    ("spectora:workorder_sync", True),
    ("spectora:connection", False),
    ("spectora:connection_test", False),
    ("spectora:connection_disconnect", False),
    ("spectora:staff_link", False),
    ("spectora:staff_unlink", False),
    ("spectora:staff_create", False),
    ("spectora:services", False),
    ("spectora:failed_syncs", False),
]


@pytest.mark.django_db
@pytest.mark.parametrize("name,takes_id", POST_PAGES)
def test_every_state_changing_form_needs_its_csrf_token(company, admin_user, name, takes_id):
    wo = WorkorderFactory(company=company, notes="before")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    url = reverse(name, args=[wo.pk] if takes_id else [])
    response = client.post(url, {"reason": "x", "notes": "after", "action": "retry_all"})
    assert response.status_code == 403
    wo.refresh_from_db()
    assert (wo.notes, wo.status) == ("before", "unconfirmed")


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.OFFICE_STAFF, Role.SCHEDULER])
def test_only_admins_change_the_connection_mappings_or_retry(company, role):
    client = Client()
    client.force_login(member(company, role))
    for name in (
        "spectora:connection",
        "spectora:staff",
        "spectora:services",
        "spectora:failed_syncs",
    ):
        assert client.get(reverse(name)).status_code == 403
        assert client.post(reverse(name), {"base_url": "https://x.example.com"}).status_code == 403
    api = APIClient()
    api.force_authenticate(member(company, role))
    assert (
        api.post("/api/v1/sync-runs/retry/", {"all_failed": True}, format="json").status_code == 403
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("queued")  # no broker: nothing is sent to workers
def test_the_api_key_and_webhook_secret_never_show(spectora, admin_user, caplog, monkeypatch):
    """After syncs, a failure and page views: no page, API answer, log line or row has them.

    The production log output (one JSON object per line, with the sync's context) is
    checked too, and it carries no client personal data either.
    """
    import io

    from attik import logcontext
    from spectora_integration import tasks

    caplog.set_level(logging.DEBUG)
    json_output = io.StringIO()
    json_handler = logging.StreamHandler(json_output)
    json_handler.addFilter(logcontext.LogContextFilter())
    json_handler.setFormatter(logcontext.json_formatter())
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [*root.handlers, json_handler])
    key, webhook_secret = "sandbox-key", spectora.sandbox.webhook_secret
    wo = book(spectora)
    run = runs.sync_request(wo, admin_user)
    tasks.run_sync(run.pk)
    drain(wo)
    spectora.faults({"method": "*", "path": "/v2/*", "mode": "error", "status": 401})
    wo.notes = "again"
    wo.save()
    run = runs.sync_request(wo, admin_user)
    tasks.run_sync(run.pk)
    drain(wo)
    client = Client()
    client.force_login(admin_user)
    api = APIClient()
    api.force_authenticate(admin_user)
    pages = [
        client.get(reverse("spectora:connection")),
        client.get(reverse("workorders:detail", args=[wo.pk]) + "?tab=integrations"),
        client.get(reverse("spectora:failed_syncs")),
        client.get("/admin/spectora_integration/spectoraconnection/"),
        client.get(
            f"/admin/spectora_integration/spectoraconnection/{spectora.connection.pk}/change/"
        ),
        client.get("/admin/spectora_integration/syncrun/"),
        api.get(f"/api/v1/workorders/{wo.pk}/"),
        api.get("/api/v1/sync-runs/?state=failed"),
    ]
    texts = [p.content.decode() for p in pages]
    texts += [repr(list(SyncCall.objects.values()))]
    texts += [repr(list(ActivityEvent.objects.values()))]
    texts += [caplog.text]
    json_lines = json_output.getvalue().splitlines()
    assert any(f'"sync_run": {run.pk}' in line for line in json_lines)
    texts += [json_output.getvalue()]
    for text in texts:
        assert key not in text
        assert webhook_secret not in text
        assert webhook_secret.removeprefix("whsec_") not in text
    for personal in (wo.client_name, wo.client_email, wo.address):
        assert personal not in json_output.getvalue()


@pytest.mark.django_db
def test_behind_a_proxy_a_stranger_cannot_lock_a_user_out_for_everyone(settings, office_user):
    """Throttling counts (username, address). Behind a load balancer the address is the
    client's, from X-Forwarded-For counted from the right, not the balancer's (found from
    outside: ten wrong passwords locked the user out for every caller)."""
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    settings.ATTIK_PROXY_COUNT = 1
    balancer = {"REMOTE_ADDR": "10.0.0.1"}
    stranger = Client(**balancer, HTTP_X_FORWARDED_FOR="203.0.113.9")
    for _ in range(3):
        stranger.post(reverse("login"), {"username": office_user.username, "password": "wrong"})
    login = {"username": office_user.username, "password": PASSWORD}
    assert stranger.post(reverse("login"), login).status_code == 429
    # A spoofed address on the left does not free the stranger.
    spoofed = Client(**balancer, HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9")
    assert spoofed.post(reverse("login"), login).status_code == 429
    user = Client(**balancer, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert user.post(reverse("login"), login).status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health/", "/metrics"])
def test_probes_may_use_head(client, path):
    """Uptime checkers often probe with HEAD (found from outside: 405)."""
    assert client.head(path).status_code == client.get(path).status_code
