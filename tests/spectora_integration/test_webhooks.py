"""The inbound receiver: Standard Webhooks verification, storage, dedup; end to end via a worker."""

import json
import logging
import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from spectora_integration.models import (
    ConnectionState,
    InboundWebhook,
    SpectoraConnection,
    SpectoraLink,
)
from spectora_sandbox.webhooks import event_body, generate_secret, sign
from tests.spectora_fixtures import connect_company
from tests.worker import wait_for
from workorders.models import ActivityEvent, Origin, Workorder, WorkorderStatus


def receiver_url(connection) -> str:
    return reverse("spectora_webhook", args=[connection.pk])


def signed_headers(secret: str, body: bytes, *, msg_id: str | None = None,
                   timestamp: int | None = None) -> dict:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def deliver(client, connection, event_type="inspection.updated", inspection_id="1001", *,
            body: bytes | None = None, secret: str | None = None, msg_id: str | None = None,
            timestamp: int | None = None, headers: dict | None = None):
    """POST one delivery to the receiver, signed with the connection's current secret."""
    if body is None:
        body = event_body(event_type, inspection_id, "2030-01-01T00:00:00.000000Z")
    if headers is None:
        headers = signed_headers(secret or connection.webhook_secrets[0], body, msg_id=msg_id,
                                 timestamp=timestamp)
    return client.post(receiver_url(connection), data=body, content_type="application/json",
                       headers=headers)


@pytest.fixture
def enqueued(queued):
    """No broker: records the deliveries the receiver would queue."""
    return queued["deliveries"]


@pytest.fixture
def connection(company):
    connection = SpectoraConnection(
        company=company, base_url="http://127.0.0.1:9", state=ConnectionState.CONNECTED
    )
    connection.set_api_key("sandbox-key")
    connection.set_webhook_secret(generate_secret())
    connection.save()
    return connection


@pytest.mark.django_db
class TestReceiver:
    def test_a_correctly_signed_delivery_is_stored_queued_and_answered_202(
        self, client, connection, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = deliver(client, connection, "inspection.created", "1007",
                               msg_id="msg_one")
        assert response.status_code == 202
        delivery = InboundWebhook.objects.get()
        assert response.json() == {"status": "accepted", "id": delivery.pk}
        assert (delivery.connection, delivery.webhook_id, delivery.event_type,
                delivery.inspection_id) == (connection, "msg_one", "inspection.created", "1007")
        assert delivery.processed_at is None
        assert enqueued == [delivery.pk]

    def test_a_tampered_body_is_refused_with_401_and_nothing_is_stored(
        self, client, connection, enqueued
    ):
        body = event_body("inspection.updated", "1001", "2030-01-01T00:00:00Z")
        headers = signed_headers(connection.webhook_secrets[0], body)
        tampered = body.replace(b"1001", b"1002")
        response = deliver(client, connection, body=tampered, headers=headers)
        assert response.status_code == 401
        assert not InboundWebhook.objects.exists()
        assert enqueued == []

    def test_a_delivery_signed_with_the_wrong_secret_is_refused(self, client, connection):
        response = deliver(client, connection, secret=generate_secret())
        assert response.status_code == 401
        assert not InboundWebhook.objects.exists()

    @pytest.mark.parametrize("minutes", [-6, 6])
    def test_a_timestamp_more_than_five_minutes_off_is_refused(self, client, connection,
                                                               minutes):
        response = deliver(client, connection, timestamp=int(time.time()) + minutes * 60)
        assert response.status_code == 401
        assert not InboundWebhook.objects.exists()

    def test_a_timestamp_four_minutes_old_is_still_accepted(self, client, connection, enqueued):
        response = deliver(client, connection, timestamp=int(time.time()) - 4 * 60)
        assert response.status_code == 202

    @pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
    def test_a_delivery_without_a_signature_header_is_refused(self, client, connection, missing):
        body = event_body("inspection.updated", "1001", "2030-01-01T00:00:00Z")
        headers = signed_headers(connection.webhook_secrets[0], body)
        del headers[missing]
        response = deliver(client, connection, body=body, headers=headers)
        assert response.status_code == 401

    def test_a_garbled_signature_header_is_refused_not_a_server_error(self, client, connection):
        body = event_body("inspection.updated", "1001", "2030-01-01T00:00:00Z")
        headers = signed_headers(connection.webhook_secrets[0], body)
        headers["webhook-signature"] = "v1,not base64!! nonsense"
        assert deliver(client, connection, body=body, headers=headers).status_code == 401

    def test_both_the_rotated_out_and_the_new_secret_are_accepted(self, client, connection,
                                                                  enqueued):
        old = connection.webhook_secrets[0]
        new = generate_secret()
        connection.set_webhook_secret(new)
        connection.save()
        connection.refresh_from_db()
        assert connection.webhook_secrets == [new, old]

        assert deliver(client, connection, secret=old).status_code == 202
        assert deliver(client, connection, secret=new).status_code == 202
        assert deliver(client, connection, secret=generate_secret()).status_code == 401
        assert InboundWebhook.objects.count() == 2

    def test_a_secret_rotated_out_twice_is_no_longer_accepted(self, client, connection):
        oldest = connection.webhook_secrets[0]
        for _ in range(2):
            connection.set_webhook_secret(generate_secret())
        connection.save()
        assert deliver(client, connection, secret=oldest).status_code == 401

    def test_an_unknown_connection_is_404(self, client, connection):
        body = event_body("inspection.updated", "1001", "2030-01-01T00:00:00Z")
        response = client.post(
            reverse("spectora_webhook", args=[connection.pk + 1000]), data=body,
            content_type="application/json",
            headers=signed_headers(connection.webhook_secrets[0], body),
        )
        assert response.status_code == 404
        assert not InboundWebhook.objects.exists()

    @pytest.mark.parametrize("body", [
        b"not json at all",
        b"\xff\xfe\x00",
        b"[1, 2]",
        json.dumps({"data": {"id": "1001"}}).encode(),
        json.dumps({"type": "", "data": {"id": "1001"}}).encode(),
        json.dumps({"type": "inspection.updated"}).encode(),
        json.dumps({"type": "inspection.updated", "data": "1001"}).encode(),
        json.dumps({"type": "inspection.updated", "data": {"id": ""}}).encode(),
        json.dumps({"type": "inspection.updated", "data": {"id": None}}).encode(),
    ])
    def test_a_signed_but_malformed_body_is_400(self, client, connection, body):
        response = deliver(client, connection, body=body)
        assert response.status_code == 400
        assert response.json()["error"] == "malformed"
        assert not InboundWebhook.objects.exists()

    def test_get_is_not_allowed(self, client, connection):
        assert client.get(receiver_url(connection)).status_code == 405

    def test_no_session_or_csrf_token_is_needed(self, connection, enqueued):
        from django.test import Client

        strict = Client(enforce_csrf_checks=True)
        assert deliver(strict, connection).status_code == 202

    def test_a_repeated_webhook_id_is_answered_200_and_queued_once(
        self, client, connection, enqueued, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            first = deliver(client, connection, msg_id="msg_same")
        with django_capture_on_commit_callbacks(execute=True):
            second = deliver(client, connection, msg_id="msg_same")
        assert (first.status_code, second.status_code) == (202, 200)
        assert second.json() == {"status": "duplicate"}
        assert InboundWebhook.objects.count() == 1
        assert enqueued == [InboundWebhook.objects.get().pk]

    def test_the_same_webhook_id_for_another_connection_is_its_own_delivery(
        self, client, connection, other_company, enqueued
    ):
        other = SpectoraConnection(company=other_company, state=ConnectionState.CONNECTED)
        other.set_api_key("other-key")
        other.set_webhook_secret(generate_secret())
        other.save()
        assert deliver(client, connection, msg_id="msg_x").status_code == 202
        assert deliver(client, other, msg_id="msg_x").status_code == 202
        assert InboundWebhook.objects.count() == 2

    def test_only_the_id_and_event_of_the_body_are_kept(self, client, connection, enqueued):
        body = json.dumps({
            "type": "inspection.updated",
            "data": {"id": "1001", "updated_at": "2030-01-01T00:00:00Z",
                     "client_name": "Avery Johnson"},
        }).encode()
        assert deliver(client, connection, body=body).status_code == 202
        assert InboundWebhook.objects.get().payload == {
            "type": "inspection.updated",
            "data": {"id": "1001", "updated_at": "2030-01-01T00:00:00Z"},
        }

    def test_refusals_are_logged_without_the_secret_or_the_body(self, client, connection,
                                                                caplog):
        secret = connection.webhook_secrets[0]
        body = json.dumps({"type": "inspection.updated",
                           "data": {"id": "1001", "client_name": "Avery Johnson"}}).encode()
        headers = signed_headers(generate_secret(), body, msg_id="msg_logged")
        with caplog.at_level(logging.INFO, logger="spectora_integration"):
            assert deliver(client, connection, body=body, headers=headers).status_code == 401
            assert deliver(client, connection, body=b"{nope").status_code == 400
        text = caplog.text
        assert "msg_logged" in text and "bad_signature" in text and "malformed" in text
        assert secret not in text and secret.removeprefix("whsec_") not in text
        assert "Avery" not in text and "{nope" not in text

    def test_the_receiver_never_calls_spectora(self, client, company, sandbox, enqueued):
        wired = connect_company(company, sandbox)
        assert deliver(client, wired.connection).status_code == 202
        assert wired.requests_log() == []


# ---------------------------------------------------------------- end to end, real worker

def _person(wired, body: dict) -> dict:
    return wired.control("inspections", body)


@pytest.mark.worker
@pytest.mark.xdist_group("worker")
@pytest.mark.django_db(transaction=True)
def test_the_sandbox_creating_changing_and_cancelling_an_inspection_reaches_attik_through_a_worker(
    celery_worker_process, live_server, company, sandbox, sandbox_webhooks_to
):
    wired = connect_company(company, sandbox)
    secret = wired.connection.webhook_secrets[0]
    sandbox_webhooks_to(live_server.url + receiver_url(wired.connection), secret)
    when = (timezone.now() + timedelta(days=3)).replace(microsecond=0)

    created = _person(wired, {
        "attributes": {"datetime": when.isoformat(), "duration": 90,
                       "full_address": "9 Birch Rd", "client_name": "Sam Lee",
                       "client_email": "sam@example.com", "notes": "Gate code 1234"},
        "assignments": [{"inspector_id": "insp-2", "primary": True},
                        {"inspector_id": "insp-3", "primary": False}],
        "line_items": [{"service_id": "svc-1", "price_cents": 43000, "quantity": 1}],
    })

    def imported():
        link = SpectoraLink.objects.filter(remote_id=created["id"]).select_related(
            "workorder").first()
        return link.workorder if link else None

    wo = wait_for(imported, timeout=60)
    assert (wo.origin, wo.status, wo.address, wo.duration_minutes, wo.scheduled_at) == (
        Origin.SPECTORA, WorkorderStatus.CONFIRMED, "9 Birch Rd", 90, when)
    assert sorted((a.employee.spectora_inspector_id, a.primary)
                  for a in wo.assignments.all()) == [("insp-2", True), ("insp-3", False)]
    assert [(li.service.spectora_service_id, li.price_cents) for li in wo.line_items.all()] == [
        ("svc-1", 43000)]

    _person(wired, {"id": created["id"], "attributes": {"full_address": "11 Birch Rd"},
                    "assignments": [{"inspector_id": "insp-4", "primary": True}]})
    wait_for(lambda: Workorder.objects.get(pk=wo.pk).address == "11 Birch Rd", timeout=60)
    wait_for(lambda: [a.employee.spectora_inspector_id
                      for a in Workorder.objects.get(pk=wo.pk).assignments.all()] == ["insp-4"])

    _person(wired, {"id": created["id"], "attributes": {
        "canceled_at": timezone.now().isoformat(), "cancel_reason": "Seller withdrew"}})
    wo = wait_for(lambda: Workorder.objects.filter(pk=wo.pk, status=WorkorderStatus.CANCELLED)
                  .first(), timeout=60)
    assert wo.cancel_reason == "Seller withdrew"

    assert Workorder.objects.filter(company=company).count() == 1
    deliveries = InboundWebhook.objects.filter(connection=wired.connection)
    assert deliveries.count() == 3
    wait_for(lambda: not deliveries.filter(processed_at__isnull=True).exists())
    assert set(deliveries.values_list("attempts", flat=True)) == {1}
    verbs = list(ActivityEvent.objects.filter(workorder=wo).values_list("verb", "actor"))
    assert ("spectora_imported", None) in verbs and ("spectora_updated", None) in verbs


@pytest.mark.worker
@pytest.mark.xdist_group("worker")
@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_read_fails_for_a_while_is_retried_by_the_worker(
    celery_worker_process, client, company, sandbox
):
    wired = connect_company(company, sandbox)
    job = _person(wired, {"attributes": {"datetime": timezone.now().isoformat(),
                                         "full_address": "3 Retry Ln"}})
    wired.faults({"method": "GET", "path": f"/v2/inspections/{job['id']}", "mode": "error",
                  "status": 503, "times": 2})

    assert deliver(client, wired.connection, "inspection.created", job["id"]).status_code == 202

    delivery = wait_for(lambda: InboundWebhook.objects.filter(processed_at__isnull=False)
                        .first(), timeout=60)
    assert (delivery.attempts, delivery.error) == (3, "")
    assert Workorder.objects.get().address == "3 Retry Ln"
