"""The `/v2/` API: its routes, and what every call goes through before its handler.

`answer_api` runs one call in order: API key (401), rate limit (429), fault rules,
`Idempotency-Key` replay, then the handler from `API_ROUTES`; `applied_then_error`
faults let the handler change the store and then answer the error. Each call is
logged for `GET /_sandbox/requests`. The caller (`SandboxState`) holds the lock.
Standard library only.
"""

from __future__ import annotations

import hmac
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from . import reads, writes
from .responses import ApiError, Response
from .store import now_iso
from .validation import parse_json

if TYPE_CHECKING:
    from .state import SandboxState

API_KEY = "sandbox-key"
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
REQUEST_LOG_LIMIT = 100_000

Routes = list[tuple[re.Pattern[str], dict[str, Any]]]

_ID = r"([^/]+)"
API_ROUTES: Routes = [
    (re.compile(r"^/v2/inspectors$"), {"GET": reads.list_inspectors}),
    (re.compile(rf"^/v2/inspectors/{_ID}$"), {"GET": reads.get_inspector}),
    (re.compile(r"^/v2/services$"), {"GET": reads.list_services}),
    (re.compile(rf"^/v2/services/{_ID}$"), {"GET": reads.get_service}),
    (re.compile(r"^/v2/templates$"), {"GET": reads.list_templates}),
    (re.compile(rf"^/v2/templates/{_ID}$"), {"GET": reads.get_template}),
    (
        re.compile(r"^/v2/inspections$"),
        {"GET": reads.list_inspections, "POST": writes.create_inspection},
    ),
    (
        re.compile(rf"^/v2/inspections/{_ID}$"),
        {"GET": reads.get_inspection, "PATCH": writes.patch_inspection},
    ),
    (re.compile(rf"^/v2/inspections/{_ID}/cancel$"), {"POST": writes.cancel_inspection}),
    (re.compile(rf"^/v2/inspections/{_ID}/assignments$"), {"POST": writes.add_assignment}),
    (
        re.compile(rf"^/v2/inspections/{_ID}/assignments/{_ID}$"),
        {"PATCH": writes.patch_assignment, "DELETE": writes.delete_assignment},
    ),
    (re.compile(rf"^/v2/inspections/{_ID}/line_items$"), {"POST": writes.add_line_item}),
    (
        re.compile(rf"^/v2/inspections/{_ID}/line_items/{_ID}$"),
        {"PATCH": writes.patch_line_item, "DELETE": writes.delete_line_item},
    ),
    (re.compile(rf"^/v2/inspections/{_ID}/reports$"), {"POST": writes.add_report}),
    (re.compile(rf"^/v2/inspections/{_ID}/reports/{_ID}$"), {"DELETE": writes.delete_report}),
]


def match_route(routes: Routes, method: str, path: str) -> tuple[Any, tuple[str, ...]]:
    """The handler for method+path and the ids in the path; ApiError 404 / 405 otherwise."""
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


# --------------------------------------------------------------------------- idempotency


@dataclass
class StoredResponse:
    method: str
    path: str
    status: int
    body: Any
    headers: dict[str, str]
    stored_at: float  # wall clock, so a stored answer keeps its age across restarts


def storable(status: int) -> bool:
    """Idempotency stores final answers, never transient ones (423, 429, 5xx)."""
    return status < 500 and status not in (423, 429)


class IdempotencyStore:
    """First answers to POSTs by `Idempotency-Key`, kept 24 h."""

    def __init__(self) -> None:
        self.entries: dict[str, StoredResponse] = {}
        self.version = 0  # bumped on every change; tells the state file when to save

    def get(self, key: str) -> StoredResponse | None:
        stored = self.entries.get(key)
        if stored is None:
            return None
        if time.time() - stored.stored_at > IDEMPOTENCY_TTL_SECONDS:
            del self.entries[key]
            return None
        return stored

    def put(self, key: str, method: str, path: str, resp: Response) -> None:
        self.entries[key] = StoredResponse(
            method, path, resp.status, resp.body, dict(resp.headers), time.time()
        )
        self.version += 1

    def clear(self) -> None:
        self.entries.clear()
        self.version += 1

    def snapshot(self) -> list[dict]:
        now = time.time()
        return [
            {"key": key, **vars(stored)}
            for key, stored in self.entries.items()
            if now - stored.stored_at <= IDEMPOTENCY_TTL_SECONDS
        ]

    def restore(self, rows: list[dict]) -> None:
        """Load a `snapshot()`; ValueError when malformed."""
        try:
            entries = {
                str(row["key"]): StoredResponse(
                    row["method"],
                    row["path"],
                    int(row["status"]),
                    row["body"],
                    dict(row["headers"]),
                    float(row["stored_at"]),
                )
                for row in rows
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad idempotency entry ({type(exc).__name__}: {exc})") from None
        self.entries = entries
        self.version += 1


# --------------------------------------------------------------------------- one call


def new_request_log() -> deque[dict]:
    return deque(maxlen=REQUEST_LOG_LIMIT)


def answer_api(
    state: SandboxState, method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> Response:
    """Answer one `/v2/` call and log it. `method` is upper-case, `headers` lower-case."""
    idem_key = (headers.get("idempotency-key") or "").strip() or None
    resp, fault, replayed = _answer(state, method, path, query, headers, body, idem_key)
    state.request_log.append(
        {
            "method": method,
            "path": path,
            "query": query,
            "status": None if resp.drop_connection else resp.status,
            "idempotency_key": idem_key,
            "at": now_iso(),
            "fault": fault,
            "replayed": replayed,
        }
    )
    return resp


def _answer(
    state: SandboxState,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    idem_key: str | None,
) -> tuple[Response, str | None, bool]:
    """(answer, fault mode that fired or None, whether a stored answer was replayed)."""
    if not authorized(headers.get("authorization", ""), state.api_key):
        err = ApiError(
            401,
            "unauthorized",
            "Missing or invalid API key; send 'Authorization: Bearer <api_key>'.",
            headers={"WWW-Authenticate": 'Bearer realm="spectora"'},
        )
        return err.response(), None, False

    limited = state.rate_limit.take()
    if limited is not None:
        return limited, None, False

    rule = state.faults.pick(method, path)
    if rule is not None and rule.mode == "error":
        return rule.response(), "error", False
    if rule is not None and rule.mode == "timeout":
        resp = Response(0, drop_connection=True, delay_s=rule.delay_ms / 1000.0)
        return resp, "timeout", False
    fault = rule.mode if rule is not None else None

    use_idem = method == "POST" and idem_key is not None
    if use_idem:
        stored = state.idempotency.get(idem_key)
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
                return rule.response(), fault, replayed
            return resp, None, replayed

    try:
        handler, args = match_route(API_ROUTES, method, path)
        resp = _call(handler, state, method, args, query, body, path)
    except ApiError as err:
        resp = err.response()

    if use_idem and storable(resp.status):
        state.idempotency.put(idem_key, method, path, resp)
    if rule is not None:  # applied_then_error: the change stands, the answer fails
        return rule.response(), fault, False
    return resp, None, False


def _call(
    handler: Callable[..., Response],
    state: SandboxState,
    method: str,
    args: tuple[str, ...],
    query: str,
    body: bytes,
    path: str,
) -> Response:
    if method in ("POST", "PATCH"):
        return handler(state, *args, parse_json(body))
    if method == "GET":
        return handler(state, *args, parse_qsl(query, keep_blank_values=True), path)
    return handler(state, *args)


def authorized(header: str, api_key: str) -> bool:
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), api_key.encode())
