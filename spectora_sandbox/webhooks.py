"""Outgoing webhooks, signed as Standard Webhooks (https://www.standardwebhooks.com).

`WebhookDispatcher.send` only queues; one background thread delivers, in order,
with a 5 s timeout and up to 3 attempts (short backoff) on a connection error or a
non-2xx answer. Every delivery is recorded for `GET /_sandbox/webhooks`.
Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from typing import Any

SECRET_PREFIX = "whsec_"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_S = (0.2, 0.6)
DELIVERY_LOG_LIMIT = 10_000


def generate_secret() -> str:
    """A fresh `whsec_` secret: 24 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def decode_secret(secret: str) -> bytes:
    """The HMAC key inside a `whsec_<base64>` secret; ValueError when malformed."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secret must look like whsec_<base64>")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret must look like whsec_<base64>") from None
    if not key:
        raise ValueError("webhook secret must not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` header value: `v1,<base64 HMAC-SHA256>`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def event_body(event_type: str, inspection_id: str, updated_at: str) -> bytes:
    payload = {"type": event_type, "data": {"id": inspection_id, "updated_at": updated_at}}
    return json.dumps(payload, separators=(",", ":")).encode()


class WebhookDispatcher:
    """Queues events and delivers them from one daemon thread."""

    def __init__(
        self,
        url: str | None = None,
        secret: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: tuple[float, ...] = DEFAULT_BACKOFF_S,
    ) -> None:
        if secret is None:
            secret = generate_secret()
        decode_secret(secret)
        self._url = url or None
        self._secret = secret
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._cond = threading.Condition()
        self._queue: deque[dict] = deque()
        self._log: deque[dict] = deque(maxlen=DELIVERY_LOG_LIMIT)
        self._busy = False
        self._closed = False
        self._generation = 0
        self._thread: threading.Thread | None = None
        # No proxies: the receiver is normally on this machine.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # ----------------------------------------------------------------- config

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def secret(self) -> str:
        return self._secret

    def configure(self, **changes: Any) -> dict:
        """Change `url` and/or `secret` (only the keys given). ValueError if invalid."""
        url = changes.get("url", self._url)
        secret = changes.get("secret", self._secret)
        if url is not None and (
            not isinstance(url, str) or not url.startswith(("http://", "https://"))
        ):
            raise ValueError("url must be null or an http(s) URL")
        if secret is None:
            secret = generate_secret()
        decode_secret(secret)
        with self._cond:
            self._url = url or None
            self._secret = secret
        return self.config()

    def config(self) -> dict:
        return {"url": self._url, "secret": self._secret}

    # ----------------------------------------------------------------- sending

    def send(self, event_type: str, inspection_id: str, updated_at: str) -> str | None:
        """Queue one event; returns its webhook-id, or None when no URL is set."""
        with self._cond:
            if self._url is None or self._closed:
                return None
            msg_id = "msg_" + uuid.uuid4().hex
            record = {
                "id": msg_id,
                "type": event_type,
                "inspection_id": inspection_id,
                "updated_at": updated_at,
                "url": self._url,
                "state": "pending",
                "status_code": None,
                "error": None,
                "attempts": 0,
                "queued_at": time.time(),
            }
            self._log.append(record)
            self._queue.append(record)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="spectora-sandbox-webhooks", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
            return msg_id

    def deliveries(self) -> list[dict]:
        with self._cond:
            return [{k: v for k, v in record.items() if k != "queued_at"} for record in self._log]

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued delivery has finished; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def clear(self) -> None:
        """Forget pending and past deliveries (a delivery in flight still finishes)."""
        with self._cond:
            self._generation += 1
            self._queue.clear()
            self._log.clear()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()

    # ----------------------------------------------------------------- worker

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                record = self._queue.popleft()
                self._busy = True
                generation = self._generation
                url, secret = record["url"], self._secret
            try:
                self._deliver(record, url, secret, generation)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _deliver(self, record: dict, url: str, secret: str, generation: int) -> None:
        body = event_body(record["type"], record["inspection_id"], record["updated_at"])
        for attempt in range(1, self.attempts + 1):
            with self._cond:
                if self._closed or generation != self._generation:
                    return
                record["attempts"] = attempt
            status, error = self._post(url, secret, record["id"], body)
            with self._cond:
                record["status_code"] = status
                record["error"] = error
                if status is not None and 200 <= status < 300:
                    record["state"] = "delivered"
                    return
                if attempt == self.attempts:
                    record["state"] = "failed"
                    return
            delay = self.backoff[min(attempt - 1, len(self.backoff) - 1)] if self.backoff else 0
            time.sleep(delay)

    def _post(
        self, url: str, secret: str, msg_id: str, body: bytes
    ) -> tuple[int | None, str | None]:
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 - URL checked to be http(s)
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "SpectoraSandbox-Webhooks/1.0",
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secret, msg_id, timestamp, body),
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read()
                return response.status, None
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
