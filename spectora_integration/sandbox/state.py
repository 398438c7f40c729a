"""The sandbox's in-memory Spectora company: its data and every rule of the API.

Nothing in here speaks HTTP. `SandboxState.handle_api` takes a method, a request
target, headers and the raw body, and returns a `Response`: a status, a JSON body,
extra headers, and the fault directives the HTTP layer carries out (wait before
answering, or drop the connection without answering). The control operations
behind `/_sandbox/` are plain methods that take parsed JSON and raise `ApiError`.

One re-entrant lock guards everything, so each call sees and leaves a consistent
store. Standard library only.
"""

from __future__ import annotations

import fnmatch
import hmac
import html
import json
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

API_KEY = "sandbox-key"
JSONAPI_CONTENT_TYPE = "application/vnd.api+json"
JSON_CONTENT_TYPE = "application/json"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
DEFAULT_DURATION = 120
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
REQUEST_LOG_LIMIT = 100_000
DEFAULT_TIMEOUT_DELAY_MS = 10_000

FIRST_INSPECTION_ID = 1001
FIRST_ASSIGNMENT_ID = 20001
FIRST_LINE_ITEM_ID = 40001
FIRST_REPORT_ID = 60001

REPORT_STATUSES = ("empty", "started", "published")
FAULT_MODES = ("error", "timeout", "applied_then_error")

INSPECTORS = (
    ("insp-1", "Maria Lopez", "maria.lopez@example.com", True),
    ("insp-2", "James Carter", "james.carter@example.com", True),
    ("insp-3", "Priya Shah", "priya.shah@example.com", True),
    ("insp-4", "Tom Becker", "tom.becker@example.com", True),
    ("insp-5", "Dana Whitfield", "dana.whitfield@example.com", True),
)
SERVICES = (
    ("svc-1", "Full Home Inspection", "primary", 45000),
    ("svc-2", "Pre-Listing Inspection", "primary", 40000),
    ("svc-3", "New Construction Inspection", "primary", 52500),
    ("svc-4", "Condo/Townhome Inspection", "primary", 32500),
    ("svc-5", "Radon Test", "add_on", 15000),
    ("svc-6", "Termite/WDO Inspection", "add_on", 9500),
    ("svc-7", "Sewer Scope", "add_on", 17500),
    ("svc-8", "Mold Air Sampling", "add_on", 22500),
)
TEMPLATES = (
    ("tpl-1", "Residential Inspection Report"),
    ("tpl-2", "Radon Measurement Report"),
    ("tpl-3", "WDO Report (NPMA-33)"),
    ("tpl-4", "Sewer Scope Report"),
)

# Inspection attributes, in the order they are serialised (`url` is derived).
INSPECTION_ATTRIBUTES = (
    "external_ref",
    "datetime",
    "duration",
    "full_address",
    "client_name",
    "client_email",
    "notes",
    "canceled_at",
    "cancel_reason",
    "origin",
    "updated_at",
)
API_WRITABLE = frozenset(
    {"external_ref", "datetime", "duration", "full_address", "client_name", "client_email", "notes"}
)
PERSON_WRITABLE = API_WRITABLE | {"canceled_at", "cancel_reason"}
READ_ONLY = frozenset({"canceled_at", "cancel_reason", "origin", "updated_at", "url"})
INCLUDABLE = ("assignments", "line_items", "reports")

TITLES = {
    "invalid_json": "Malformed JSON",
    "invalid_body": "Invalid request body",
    "invalid_parameter": "Invalid query parameter",
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "payload_too_large": "Payload too large",
    "external_ref_taken": "External reference already taken",
    "validation_failed": "Validation failed",
    "inspection_canceled": "Inspection canceled",
    "inspector_not_found": "Inspector not found",
    "already_assigned": "Inspector already assigned",
    "service_not_found": "Service not found",
    "template_not_found": "Template not found",
    "already_attached": "Report already attached",
    "report_has_content": "Report has content",
    "idempotency_key_reused": "Idempotency key reused",
    "inspection_locked": "Inspection locked",
    "rate_limited": "Too many requests",
    "internal_error": "Internal server error",
    "bad_gateway": "Bad gateway",
    "service_unavailable": "Service unavailable",
    "gateway_timeout": "Gateway timeout",
    "injected_fault": "Injected fault",
}
FAULT_CODES = {
    423: "inspection_locked",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --------------------------------------------------------------------------- errors


def error_object(
    status: int,
    code: str,
    detail: str,
    *,
    source: dict | None = None,
    meta: dict | None = None,
) -> dict:
    obj: dict[str, Any] = {
        "status": str(status),
        "code": code,
        "title": TITLES.get(code, code.replace("_", " ").capitalize()),
        "detail": detail,
    }
    if source:
        obj["source"] = source
    if meta:
        obj["meta"] = meta
    return obj


class ApiError(Exception):
    """An error answer: one or more JSON:API error objects sharing a status."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        source: dict | None = None,
        meta: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.errors = [error_object(status, code, detail, source=source, meta=meta)]
        self.headers = dict(headers or {})

    @classmethod
    def many(cls, status: int, errors: list[dict]) -> ApiError:
        err = cls(status, errors[0]["code"], errors[0]["detail"])
        err.errors = errors
        return err

    @property
    def code(self) -> str:
        return self.errors[0]["code"]

    def response(self, content_type: str = JSONAPI_CONTENT_TYPE) -> Response:
        return Response(self.status, {"errors": self.errors}, dict(self.headers), content_type)


def _field_error(pointer: str, detail: str, code: str = "validation_failed") -> dict:
    return error_object(422, code, detail, source={"pointer": pointer})


def _unprocessable(pointer: str, detail: str, code: str = "validation_failed") -> ApiError:
    return ApiError.many(422, [_field_error(pointer, detail, code)])


# --------------------------------------------------------------------------- values


@dataclass
class Response:
    """What the HTTP layer must send (or, for a timeout fault, not send)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSONAPI_CONTENT_TYPE
    delay_s: float = 0.0
    drop_connection: bool = False
    raw: bytes | None = None


@dataclass
class Assignment:
    id: str
    inspector_id: str
    primary: bool


@dataclass
class LineItem:
    id: str
    service_id: str
    name: str
    price_cents: int
    quantity: int


@dataclass
class Report:
    id: str
    template_id: str
    status: str = "empty"


@dataclass
class Inspection:
    id: str
    attrs: dict[str, Any]
    updated_us: int = 0
    assignments: dict[str, Assignment] = field(default_factory=dict)
    line_items: dict[str, LineItem] = field(default_factory=dict)
    reports: dict[str, Report] = field(default_factory=dict)


@dataclass
class FaultRule:
    method: str
    path: str
    mode: str
    status: int
    rate: float
    times: int | None
    delay_ms: float
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "path": self.path,
            "mode": self.mode,
            "status": self.status,
            "rate": self.rate,
            "times": self.times,
            "delay_ms": self.delay_ms,
            "fired": self.fired,
        }


@dataclass
class StoredResponse:
    method: str
    path: str
    status: int
    body: Any
    headers: dict[str, str]
    stored_at: float


# --------------------------------------------------------------------------- time


def format_us(us: int) -> str:
    """Microseconds since the epoch as ISO 8601 UTC: 2025-01-31T14:05:09.123456Z."""
    return (EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_us(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(microseconds=1)


def parse_iso(value: Any) -> datetime | None:
    """Parse an ISO 8601 date-time; None when it is not one."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _now_iso() -> str:
    return format_us(time.time_ns() // 1000)


# --------------------------------------------------------------------------- validators


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _v_datetime(value: Any) -> str:
    dt = parse_iso(value)
    if dt is None or dt.tzinfo is None:
        raise ValueError("must be an ISO 8601 date-time with a UTC offset")
    return dt.isoformat()


def _v_canceled_at(value: Any) -> str | None:
    if value is None:
        return None
    dt = parse_iso(value)
    if dt is None or dt.tzinfo is None:
        raise ValueError("must be null or an ISO 8601 date-time with a UTC offset")
    return format_us(to_us(dt))


def _v_duration(value: Any) -> int:
    if not _is_int(value) or value < 1:
        raise ValueError("must be a positive whole number of minutes")
    return value


def _v_address(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("can't be blank")
    return value.strip()


def _v_external_ref(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be null or a non-empty string")
    if len(value) > 255:
        raise ValueError("is too long (at most 255 characters)")
    return value


def _v_optional_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError("must be a string or null")


def _v_email(value: Any) -> str | None:
    if value is None or value == "":
        return value
    if not isinstance(value, str) or not EMAIL_RE.match(value.strip()):
        raise ValueError("is not a valid email address")
    return value.strip()


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "external_ref": _v_external_ref,
    "datetime": _v_datetime,
    "duration": _v_duration,
    "full_address": _v_address,
    "client_name": _v_optional_text,
    "client_email": _v_email,
    "notes": _v_optional_text,
    "canceled_at": _v_canceled_at,
    "cancel_reason": _v_optional_text,
}
REQUIRED_ON_CREATE = ("datetime", "full_address")


# --------------------------------------------------------------------------- routes

_ID = r"([^/]+)"
API_ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(r"^/v2/inspectors$"), {"GET": "_list_inspectors"}),
    (re.compile(rf"^/v2/inspectors/{_ID}$"), {"GET": "_get_inspector"}),
    (re.compile(r"^/v2/services$"), {"GET": "_list_services"}),
    (re.compile(rf"^/v2/services/{_ID}$"), {"GET": "_get_service"}),
    (re.compile(r"^/v2/templates$"), {"GET": "_list_templates"}),
    (re.compile(rf"^/v2/templates/{_ID}$"), {"GET": "_get_template"}),
    (re.compile(r"^/v2/inspections$"), {"GET": "_list_inspections", "POST": "_create_inspection"}),
    (
        re.compile(rf"^/v2/inspections/{_ID}$"),
        {"GET": "_get_inspection", "PATCH": "_patch_inspection"},
    ),
    (re.compile(rf"^/v2/inspections/{_ID}/cancel$"), {"POST": "_cancel_inspection"}),
    (re.compile(rf"^/v2/inspections/{_ID}/assignments$"), {"POST": "_add_assignment"}),
    (
        re.compile(rf"^/v2/inspections/{_ID}/assignments/{_ID}$"),
        {"PATCH": "_patch_assignment", "DELETE": "_delete_assignment"},
    ),
    (re.compile(rf"^/v2/inspections/{_ID}/line_items$"), {"POST": "_add_line_item"}),
    (
        re.compile(rf"^/v2/inspections/{_ID}/line_items/{_ID}$"),
        {"PATCH": "_patch_line_item", "DELETE": "_delete_line_item"},
    ),
    (re.compile(rf"^/v2/inspections/{_ID}/reports$"), {"POST": "_add_report"}),
    (re.compile(rf"^/v2/inspections/{_ID}/reports/{_ID}$"), {"DELETE": "_delete_report"}),
]


def match_route(
    routes: list[tuple[re.Pattern[str], dict[str, str]]], method: str, path: str
) -> tuple[str, tuple[str, ...]]:
    """Find the handler name for method+path; ApiError 404 / 405 otherwise."""
    for pattern, methods in routes:
        m = pattern.match(path)
        if m is None:
            continue
        if method not in methods:
            allowed = ", ".join(sorted(methods))
            raise ApiError(
                405,
                "method_not_allowed",
                f"{method} is not allowed on {path}; allowed: {allowed}.",
                headers={"Allow": allowed},
            )
        return methods[method], tuple(unquote(g) for g in m.groups())
    raise ApiError(404, "not_found", f"No route for {method} {path}.")


def _storable(status: int) -> bool:
    """Idempotency stores final answers, never transient ones (423, 429, 5xx)."""
    return status < 500 and status not in (423, 429)


# --------------------------------------------------------------------------- the store


class SandboxState:
    """One Spectora company, its API semantics and the sandbox's control knobs."""

    def __init__(self, *, api_key: str = API_KEY, base_url: str = "http://127.0.0.1:8100") -> None:
        self.lock = threading.RLock()
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        # Called as event_sink(event_type, inspection_id, updated_at) for changes
        # made through the control endpoints; the server wires webhooks to it.
        self.event_sink: Callable[[str, str, str], None] | None = None
        self.reset()

    # ----------------------------------------------------------------- lifecycle

    def reset(self, seed: int | None = None) -> None:
        """Back to the starting company; faults, limits, locks and log cleared."""
        with self.lock:
            self.inspectors = {i: {"name": n, "email": e, "active": a} for i, n, e, a in INSPECTORS}
            self.services = {i: {"name": n, "kind": k, "price_cents": p} for i, n, k, p in SERVICES}
            self.templates = {i: {"name": n} for i, n in TEMPLATES}
            self.inspections: dict[str, Inspection] = {}
            self._by_ref: dict[str, str] = {}
            self._report_owner: dict[str, str] = {}
            self._next_inspection = FIRST_INSPECTION_ID
            self._next_assignment = FIRST_ASSIGNMENT_ID
            self._next_line_item = FIRST_LINE_ITEM_ID
            self._next_report = FIRST_REPORT_ID
            self._last_us = 0
            self._idempotency: dict[str, StoredResponse] = {}
            self._log: deque[dict] = deque(maxlen=REQUEST_LOG_LIMIT)
            self.faults: list[FaultRule] = []
            self._rng = random.Random(seed)
            self.rate_per_second: float | None = None
            self.rate_burst: float = 0.0
            self._tokens = 0.0
            self._tokens_at = time.monotonic()
            self._locks: dict[str, float] = {}

    # ----------------------------------------------------------------- the API

    def handle_api(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Response:
        """Answer one `/v2/` request (auth, rate limit, faults, idempotency, route)."""
        parts = urlsplit(target)
        path, query = parts.path, parts.query
        lowered = {k.lower(): v for k, v in headers.items()}
        idem_key = (lowered.get("idempotency-key") or "").strip() or None
        method = method.upper()
        with self.lock:
            resp, fault, replayed = self._api(method, path, query, lowered, body, idem_key)
            self._log.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "status": None if resp.drop_connection else resp.status,
                    "idempotency_key": idem_key,
                    "at": _now_iso(),
                    "fault": fault,
                    "replayed": replayed,
                }
            )
        return resp

    def _api(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        idem_key: str | None,
    ) -> tuple[Response, str | None, bool]:
        if not self._authorized(headers.get("authorization", "")):
            err = ApiError(
                401,
                "unauthorized",
                "Missing or invalid API key; send 'Authorization: Bearer <api_key>'.",
                headers={"WWW-Authenticate": 'Bearer realm="spectora"'},
            )
            return err.response(), None, False

        limited = self._take_token()
        if limited is not None:
            return limited, None, False

        rule = self._pick_fault(method, path)
        if rule is not None and rule.mode == "error":
            return self._fault_response(rule), "error", False
        if rule is not None and rule.mode == "timeout":
            resp = Response(0, drop_connection=True, delay_s=rule.delay_ms / 1000.0)
            return resp, "timeout", False
        fault = rule.mode if rule is not None else None

        use_idem = method == "POST" and idem_key is not None
        if use_idem:
            stored = self._stored_response(idem_key)
            if stored is not None:
                if stored.method != method or stored.path != path:
                    resp = ApiError(
                        422,
                        "idempotency_key_reused",
                        f"Idempotency-Key {idem_key!r} was first used for "
                        f"{stored.method} {stored.path}; use a new key for {method} {path}.",
                    ).response()
                    replayed = False
                else:
                    headers_out = dict(stored.headers)
                    headers_out["Idempotent-Replayed"] = "true"
                    resp = Response(stored.status, stored.body, headers_out)
                    replayed = True
                if rule is not None:
                    return self._fault_response(rule), fault, replayed
                return resp, None, replayed

        try:
            name, args = match_route(API_ROUTES, method, path)
            handler = getattr(self, name)
            if method in ("POST", "PATCH"):
                resp = handler(*args, self._parse_body(body))
            elif method == "GET":
                resp = handler(*args, parse_qsl(query, keep_blank_values=True), path)
            else:
                resp = handler(*args)
        except ApiError as err:
            resp = err.response()

        if use_idem and _storable(resp.status):
            self._idempotency[idem_key] = StoredResponse(
                method, path, resp.status, resp.body, dict(resp.headers), time.time()
            )
        if rule is not None:  # applied_then_error: the change stands, the answer fails
            return self._fault_response(rule), fault, False
        return resp, None, False

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    @staticmethod
    def _parse_body(body: bytes) -> Any:
        if not body or not body.strip():
            return None
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "invalid_json", f"Request body is not valid JSON: {exc}.") from None

    def _stored_response(self, key: str) -> StoredResponse | None:
        stored = self._idempotency.get(key)
        if stored is None:
            return None
        if time.time() - stored.stored_at > IDEMPOTENCY_TTL_SECONDS:
            del self._idempotency[key]
            return None
        return stored

    # ----------------------------------------------------------------- rate limit

    def _take_token(self) -> Response | None:
        rate = self.rate_per_second
        if rate is None:
            return None
        now = time.monotonic()
        self._tokens = min(self.rate_burst, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        retry_after = max(1, math.ceil((1.0 - self._tokens) / rate))
        return ApiError(
            429,
            "rate_limited",
            f"Rate limit of {rate:g} requests per second exceeded; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        ).response()

    def set_rate_limit(self, body: Any) -> dict:
        body = _object(body)
        per_second = body.get("per_second")
        with self.lock:
            if per_second is None:
                self.rate_per_second = None
                return self.rate_limit_config()
            if not _is_number(per_second) or per_second <= 0:
                raise _unprocessable("/per_second", "per_second must be a positive number or null")
            burst = body.get("burst", per_second)
            if burst is None:
                burst = per_second
            if not _is_number(burst) or burst < 1:
                raise _unprocessable("/burst", "burst must be a number >= 1")
            self.rate_per_second = float(per_second)
            self.rate_burst = float(burst)
            self._tokens = float(burst)
            self._tokens_at = time.monotonic()
            return self.rate_limit_config()

    def rate_limit_config(self) -> dict:
        with self.lock:
            if self.rate_per_second is None:
                return {"per_second": None, "burst": None}
            return {"per_second": self.rate_per_second, "burst": self.rate_burst}

    # ----------------------------------------------------------------- faults

    def _pick_fault(self, method: str, path: str) -> FaultRule | None:
        for rule in self.faults:
            if not rule.matches(method, path):
                continue
            if rule.times is not None and rule.fired >= rule.times:
                continue
            if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                continue
            rule.fired += 1
            return rule
        return None

    @staticmethod
    def _fault_response(rule: FaultRule) -> Response:
        code = FAULT_CODES.get(rule.status, "injected_fault")
        headers = {"Retry-After": "1"} if rule.status in (423, 429, 503) else {}
        err = ApiError(
            rule.status,
            code,
            f"Injected fault ({rule.mode} on {rule.method} {rule.path}).",
            headers=headers,
        )
        resp = err.response()
        if rule.mode == "error":
            resp.delay_s = rule.delay_ms / 1000.0
        return resp

    def set_faults(self, body: Any) -> dict:
        body = _object(body)
        rules_in = body.get("rules", [])
        if not isinstance(rules_in, list):
            raise _unprocessable("/rules", "rules must be a list")
        seed = body.get("seed")
        if seed is not None and not _is_int(seed):
            raise _unprocessable("/seed", "seed must be an integer or null")
        rules = [_parse_rule(n, raw) for n, raw in enumerate(rules_in)]
        with self.lock:
            self.faults = rules
            if seed is not None:
                self._rng = random.Random(seed)
            return self.fault_config()

    def fault_config(self) -> dict:
        with self.lock:
            return {"rules": [r.as_dict() for r in self.faults]}

    # ----------------------------------------------------------------- locks

    def set_lock(self, body: Any) -> dict:
        body = _object(body)
        iid = body.get("inspection_id")
        if _is_int(iid):
            iid = str(iid)
        if not isinstance(iid, str) or not iid:
            raise _unprocessable("/inspection_id", "inspection_id is required")
        seconds = body.get("seconds", 10)
        if not _is_number(seconds) or seconds < 0:
            raise _unprocessable("/seconds", "seconds must be a number >= 0")
        with self.lock:
            self._inspection(iid)
            if seconds == 0:
                self._locks.pop(iid, None)
            else:
                self._locks[iid] = time.monotonic() + float(seconds)
            return {"inspection_id": iid, "seconds": seconds, "locked": seconds > 0}

    def _check_lock(self, iid: str) -> None:
        until = self._locks.get(iid)
        if until is None:
            return
        remaining = until - time.monotonic()
        if remaining <= 0:
            del self._locks[iid]
            return
        raise ApiError(
            423,
            "inspection_locked",
            f"Inspection {iid} is held by a mobile app's Sync Lock; retry later.",
            headers={"Retry-After": str(max(1, math.ceil(remaining)))},
        )

    # ----------------------------------------------------------------- helpers

    def _next_us(self) -> int:
        now = time.time_ns() // 1000
        self._last_us = max(now, self._last_us + 1)
        return self._last_us

    def _touch(self, insp: Inspection) -> None:
        insp.updated_us = self._next_us()
        insp.attrs["updated_at"] = format_us(insp.updated_us)

    def _emit(self, event_type: str, insp: Inspection) -> None:
        sink = self.event_sink
        if sink is not None:
            sink(event_type, insp.id, insp.attrs["updated_at"])

    def _inspection(self, iid: str) -> Inspection:
        insp = self.inspections.get(iid)
        if insp is None:
            raise ApiError(404, "not_found", f"Inspection {iid} not found.")
        return insp

    def _writable(self, iid: str, *, allow_canceled: bool = False) -> Inspection:
        insp = self._inspection(iid)
        self._check_lock(iid)
        if not allow_canceled and insp.attrs["canceled_at"] is not None:
            raise ApiError(
                422,
                "inspection_canceled",
                f"Inspection {iid} was canceled at {insp.attrs['canceled_at']}; "
                "it can no longer be changed.",
            )
        return insp

    def _check_ref_free(self, ref: str | None, own_id: str | None) -> None:
        if ref is None:
            return
        existing = self._by_ref.get(ref)
        if existing is not None and existing != own_id:
            raise ApiError(
                409,
                "external_ref_taken",
                f"external_ref {ref!r} is already used by inspection {existing}.",
                source={"pointer": "/data/attributes/external_ref"},
                meta={"existing_id": existing},
            )

    def _set_ref(self, insp: Inspection, ref: str | None) -> None:
        old = insp.attrs.get("external_ref")
        if old is not None and self._by_ref.get(old) == insp.id:
            del self._by_ref[old]
        insp.attrs["external_ref"] = ref
        if ref is not None:
            self._by_ref[ref] = insp.id

    def _url(self, iid: str) -> str:
        return f"{self.base_url}/inspections/{iid}"

    # ----------------------------------------------------------------- serialisers

    def _inspection_resource(self, insp: Inspection) -> dict:
        attrs = {name: insp.attrs[name] for name in INSPECTION_ATTRIBUTES}
        attrs["url"] = self._url(insp.id)

        def linkage(kind: str, ids) -> dict:
            return {"data": [{"type": kind, "id": i} for i in ids]}

        return {
            "type": "inspections",
            "id": insp.id,
            "attributes": attrs,
            "relationships": {
                "assignments": linkage("assignments", insp.assignments),
                "line_items": linkage("line_items", insp.line_items),
                "reports": linkage("reports", insp.reports),
            },
            "links": {"self": f"{self.base_url}/v2/inspections/{insp.id}"},
        }

    @staticmethod
    def _child_resource(kind: str, child: Any, iid: str) -> dict:
        if kind == "assignments":
            attrs = {"inspector_id": child.inspector_id, "primary": child.primary}
        elif kind == "line_items":
            attrs = {
                "service_id": child.service_id,
                "name": child.name,
                "price_cents": child.price_cents,
                "quantity": child.quantity,
            }
        else:
            attrs = {"template_id": child.template_id, "status": child.status}
        return {
            "type": kind,
            "id": child.id,
            "attributes": attrs,
            "relationships": {"inspection": {"data": {"type": "inspections", "id": iid}}},
        }

    def _included(self, insp: Inspection, include: tuple[str, ...]) -> list[dict]:
        out = []
        for kind in INCLUDABLE:
            if kind in include:
                children = getattr(insp, kind).values()
                out.extend(self._child_resource(kind, c, insp.id) for c in children)
        return out

    def flat(self, insp: Inspection) -> dict:
        out: dict[str, Any] = {"id": insp.id}
        out.update({name: insp.attrs[name] for name in INSPECTION_ATTRIBUTES})
        out["url"] = self._url(insp.id)
        out["assignments"] = [
            {"id": a.id, "inspector_id": a.inspector_id, "primary": a.primary}
            for a in insp.assignments.values()
        ]
        out["line_items"] = [
            {
                "id": li.id,
                "service_id": li.service_id,
                "name": li.name,
                "price_cents": li.price_cents,
                "quantity": li.quantity,
            }
            for li in insp.line_items.values()
        ]
        out["reports"] = [
            {"id": r.id, "template_id": r.template_id, "status": r.status}
            for r in insp.reports.values()
        ]
        return out

    # ----------------------------------------------------------------- query params

    @staticmethod
    def _int_param(params: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
        raw = params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            value = None
        if value is None or value < lo or value > hi:
            raise ApiError(
                400,
                "invalid_parameter",
                f"{name} must be an integer from {lo} to {hi}; got {raw!r}.",
                source={"parameter": name},
            )
        return value

    @staticmethod
    def _check_families(params: dict[str, str], filters: tuple[str, ...]) -> None:
        for key in params:
            if key.startswith("filter["):
                name = key[len("filter[") : -1] if key.endswith("]") else None
                if name not in filters:
                    allowed = ", ".join(f"filter[{f}]" for f in filters) or "none"
                    raise ApiError(
                        400,
                        "invalid_parameter",
                        f"Unsupported filter {key!r}; supported: {allowed}.",
                        source={"parameter": key},
                    )
            elif key.startswith("page[") and key not in ("page[number]", "page[size]"):
                raise ApiError(
                    400,
                    "invalid_parameter",
                    f"Unsupported parameter {key!r}; use page[number] and page[size].",
                    source={"parameter": key},
                )

    @staticmethod
    def _include(params: dict[str, str]) -> tuple[str, ...]:
        raw = params.get("include")
        if raw is None or not raw.strip():
            return ()
        names = tuple(p.strip() for p in raw.split(",") if p.strip())
        for name in names:
            if name not in INCLUDABLE:
                raise ApiError(
                    400,
                    "invalid_parameter",
                    f"Cannot include {name!r}; includable: {', '.join(INCLUDABLE)}.",
                    source={"parameter": "include"},
                )
        return names

    def _page(
        self, items: list, pairs: list[tuple[str, str]], path: str
    ) -> tuple[list, dict, dict]:
        params = dict(pairs)
        number = self._int_param(params, "page[number]", 1, 1, 10**9)
        size = self._int_param(params, "page[size]", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        start = (number - 1) * size
        page = items[start : start + size]

        def link(n: int) -> str:
            out = [(k, v) for k, v in pairs if k != "page[number]"]
            out.append(("page[number]", str(n)))
            return f"{self.base_url}{path}?{urlencode(out, safe='[],:')}"

        links = {"self": link(number)}
        if start + size < len(items):
            links["next"] = link(number + 1)
        if number > 1:
            links["prev"] = link(number - 1)
        meta = {"pagination": {"current": number, "records": len(items)}}
        return page, meta, links

    # ----------------------------------------------------------------- catalogue reads

    def _catalogue(
        self,
        kind: str,
        table: dict[str, dict],
        pairs: list[tuple[str, str]],
        path: str,
        filters: dict[str, Callable[[dict, str], bool]],
    ) -> Response:
        params = dict(pairs)
        self._check_families(params, tuple(filters))
        rows = list(table.items())
        for name, test in filters.items():
            value = params.get(f"filter[{name}]")
            if value is not None:
                rows = [(i, a) for i, a in rows if test(a, value)]
        page, meta, links = self._page(rows, pairs, path)
        data = [{"type": kind, "id": i, "attributes": dict(a)} for i, a in page]
        return Response(200, {"data": data, "meta": meta, "links": links})

    def _catalogue_one(self, kind: str, table: dict[str, dict], rid: str) -> Response:
        attrs = table.get(rid)
        if attrs is None:
            raise ApiError(404, "not_found", f"{kind[:-1].capitalize()} {rid} not found.")
        return Response(200, {"data": {"type": kind, "id": rid, "attributes": dict(attrs)}})

    def _list_inspectors(self, pairs, path) -> Response:
        def active(attrs: dict, value: str) -> bool:
            return attrs["active"] == (value.strip().lower() in ("true", "1", "yes"))

        return self._catalogue("inspectors", self.inspectors, pairs, path, {"active": active})

    def _get_inspector(self, rid, pairs, path) -> Response:
        return self._catalogue_one("inspectors", self.inspectors, rid)

    def _list_services(self, pairs, path) -> Response:
        def kind(attrs: dict, value: str) -> bool:
            return attrs["kind"] == value

        return self._catalogue("services", self.services, pairs, path, {"kind": kind})

    def _get_service(self, rid, pairs, path) -> Response:
        return self._catalogue_one("services", self.services, rid)

    def _list_templates(self, pairs, path) -> Response:
        return self._catalogue("templates", self.templates, pairs, path, {})

    def _get_template(self, rid, pairs, path) -> Response:
        return self._catalogue_one("templates", self.templates, rid)

    # ----------------------------------------------------------------- inspection reads

    def _list_inspections(self, pairs, path) -> Response:
        params = dict(pairs)
        self._check_families(params, ("external_ref", "updated_since"))
        include = self._include(params)
        items = list(self.inspections.values())
        ref = params.get("filter[external_ref]")
        if ref is not None:
            iid = self._by_ref.get(ref)
            items = [self.inspections[iid]] if iid is not None else []
        since_raw = params.get("filter[updated_since]")
        if since_raw is not None:
            # A raw '+' in a query string decodes to a space; put it back.
            since = parse_iso(since_raw.strip().replace(" ", "+"))
            if since is None:
                raise ApiError(
                    400,
                    "invalid_parameter",
                    f"filter[updated_since] must be an ISO 8601 date-time; got {since_raw!r}.",
                    source={"parameter": "filter[updated_since]"},
                )
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            since_us = to_us(since)
            items = [i for i in items if i.updated_us >= since_us]
        sort = params.get("sort", "id").strip()
        if sort in ("updated_at", "-updated_at"):
            items.sort(key=lambda i: i.updated_us, reverse=sort.startswith("-"))
        elif sort in ("id", "-id"):
            items.sort(key=lambda i: int(i.id), reverse=sort.startswith("-"))
        else:
            raise ApiError(
                400,
                "invalid_parameter",
                f"Unsupported sort {sort!r}; use updated_at, -updated_at, id or -id.",
                source={"parameter": "sort"},
            )
        page, meta, links = self._page(items, pairs, path)
        body: dict[str, Any] = {
            "data": [self._inspection_resource(i) for i in page],
            "meta": meta,
            "links": links,
        }
        if include:
            body["included"] = [c for i in page for c in self._included(i, include)]
        return Response(200, body)

    def _get_inspection(self, iid, pairs, path) -> Response:
        params = dict(pairs)
        include = self._include(params)
        insp = self._inspection(iid)
        body: dict[str, Any] = {"data": self._inspection_resource(insp)}
        if include:
            body["included"] = self._included(insp, include)
        return Response(200, body)

    # ----------------------------------------------------------------- inspection writes

    @staticmethod
    def _data(body: Any, kind: str, *, expect_id: str | None = None) -> dict:
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise ApiError(
                400,
                "invalid_body",
                'Request body must be a JSON object with a "data" object '
                '({"data": {"type": ..., "attributes": {...}}}).',
            )
        data = body["data"]
        errors = []
        if data.get("type") != kind:
            errors.append(_field_error("/data/type", f"type must be {kind!r}"))
        if "id" in data:
            if expect_id is None:
                errors.append(_field_error("/data/id", "client-generated ids are not supported"))
            elif str(data["id"]) != expect_id:
                errors.append(_field_error("/data/id", f"id must match the URL ({expect_id})"))
        if "relationships" in data:
            errors.append(
                _field_error(
                    "/data/relationships",
                    "relationships are not writable here; use the sub-resource endpoints",
                )
            )
        attrs = data.get("attributes", {})
        if not isinstance(attrs, dict):
            errors.append(_field_error("/data/attributes", "attributes must be an object"))
        if errors:
            raise ApiError.many(422, errors)
        return attrs

    @staticmethod
    def _clean_attributes(
        attrs: dict, *, creating: bool, allowed: frozenset[str], prefix: str
    ) -> dict:
        errors = []
        out: dict[str, Any] = {}
        for key, value in attrs.items():
            pointer = f"{prefix}/{key}"
            if key not in allowed:
                why = "is read-only" if key in READ_ONLY else "is not a known attribute"
                errors.append(_field_error(pointer, f"{key} {why}"))
                continue
            try:
                out[key] = VALIDATORS[key](value)
            except ValueError as exc:
                errors.append(_field_error(pointer, f"{key} {exc}"))
        if creating:
            for key in REQUIRED_ON_CREATE:
                if key not in attrs:
                    errors.append(_field_error(f"{prefix}/{key}", f"{key} is required"))
        if errors:
            raise ApiError.many(422, errors)
        return out

    def _new_inspection(self, clean: dict, origin: str) -> Inspection:
        iid = str(self._next_inspection)
        self._next_inspection += 1
        attrs: dict[str, Any] = {
            "external_ref": None,
            "datetime": None,
            "duration": DEFAULT_DURATION,
            "full_address": None,
            "client_name": None,
            "client_email": None,
            "notes": None,
            "canceled_at": None,
            "cancel_reason": None,
            "origin": origin,
            "updated_at": None,
        }
        insp = Inspection(iid, attrs)
        for key, value in clean.items():
            if key != "external_ref":
                attrs[key] = value
        self._set_ref(insp, clean.get("external_ref"))
        self.inspections[iid] = insp
        self._touch(insp)
        return insp

    def _apply_attributes(self, insp: Inspection, clean: dict) -> bool:
        changed = False
        for key, value in clean.items():
            if insp.attrs[key] == value:
                continue
            changed = True
            if key == "external_ref":
                self._set_ref(insp, value)
            else:
                insp.attrs[key] = value
        return changed

    def _create_inspection(self, body) -> Response:
        attrs = self._data(body, "inspections")
        clean = self._clean_attributes(
            attrs, creating=True, allowed=API_WRITABLE, prefix="/data/attributes"
        )
        self._check_ref_free(clean.get("external_ref"), None)
        insp = self._new_inspection(clean, "api")
        return Response(
            201,
            {"data": self._inspection_resource(insp)},
            {"Location": f"{self.base_url}/v2/inspections/{insp.id}"},
        )

    def _patch_inspection(self, iid, body) -> Response:
        insp = self._writable(iid)
        attrs = self._data(body, "inspections", expect_id=iid)
        clean = self._clean_attributes(
            attrs, creating=False, allowed=API_WRITABLE, prefix="/data/attributes"
        )
        if "external_ref" in clean:
            self._check_ref_free(clean["external_ref"], iid)
        if self._apply_attributes(insp, clean):
            self._touch(insp)
        return Response(200, {"data": self._inspection_resource(insp)})

    def _cancel_inspection(self, iid, body) -> Response:
        insp = self._writable(iid, allow_canceled=True)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_body", 'Body must be a JSON object: {"reason": "..."}.')
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise _unprocessable("/reason", "reason must be a string or null")
        if insp.attrs["canceled_at"] is None:
            self._touch(insp)
            insp.attrs["canceled_at"] = insp.attrs["updated_at"]
            insp.attrs["cancel_reason"] = reason
        return Response(200, {"data": self._inspection_resource(insp)})

    # ----------------------------------------------------------------- children

    def _child_attrs(
        self, body: Any, kind: str, allowed: tuple[str, ...], expect_id: str | None = None
    ) -> dict:
        attrs = self._data(body, kind, expect_id=expect_id)
        unknown = [k for k in attrs if k not in allowed]
        if unknown:
            raise ApiError.many(
                422,
                [
                    _field_error(f"/data/attributes/{k}", f"{k} is not a writable attribute")
                    for k in unknown
                ],
            )
        return attrs

    @staticmethod
    def _child(insp: Inspection, kind: str, cid: str) -> Any:
        child = getattr(insp, kind).get(cid)
        if child is None:
            label = kind[:-1].replace("_", " ")
            raise ApiError(404, "not_found", f"No {label} {cid} on inspection {insp.id}.")
        return child

    def _created(self, kind: str, child: Any, insp: Inspection) -> Response:
        return Response(201, {"data": self._child_resource(kind, child, insp.id)})

    @staticmethod
    def _bool_attr(attrs: dict, key: str, default: bool) -> bool:
        value = attrs.get(key, default)
        if not isinstance(value, bool):
            raise _unprocessable(f"/data/attributes/{key}", f"{key} must be true or false")
        return value

    @staticmethod
    def _make_primary(insp: Inspection, aid: str) -> None:
        for other in insp.assignments.values():
            other.primary = other.id == aid

    def _add_assignment(self, iid, body) -> Response:
        insp = self._writable(iid)
        attrs = self._child_attrs(body, "assignments", ("inspector_id", "primary"))
        inspector_id = attrs.get("inspector_id")
        if not isinstance(inspector_id, str) or not inspector_id:
            raise _unprocessable("/data/attributes/inspector_id", "inspector_id is required")
        primary = self._bool_attr(attrs, "primary", False)
        if inspector_id not in self.inspectors:
            raise _unprocessable(
                "/data/attributes/inspector_id",
                f"Inspector {inspector_id} does not exist in this company.",
                "inspector_not_found",
            )
        for existing in insp.assignments.values():
            if existing.inspector_id == inspector_id:
                raise _unprocessable(
                    "/data/attributes/inspector_id",
                    f"Inspector {inspector_id} is already assigned to inspection {iid} "
                    f"(assignment {existing.id}).",
                    "already_assigned",
                )
        aid = str(self._next_assignment)
        self._next_assignment += 1
        assignment = Assignment(aid, inspector_id, primary)
        insp.assignments[aid] = assignment
        if primary:
            self._make_primary(insp, aid)
        self._touch(insp)
        return self._created("assignments", assignment, insp)

    def _patch_assignment(self, iid, aid, body) -> Response:
        insp = self._writable(iid)
        assignment = self._child(insp, "assignments", aid)
        attrs = self._child_attrs(body, "assignments", ("primary",), expect_id=aid)
        if "primary" in attrs:
            primary = self._bool_attr(attrs, "primary", assignment.primary)
            if primary != assignment.primary:
                if primary:
                    self._make_primary(insp, aid)
                else:
                    assignment.primary = False
                self._touch(insp)
        return Response(200, {"data": self._child_resource("assignments", assignment, iid)})

    def _delete_assignment(self, iid, aid) -> Response:
        insp = self._writable(iid)
        self._child(insp, "assignments", aid)
        del insp.assignments[aid]
        self._touch(insp)
        return Response(204)

    @staticmethod
    def _line_item_values(attrs: dict, prefix: str) -> dict:
        out: dict[str, Any] = {}
        errors = []
        if "name" in attrs:
            name = attrs["name"]
            if not isinstance(name, str) or not name.strip():
                errors.append(_field_error(f"{prefix}/name", "name must be a non-empty string"))
            else:
                out["name"] = name
        if "price_cents" in attrs:
            price = attrs["price_cents"]
            if not _is_int(price) or price < 0:
                errors.append(
                    _field_error(f"{prefix}/price_cents", "price_cents must be an integer >= 0")
                )
            else:
                out["price_cents"] = price
        if "quantity" in attrs:
            quantity = attrs["quantity"]
            if not _is_int(quantity) or quantity < 1:
                errors.append(
                    _field_error(f"{prefix}/quantity", "quantity must be an integer >= 1")
                )
            else:
                out["quantity"] = quantity
        if errors:
            raise ApiError.many(422, errors)
        return out

    def _service(self, service_id: Any, pointer: str) -> dict:
        if not isinstance(service_id, str) or not service_id:
            raise _unprocessable(pointer, "service_id is required")
        service = self.services.get(service_id)
        if service is None:
            raise _unprocessable(
                pointer,
                f"Service {service_id} does not exist in this company.",
                "service_not_found",
            )
        return service

    def _add_line_item(self, iid, body) -> Response:
        insp = self._writable(iid)
        attrs = self._child_attrs(
            body, "line_items", ("service_id", "name", "price_cents", "quantity")
        )
        service = self._service(attrs.get("service_id"), "/data/attributes/service_id")
        values = self._line_item_values(attrs, "/data/attributes")
        lid = str(self._next_line_item)
        self._next_line_item += 1
        item = LineItem(
            lid,
            attrs["service_id"],
            values.get("name", service["name"]),
            values.get("price_cents", service["price_cents"]),
            values.get("quantity", 1),
        )
        insp.line_items[lid] = item
        self._touch(insp)
        return self._created("line_items", item, insp)

    def _patch_line_item(self, iid, lid, body) -> Response:
        insp = self._writable(iid)
        item = self._child(insp, "line_items", lid)
        attrs = self._child_attrs(
            body, "line_items", ("name", "price_cents", "quantity"), expect_id=lid
        )
        values = self._line_item_values(attrs, "/data/attributes")
        changed = False
        for key, value in values.items():
            if getattr(item, key) != value:
                setattr(item, key, value)
                changed = True
        if changed:
            self._touch(insp)
        return Response(200, {"data": self._child_resource("line_items", item, iid)})

    def _delete_line_item(self, iid, lid) -> Response:
        insp = self._writable(iid)
        self._child(insp, "line_items", lid)
        del insp.line_items[lid]
        self._touch(insp)
        return Response(204)

    def _add_report(self, iid, body) -> Response:
        insp = self._writable(iid)
        attrs = self._child_attrs(body, "reports", ("template_id",))
        template_id = attrs.get("template_id")
        pointer = "/data/attributes/template_id"
        if not isinstance(template_id, str) or not template_id:
            raise _unprocessable(pointer, "template_id is required")
        if template_id not in self.templates:
            raise _unprocessable(
                pointer, f"Template {template_id} does not exist.", "template_not_found"
            )
        for existing in insp.reports.values():
            if existing.template_id == template_id:
                raise _unprocessable(
                    pointer,
                    f"Template {template_id} is already attached to inspection {iid} "
                    f"(report {existing.id}).",
                    "already_attached",
                )
        rid = str(self._next_report)
        self._next_report += 1
        report = Report(rid, template_id)
        insp.reports[rid] = report
        self._report_owner[rid] = iid
        self._touch(insp)
        return self._created("reports", report, insp)

    def _delete_report(self, iid, rid) -> Response:
        insp = self._writable(iid)
        report = self._child(insp, "reports", rid)
        if report.status != "empty":
            raise ApiError(
                422,
                "report_has_content",
                f"Report {rid} is {report.status}; only empty reports can be removed.",
            )
        del insp.reports[rid]
        self._report_owner.pop(rid, None)
        self._touch(insp)
        return Response(204)

    # ----------------------------------------------------------------- control: reads

    def requests_log(self) -> list[dict]:
        with self.lock:
            return [dict(entry) for entry in self._log]

    def dump(self) -> dict:
        with self.lock:
            ordered = sorted(self.inspections.values(), key=lambda i: int(i.id))
            return {"inspections": [self.flat(i) for i in ordered]}

    # ----------------------------------------------------------------- control: a person

    def person_change(self, body: Any) -> tuple[int, dict]:
        """Create, change or delete an inspection as a person in Spectora would.

        Returns (status, flat inspection). Emits inspection.created / .updated /
        .deleted through `event_sink`.
        """
        body = _object(body)
        known = {"id", "attributes", "assignments", "line_items", "reports", "delete"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ApiError.many(
                422, [_field_error(f"/{k}", f"{k} is not a known member") for k in unknown]
            )
        iid = body.get("id")
        if _is_int(iid):
            iid = str(iid)
        if iid is not None and (not isinstance(iid, str) or not iid):
            raise _unprocessable("/id", "id must be a string")
        delete = body.get("delete", False)
        if not isinstance(delete, bool):
            raise _unprocessable("/delete", "delete must be true or false")
        attrs = body.get("attributes", {})
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, dict):
            raise _unprocessable("/attributes", "attributes must be an object")

        with self.lock:
            if delete:
                if iid is None:
                    raise _unprocessable("/id", "id is required to delete")
                insp = self._inspection(iid)
                self._touch(insp)
                self._set_ref(insp, None)
                del self.inspections[iid]
                self._locks.pop(iid, None)
                for rid in insp.reports:
                    self._report_owner.pop(rid, None)
                self._emit("inspection.deleted", insp)
                flat = self.flat(insp)
                flat["deleted"] = True
                return 200, flat

            insp = None if iid is None else self._inspection(iid)
            clean = self._clean_attributes(
                attrs, creating=insp is None, allowed=PERSON_WRITABLE, prefix="/attributes"
            )
            if "external_ref" in clean:
                self._check_ref_free(clean["external_ref"], iid)
            assignments = (
                self._person_assignments(body["assignments"]) if ("assignments" in body) else None
            )
            line_items = (
                self._person_line_items(body["line_items"], insp)
                if ("line_items" in body)
                else None
            )
            reports = self._person_reports(body["reports"]) if "reports" in body else None

            # Everything validated: apply.
            if insp is None:
                insp = self._new_inspection(clean, "spectora")
                status, event = 201, "inspection.created"
            else:
                self._apply_attributes(insp, clean)
                status, event = 200, "inspection.updated"
            if assignments is not None:
                self._replace_assignments(insp, assignments)
            if line_items is not None:
                self._replace_line_items(insp, line_items)
            if reports is not None:
                self._replace_reports(insp, reports)
            self._touch(insp)
            self._emit(event, insp)
            return status, self.flat(insp)

    def _person_assignments(self, items: Any) -> list[tuple[str, bool]]:
        if not isinstance(items, list):
            raise _unprocessable("/assignments", "assignments must be a list")
        out: list[tuple[str, bool]] = []
        for n, item in enumerate(items):
            p = f"/assignments/{n}"
            if not isinstance(item, dict):
                raise _unprocessable(p, "each assignment must be an object")
            inspector_id = item.get("inspector_id")
            if inspector_id not in self.inspectors:
                raise _unprocessable(
                    f"{p}/inspector_id",
                    f"Inspector {inspector_id} does not exist in this company.",
                    "inspector_not_found",
                )
            if any(i == inspector_id for i, _ in out):
                raise _unprocessable(
                    f"{p}/inspector_id",
                    f"Inspector {inspector_id} is listed twice.",
                    "already_assigned",
                )
            primary = item.get("primary", False)
            if not isinstance(primary, bool):
                raise _unprocessable(f"{p}/primary", "primary must be true or false")
            out.append((inspector_id, primary))
        if sum(1 for _, primary in out if primary) > 1:
            raise _unprocessable("/assignments", "at most one assignment can be primary")
        return out

    def _person_line_items(self, items: Any, insp: Inspection | None) -> list[dict]:
        if not isinstance(items, list):
            raise _unprocessable("/line_items", "line_items must be a list")
        out = []
        for n, item in enumerate(items):
            p = f"/line_items/{n}"
            if not isinstance(item, dict):
                raise _unprocessable(p, "each line item must be an object")
            existing = None
            if item.get("id") is not None:
                lid = str(item["id"])
                existing = insp.line_items.get(lid) if insp is not None else None
                if existing is None:
                    raise _unprocessable(f"{p}/id", f"No line item {lid} on this inspection")
            service_id = item.get("service_id", existing.service_id if existing else None)
            service = self._service(service_id, f"{p}/service_id")
            values = self._line_item_values(item, p)
            spec = {
                "id": existing.id if existing else None,
                "service_id": service_id,
                "name": values.get("name", existing.name if existing else service["name"]),
                "price_cents": values.get(
                    "price_cents", existing.price_cents if existing else service["price_cents"]
                ),
                "quantity": values.get("quantity", existing.quantity if existing else 1),
            }
            out.append(spec)
        return out

    def _person_reports(self, items: Any) -> list[tuple[str, str | None]]:
        if not isinstance(items, list):
            raise _unprocessable("/reports", "reports must be a list")
        out: list[tuple[str, str | None]] = []
        for n, item in enumerate(items):
            p = f"/reports/{n}"
            if not isinstance(item, dict):
                raise _unprocessable(p, "each report must be an object")
            template_id = item.get("template_id")
            if template_id not in self.templates:
                raise _unprocessable(
                    f"{p}/template_id",
                    f"Template {template_id} does not exist.",
                    "template_not_found",
                )
            if any(t == template_id for t, _ in out):
                raise _unprocessable(
                    f"{p}/template_id",
                    f"Template {template_id} is listed twice.",
                    "already_attached",
                )
            status = item.get("status")
            if status is not None and status not in REPORT_STATUSES:
                raise _unprocessable(
                    f"{p}/status", f"status must be one of {', '.join(REPORT_STATUSES)}"
                )
            out.append((template_id, status))
        return out

    def _replace_assignments(self, insp: Inspection, specs: list[tuple[str, bool]]) -> None:
        by_inspector = {a.inspector_id: a for a in insp.assignments.values()}
        new: dict[str, Assignment] = {}
        for inspector_id, primary in specs:
            assignment = by_inspector.get(inspector_id)
            if assignment is None:
                assignment = Assignment(str(self._next_assignment), inspector_id, primary)
                self._next_assignment += 1
            assignment.primary = primary
            new[assignment.id] = assignment
        insp.assignments = new

    def _replace_line_items(self, insp: Inspection, specs: list[dict]) -> None:
        new: dict[str, LineItem] = {}
        for spec in specs:
            lid = spec["id"]
            if lid is None:
                lid = str(self._next_line_item)
                self._next_line_item += 1
            new[lid] = LineItem(
                lid, spec["service_id"], spec["name"], spec["price_cents"], spec["quantity"]
            )
        insp.line_items = new

    def _replace_reports(self, insp: Inspection, specs: list[tuple[str, str | None]]) -> None:
        by_template = {r.template_id: r for r in insp.reports.values()}
        new: dict[str, Report] = {}
        for template_id, status in specs:
            report = by_template.get(template_id)
            if report is None:
                report = Report(str(self._next_report), template_id)
                self._next_report += 1
            if status is not None:
                report.status = status
            new[report.id] = report
        for rid in insp.reports:
            if rid not in new:
                self._report_owner.pop(rid, None)
        for rid in new:
            self._report_owner[rid] = insp.id
        insp.reports = new

    def set_report_status(self, rid: str, body: Any) -> dict:
        """Simulate an inspector writing (or clearing) a report."""
        body = _object(body)
        status = body.get("status")
        if status not in REPORT_STATUSES:
            raise _unprocessable("/status", f"status must be one of {', '.join(REPORT_STATUSES)}")
        with self.lock:
            iid = self._report_owner.get(rid)
            insp = self.inspections.get(iid) if iid is not None else None
            if insp is None or rid not in insp.reports:
                raise ApiError(404, "not_found", f"Report {rid} not found.")
            report = insp.reports[rid]
            report.status = status
            self._touch(insp)
            self._emit("inspection.updated", insp)
            return {
                "id": rid,
                "template_id": report.template_id,
                "status": status,
                "inspection_id": iid,
                "updated_at": insp.attrs["updated_at"],
            }

    # ----------------------------------------------------------------- office page

    def render_index(self) -> bytes:
        with self.lock:
            rows = "".join(
                f'<tr><td><a href="/inspections/{html.escape(i.id)}">{html.escape(i.id)}</a></td>'
                f"<td>{_h(i.attrs['datetime'])}</td><td>{_h(i.attrs['full_address'])}</td>"
                f"<td>{_h(i.attrs['client_name'])}</td><td>{_h(i.attrs['origin'])}</td>"
                f"<td>{'canceled' if i.attrs['canceled_at'] else 'active'}</td></tr>"
                for i in sorted(self.inspections.values(), key=lambda i: int(i.id))
            )
        body = (
            "<h1>Spectora sandbox</h1><p>Inspections in the sandbox company.</p>"
            "<table><tr><th>Id</th><th>When</th><th>Address</th><th>Client</th>"
            f"<th>Origin</th><th>State</th></tr>{rows}</table>"
        )
        return _page("Spectora sandbox", body)

    def render_inspection_page(self, iid: str) -> bytes | None:
        with self.lock:
            insp = self.inspections.get(iid)
            if insp is None:
                return None
            a = insp.attrs
            fields = "".join(
                f"<tr><th>{html.escape(k.replace('_', ' ').capitalize())}</th>"
                f"<td>{_h(a[k])}</td></tr>"
                for k in INSPECTION_ATTRIBUTES
            )
            people = (
                "".join(
                    f"<li>{_h(self.inspectors.get(x.inspector_id, {}).get('name', x.inspector_id))}"
                    f"{' (primary)' if x.primary else ''}</li>"
                    for x in insp.assignments.values()
                )
                or "<li>Unassigned</li>"
            )
            items = (
                "".join(
                    f"<li>{_h(li.name)} &times; {li.quantity}: ${li.price_cents / 100:,.2f}</li>"
                    for li in insp.line_items.values()
                )
                or "<li>None</li>"
            )
            reports = (
                "".join(
                    f"<li>{_h(self.templates.get(r.template_id, {}).get('name', r.template_id))}"
                    f": {_h(r.status)}</li>"
                    for r in insp.reports.values()
                )
                or "<li>None</li>"
            )
            banner = (
                f'<p class="canceled">Canceled: {_h(a["cancel_reason"] or "no reason given")}</p>'
                if a["canceled_at"]
                else ""
            )
        body = (
            f'<p><a href="/">All inspections</a></p><h1>Inspection {html.escape(iid)}</h1>'
            f"{banner}<table>{fields}</table><h2>Inspectors</h2><ul>{people}</ul>"
            f"<h2>Services</h2><ul>{items}</ul><h2>Reports</h2><ul>{reports}</ul>"
        )
        return _page(f"Inspection {iid} - Spectora sandbox", body)


# --------------------------------------------------------------------------- small helpers


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _object(body: Any) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "Request body must be a JSON object.")
    return body


def _parse_rule(n: int, raw: Any) -> FaultRule:
    p = f"/rules/{n}"
    if not isinstance(raw, dict):
        raise _unprocessable(p, "each rule must be an object")
    mode = raw.get("mode", "error")
    if mode not in FAULT_MODES:
        raise _unprocessable(f"{p}/mode", f"mode must be one of {', '.join(FAULT_MODES)}")
    method = raw.get("method", "*")
    if not isinstance(method, str) or not method:
        raise _unprocessable(f"{p}/method", "method must be an HTTP method or '*'")
    path = raw.get("path", "*")
    if not isinstance(path, str) or not path:
        raise _unprocessable(f"{p}/path", "path must be a glob such as /v2/inspections*")
    default_status = 500 if mode == "applied_then_error" else 503
    status = raw.get("status")
    if status is None:
        status = default_status
    if not _is_int(status) or not 400 <= status <= 599:
        raise _unprocessable(f"{p}/status", "status must be an integer from 400 to 599")
    rate = raw.get("rate")
    if rate is None:
        rate = 1.0
    if not _is_number(rate) or not 0 <= rate <= 1:
        raise _unprocessable(f"{p}/rate", "rate must be a number from 0 to 1")
    times = raw.get("times")
    if times is not None and (not _is_int(times) or times < 0):
        raise _unprocessable(f"{p}/times", "times must be null or an integer >= 0")
    delay_ms = raw.get("delay_ms")
    if delay_ms is None:
        delay_ms = DEFAULT_TIMEOUT_DELAY_MS if mode == "timeout" else 0
    if not _is_number(delay_ms) or delay_ms < 0:
        raise _unprocessable(f"{p}/delay_ms", "delay_ms must be a number >= 0")
    return FaultRule(method.upper(), path, mode, status, float(rate), times, delay_ms)


def _h(value: Any) -> str:
    return "&mdash;" if value is None or value == "" else html.escape(str(value))


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:56rem;color:#222}"
        "th{text-align:left;padding-right:1.5rem;color:#555;font-weight:600}"
        "td,th{padding:.2rem .6rem .2rem 0;vertical-align:top}"
        ".canceled{background:#fde2e1;padding:.5rem 1rem;border-radius:4px}"
        f"</style></head><body>{body}</body></html>"
    ).encode()
