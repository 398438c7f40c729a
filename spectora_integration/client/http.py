"""The one place that speaks HTTP to Spectora (docs/spectora-api.md).

A change in Spectora's contract touches this file only. Every call has a
connect and a read timeout, goes through the connection's shared rate limiter,
and is reported to an optional recorder with its bodies redacted. Failures are
``SpectoraError`` with ``permanent`` saying whether a retry can help.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from spectora_integration.client.egress import AddressRefused, canonical_url
from spectora_integration.client.errors import (
    PermanentError,
    SpectoraError,
    TransientError,
    error_from_response,
)
from spectora_integration.client.redaction import redact
from spectora_integration.client.transport import pinned_session

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (3.05, 15.0)  # (connect, read) seconds
PAGE_SIZE = 200
INCLUDE_ALL = "assignments,line_items,reports"


# ---------------------------------------------------------------- records

@dataclass(frozen=True)
class Resource:
    type: str
    id: str
    attributes: dict[str, Any]

    @classmethod
    def parse(cls, data: dict) -> Resource:
        return cls(type=data["type"], id=str(data["id"]), attributes=data.get("attributes") or {})

    def __getitem__(self, key: str) -> Any:
        return self.attributes.get(key)


@dataclass(frozen=True)
class Inspection:
    id: str
    attributes: dict[str, Any]
    assignments: list[Resource] = field(default_factory=list)
    line_items: list[Resource] = field(default_factory=list)
    reports: list[Resource] = field(default_factory=list)

    @classmethod
    def parse(cls, body: dict) -> Inspection:
        data = body["data"]
        included = [Resource.parse(r) for r in body.get("included") or []]
        by_type: dict[str, list[Resource]] = {}
        for resource in included:
            by_type.setdefault(resource.type, []).append(resource)
        return cls(
            id=str(data["id"]),
            attributes=data.get("attributes") or {},
            assignments=by_type.get("assignments", []),
            line_items=by_type.get("line_items", []),
            reports=by_type.get("reports", []),
        )

    def __getitem__(self, key: str) -> Any:
        return self.attributes.get(key)

    @property
    def url(self) -> str:
        return self.attributes.get("url") or ""

    @property
    def updated_at(self) -> datetime | None:
        return parse_time(self.attributes.get("updated_at"))

    @property
    def canceled(self) -> bool:
        return bool(self.attributes.get("canceled_at"))


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class CallRecord:
    """What one call did, safe to store: no key, personal data redacted."""

    method: str
    path: str
    status: int | None
    duration_ms: int
    request_body: Any
    response_body: Any
    error: str = ""


Recorder = Callable[[CallRecord], None]


# ---------------------------------------------------------------- client

class SpectoraClient:
    """One per connection. ``limiter`` paces calls across every worker process."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        recorder: Recorder | None = None,
        limiter=None,
        unusable: SpectoraError | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._refused: AddressRefused | None = None
        try:  # the host as the address check reads it, never as requests would
            self._target = canonical_url(self.base_url)
        except AddressRefused as refused:
            self._target, self._refused = "", refused
        self._api_key = api_key
        # Why no call can be made (the stored key cannot be read): every call raises it.
        self._unusable = unusable
        self.timeout = timeout
        self.recorder = recorder
        self.limiter = limiter
        # Always the pinned session: every connection is checked (client/egress.py).
        self.session = _new_session()

    def __repr__(self) -> str:  # never the key
        return f"SpectoraClient({self.base_url!r})"

    @classmethod
    def for_connection(cls, connection, *, recorder: Recorder | None = None,
                       urgent: bool = True, **kwargs):
        """``urgent``: a person waits for these calls (ratelimit.py: admitted sooner)."""
        from django.conf import settings

        from spectora_integration.client.ratelimit import limiter_for
        from spectora_integration.crypto import SecretUnreadable

        kwargs.setdefault("timeout", (settings.SPECTORA_CONNECT_TIMEOUT_SECONDS,
                                      settings.SPECTORA_READ_TIMEOUT_SECONDS))
        try:
            api_key, unusable = connection.api_key, None
        except SecretUnreadable as exc:
            # Raised by the first call, where callers handle SpectoraError: the sync run
            # fails with this sentence instead of crashing.
            api_key, unusable = "", PermanentError(exc.message, code="secret_unreadable")
        return cls(
            connection.base_url,
            api_key,
            recorder=recorder,
            limiter=limiter_for(connection, urgent=urgent),
            unusable=unusable,
            **kwargs,
        )

    def reserve_calls(self, count: int) -> None:
        """Book the rate slots of the next ``count`` calls at once (RateLimited if the
        budget is spent: nothing is booked then)."""
        if self.limiter is not None and count > 0:
            self.limiter.reserve(count)

    # -- reads

    def inspectors(self) -> list[Resource]:
        return list(self._collection(_path("inspectors")))

    def services(self) -> list[Resource]:
        return list(self._collection(_path("services")))

    def templates(self) -> list[Resource]:
        return list(self._collection(_path("templates")))

    def ping(self) -> None:
        """The cheapest authenticated read (one inspector): does Spectora answer?"""
        self._request("GET", "/v2/inspectors", params={"page[size]": 1})

    def inspection_get(self, inspection_id: str) -> Inspection:
        body = self._request(
            "GET", _path("inspections", inspection_id), params={"include": INCLUDE_ALL}
        )
        return Inspection.parse(body)

    def inspection_find_by_external_ref(self, external_ref: str) -> Resource | None:
        body = self._request(
            "GET", _path("inspections"), params={"filter[external_ref]": external_ref}
        )
        found = [Resource.parse(r) for r in body.get("data") or []]
        return found[0] if found else None

    def inspections_updated_since(self, since: datetime) -> Iterator[Resource]:
        return self._collection(
            _path("inspections"),
            {"filter[updated_since]": since.isoformat(), "sort": "updated_at"},
        )

    # -- writes

    def inspection_create(self, attributes: dict, *, idempotency_key: str) -> Inspection:
        body = self._request(
            "POST", _path("inspections"), json=_document("inspections", attributes),
            idempotency_key=idempotency_key,
        )
        return Inspection.parse(body)

    def inspection_update(self, inspection_id: str, attributes: dict) -> Inspection:
        body = self._request(
            "PATCH", _path("inspections", inspection_id),
            json=_document("inspections", attributes, inspection_id),
        )
        return Inspection.parse(body)

    def inspection_cancel(self, inspection_id: str, reason: str, *, idempotency_key: str) -> None:
        self._request(
            "POST", _path("inspections", inspection_id, "cancel"), json={"reason": reason},
            idempotency_key=idempotency_key,
        )

    def child_add(
        self, inspection_id: str, kind: str, attributes: dict, *, idempotency_key: str
    ) -> Resource:
        """Add an assignment, line item or report (``kind`` is the JSON:API type)."""
        body = self._request(
            "POST", _path("inspections", inspection_id, kind),
            json=_document(kind, attributes),
            idempotency_key=idempotency_key,
        )
        return Resource.parse(body["data"])

    def child_update(self, inspection_id: str, kind: str, child_id: str, attributes: dict):
        body = self._request(
            "PATCH", _path("inspections", inspection_id, kind, child_id),
            json=_document(kind, attributes, child_id),
        )
        return Resource.parse(body["data"])

    def child_remove(self, inspection_id: str, kind: str, child_id: str) -> None:
        self._request("DELETE", _path("inspections", inspection_id, kind, child_id))

    # -- plumbing

    def _collection(self, path: str, params: dict | None = None) -> Iterator[Resource]:
        page = 1
        while True:
            query = dict(params or {}, **{"page[number]": page, "page[size]": PAGE_SIZE})
            body = self._request("GET", path, params=query)
            for item in body.get("data") or []:
                yield Resource.parse(item)
            if not (body.get("links") or {}).get("next"):
                return
            page += 1

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
    ) -> dict:
        if self._unusable is not None:
            raise self._unusable
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/vnd.api+json",
        }
        if json is not None:
            headers["Content-Type"] = "application/vnd.api+json"
        if idempotency_key and method == "POST":
            headers["Idempotency-Key"] = idempotency_key
        if self.limiter is not None:
            self.limiter.acquire()
        started = time.monotonic()
        response = None
        error: SpectoraError | None = None
        body: Any = None
        try:
            if self._refused is not None:
                raise self._refused
            response = self.session.request(
                method, self._target + path, params=params, json=json, headers=headers,
                timeout=self.timeout, allow_redirects=False,
            )
        except AddressRefused as refused:
            error = PermanentError(
                f"Attik did not call {self.base_url}: {refused.message} An admin can correct "
                "the address on the Spectora connection page.",
                code="address_refused",
            )
        except requests.Timeout:
            error = TransientError(
                "Spectora did not answer in time; it will be retried.", code="timeout"
            )
        except requests.ConnectionError:
            error = TransientError(
                f"Could not reach Spectora at {self.base_url}; it will be retried.",
                code="unreachable",
            )
        except requests.RequestException as exc:
            error = PermanentError(f"The request to Spectora failed: {exc.__class__.__name__}.",
                                   code="request_failed")
        if response is not None:
            if response.status_code >= 300:
                error = error_from_response(response)
                body = _json_or_text(response)
            else:
                body = _json_or_text(response) if response.content else {}
                if not isinstance(body, dict):
                    error = TransientError(
                        "Spectora sent an answer we could not read; it will be retried.",
                        status=response.status_code, code="bad_response",
                    )
        duration_ms = int((time.monotonic() - started) * 1000)
        self._record(method, path, params, json, response, body, error, duration_ms)
        if error is not None:
            raise error
        return body

    def _record(self, method, path, params, json, response, body, error, duration_ms) -> None:
        status = response.status_code if response is not None else None
        full_path = path
        if params:
            full_path += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        log.info(
            "spectora %s %s -> %s in %d ms%s", method, full_path, status or "no answer",
            duration_ms, f" ({error.code})" if error else "",
        )
        if self.recorder is None:
            return
        secrets = [self._api_key]
        self.recorder(
            CallRecord(
                method=method,
                path=full_path[:500],
                status=status,
                duration_ms=duration_ms,
                request_body=redact(json, secrets),
                response_body=redact(body, secrets),
                error=(error.message if error else "")[:500],
            )
        )


def _path(*segments: Any) -> str:
    """``/v2/a/b``: each segment quoted whole, so an id like ``../x`` stays one segment."""
    return "/v2/" + "/".join(_segment(str(segment)) for segment in segments)


def _segment(text: str) -> str:
    if not text:
        raise PermanentError("A Spectora id is missing, so the call was not made.", code="no_id")
    quoted = quote(text, safe="")
    # "." and ".." are unreserved yet would be removed as dot segments: spell them out.
    return quoted.replace(".", "%2E") if set(text) <= {"."} else quoted


def _document(kind: str, attributes: dict, resource_id: str | None = None) -> dict:
    data: dict[str, Any] = {"type": kind, "attributes": attributes}
    if resource_id is not None:
        data["id"] = str(resource_id)
    return {"data": data}


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


def _new_session() -> requests.Session:
    """Checked, pinned connections; no proxy, no redirect (client/transport.py)."""
    return pinned_session()
