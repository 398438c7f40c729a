"""Finding 1 (a failing connection still syncs, through the guard) and finding 3 (webhooks).

A connection in state ``failing`` still counts as connected: a failure may be a blip,
and the next sync should go through without an admin. That is safe because every call
goes through the client's address check: a stored internal address is refused before
any connect, and the run fails with a message an admin can act on.

Webhooks: a signed body nested deeper than ``MAX_DEPTH`` answers 400 (no RecursionError,
no 500); a signed ``data.id`` that is not a Spectora id answers 400 and is not stored;
and the client quotes every path segment, so an id can never become a path.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from standardwebhooks import Webhook

from spectora_integration.client import SpectoraClient, SpectoraError
from spectora_integration.inbound.webhooks import MAX_DEPTH
from spectora_integration.models import (
    ConnectionState,
    InboundWebhook,
    RunState,
    SpectoraConnection,
)
from tests.spectora_integration.test_sync import book, sync

# ---------------------------------------------------------------- a failing connection


@pytest.mark.django_db
def test_a_failing_connection_still_syncs_but_never_to_an_internal_address(
    spectora, queued, settings, resolver, sockets
):
    settings.ATTIK_DEMO_MODE = False
    SpectoraConnection.objects.filter(pk=spectora.connection.pk).update(
        state=ConnectionState.FAILING, base_url="https://169。254。169。254/latest"
    )
    workorder = book(spectora)

    run = sync(workorder)

    assert run.state == RunState.FAILED
    assert "Attik did not call" in run.reason
    assert sockets.connects == []
    assert spectora.state() == []


# ---------------------------------------------------------------- path segments


@pytest.mark.django_db
@pytest.mark.parametrize("hostile", ["../inspectors", "..", "1001/cancel", "1001?x=1", "%2e%2e"])
def test_an_id_is_always_one_path_segment(spectora, hostile):
    client = SpectoraClient.for_connection(spectora.connection)
    before = len(spectora.requests_log())
    with pytest.raises(SpectoraError):
        client.inspection_get(hostile)
    calls = spectora.requests_log()[before:]
    assert len(calls) == 1
    assert calls[0]["path"].startswith("/v2/inspections/")
    assert calls[0]["path"].count("/") == 3, calls[0]["path"]
    assert "/v2/inspectors" not in calls[0]["path"]


# ---------------------------------------------------------------- webhooks


SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture
def connection(company):
    connection = SpectoraConnection(
        company=company, base_url="http://127.0.0.1:9", state=ConnectionState.CONNECTED
    )
    connection.set_api_key("sandbox-key")
    connection.set_webhook_secret(SECRET)
    connection.save()
    return connection


def post_signed(client, connection, body: bytes):
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = int(time.time())
    signature = Webhook(SECRET).sign(msg_id, datetime.fromtimestamp(now, UTC), body.decode())
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(now),
               "webhook-signature": signature}
    return client.post(reverse("spectora_webhook", args=[connection.pk]), data=body,
                       content_type="application/json", headers=headers)


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [100_000, 2_000, MAX_DEPTH + 1])
def test_a_deeply_nested_signed_body_is_refused_with_400(client, connection, queued, depth):
    body = ('{"type": "inspection.updated", "data": {"id": "1001"}, "x": '
            + "[" * depth + "]" * depth + "}").encode()
    response = post_signed(client, connection, body)
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]
    assert not InboundWebhook.objects.exists()


@pytest.mark.django_db
def test_an_ordinary_body_still_passes_the_depth_limit(client, connection, queued):
    body = json.dumps({"type": "inspection.updated",
                       "data": {"id": "insp-1_A", "updated_at": "2030-01-01T00:00:00Z"}})
    assert post_signed(client, connection, body.encode()).status_code == 202


@pytest.mark.django_db
@pytest.mark.parametrize(
    "hostile", ["../inspectors", "..", "1001/cancel", "1001?x=1", "%2e%2e", "a b", "é1",
                "1" * 65, "1001\n"],
)
def test_a_signed_id_that_is_not_a_spectora_id_is_refused(client, connection, queued, hostile):
    body = json.dumps({"type": "inspection.updated", "data": {"id": hostile}}).encode()
    response = post_signed(client, connection, body)
    assert response.status_code == 400
    assert not InboundWebhook.objects.exists()
    assert queued["deliveries"] == []

