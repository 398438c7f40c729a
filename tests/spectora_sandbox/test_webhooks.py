"""Outgoing webhooks for changes made through /_sandbox/, signed as Standard Webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from spectora_sandbox import start_sandbox
from spectora_sandbox.webhooks import decode_secret, generate_secret, sign

from .conftest import DATETIME

SECRET = "whsec_" + base64.b64encode(b"sandbox-webhook-test-key-123").decode()


class Receiver:
    """A tiny HTTP server that records webhook deliveries."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.statuses: list[int] = []  # answers to give, in order; then 204
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.cond:
                    status = receiver.statuses.pop(0) if receiver.statuses else 204
                    receiver.received.append(
                        {
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                            "status": status,
                        }
                    )
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/spectora/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"got {len(self.received)} of {count} webhooks"
                self.cond.wait(remaining)
            return list(self.received)

    def clear(self) -> None:
        with self.cond:
            self.received.clear()
            self.statuses.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify(secret: str, delivery: dict) -> dict:
    """Check a delivery the way a receiver must; return its parsed body."""
    headers = delivery["headers"]
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + delivery["body"]
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    versions = dict(part.split(",", 1) for part in headers["webhook-signature"].split(" "))
    assert hmac.compare_digest(versions["v1"], expected)
    assert abs(int(timestamp) - time.time()) < 60
    return json.loads(delivery["body"])


@pytest.fixture(scope="module")
def receiver():
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sandbox(receiver):
    running = start_sandbox(webhook_url=receiver.url, webhook_secret=SECRET)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _fresh_receiver(receiver):
    receiver.clear()
    yield


def _person(api, body):
    resp = api.control("POST", "inspections", body)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def test_it_signs_a_created_webhook_as_standard_webhooks(api, receiver, sandbox):
    assert sandbox.webhook_secret == SECRET
    flat = _person(api, {"attributes": {"datetime": DATETIME, "full_address": "5 Ash Ct"}})
    (delivery,) = receiver.wait_for(1)
    body = verify(SECRET, delivery)
    assert body == {
        "type": "inspection.created",
        "data": {"id": flat["id"], "updated_at": flat["updated_at"]},
    }
    headers = delivery["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_") and len(headers["webhook-id"]) == 36
    assert headers["webhook-signature"].startswith("v1,")


def test_the_signature_matches_the_standard_webhooks_library(api, receiver):
    _person(api, {"attributes": {"datetime": DATETIME, "full_address": "5 Ash Ct"}})
    (delivery,) = receiver.wait_for(1)
    verified = Webhook(SECRET).verify(delivery["body"], delivery["headers"])
    assert verified["type"] == "inspection.created"


def test_it_sends_updated_and_deleted_webhooks_in_order(api, receiver):
    iid = _person(api, {"attributes": {"datetime": DATETIME, "full_address": "5 Ash Ct"}})["id"]
    updated = _person(api, {"id": iid, "attributes": {"notes": "Dog in yard"}})
    report = _person(api, {"id": iid, "reports": [{"template_id": "tpl-1"}]})["reports"][0]
    api.control("POST", f"reports/{report['id']}", {"status": "published"})
    deleted = _person(api, {"id": iid, "delete": True})
    bodies = [verify(SECRET, d) for d in receiver.wait_for(5)]
    assert [b["type"] for b in bodies] == [
        "inspection.created",
        "inspection.updated",
        "inspection.updated",
        "inspection.updated",
        "inspection.deleted",
    ]
    assert {b["data"]["id"] for b in bodies} == {iid}
    assert bodies[1]["data"]["updated_at"] == updated["updated_at"]
    assert bodies[4]["data"]["updated_at"] == deleted["updated_at"]
    stamps = [b["data"]["updated_at"] for b in bodies]
    assert stamps == sorted(stamps)


def test_changes_through_the_api_send_no_webhook(api, receiver, sandbox):
    api.create_inspection()
    assert sandbox.webhooks.wait_idle(2)
    time.sleep(0.05)
    assert receiver.received == []
    assert api.control("GET", "webhooks").json() == []


def test_it_retries_a_failed_delivery_and_lists_it(api, receiver):
    receiver.statuses[:] = [500, 503]
    iid = _person(api, {"attributes": {"datetime": DATETIME, "full_address": "5 Ash Ct"}})["id"]
    deliveries = receiver.wait_for(3)
    assert [d["status"] for d in deliveries] == [500, 503, 204]
    assert len({d["headers"]["webhook-id"] for d in deliveries}) == 1
    for d in deliveries:
        verify(SECRET, d)
    (listed,) = api.control("GET", "webhooks", params={"wait": 5}).json()
    assert listed["type"] == "inspection.created"
    assert listed["inspection_id"] == iid
    assert listed["state"] == "delivered"
    assert listed["status_code"] == 204
    assert listed["attempts"] == 3
    assert listed["id"] == deliveries[0]["headers"]["webhook-id"]


def test_it_gives_up_after_three_attempts(api, receiver):
    receiver.statuses[:] = [500, 500, 500]
    _person(api, {"attributes": {"datetime": DATETIME, "full_address": "5 Ash Ct"}})
    (listed,) = api.control("GET", "webhooks", params={"wait": 5}).json()
    assert listed["state"] == "failed"
    assert listed["attempts"] == 3
    assert listed["status_code"] == 500
    assert len(receiver.received) == 3


def test_it_records_a_connection_error(api, sandbox):
    old = api.control("GET", "webhook_config").json()
    try:
        api.control("POST", "webhook_config", {"url": "http://127.0.0.1:9/nowhere"})
        _person(api, {"attributes": {"datetime": DATETIME, "full_address": "5 Ash Ct"}})
        (listed,) = api.control("GET", "webhooks", params={"wait": 5}).json()
        assert listed["state"] == "failed"
        assert listed["status_code"] is None and listed["error"]
    finally:
        api.control("POST", "webhook_config", old)


def test_the_webhook_url_and_secret_can_be_set_at_runtime(api, receiver):
    new_secret = generate_secret()
    old = api.control("GET", "webhook_config").json()
    assert old == {"url": receiver.url, "secret": SECRET}
    try:
        resp = api.control("POST", "webhook_config", {"secret": new_secret})
        assert resp.json() == {"url": receiver.url, "secret": new_secret}
        _person(api, {"attributes": {"datetime": DATETIME, "full_address": "5 Ash Ct"}})
        (delivery,) = receiver.wait_for(1)
        verify(new_secret, delivery)
        bad = api.control("POST", "webhook_config", {"secret": "not-a-secret"})
        assert bad.status_code == 422
        assert api.control("POST", "webhook_config", {"url": "ftp://x"}).status_code == 422
    finally:
        api.control("POST", "webhook_config", old)


def test_a_sandbox_without_a_webhook_url_sends_nothing():
    with start_sandbox() as quiet:
        assert quiet.webhook_secret.startswith("whsec_")
        assert len(decode_secret(quiet.webhook_secret)) == 24
        status, _ = quiet.state.person_change(
            {"attributes": {"datetime": DATETIME, "full_address": "5 Ash Ct"}}
        )
        assert status == 201
        assert quiet.webhooks.deliveries() == []


def test_sign_follows_the_standard_webhooks_reference_vector():
    # From the Standard Webhooks specification's test suite.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
