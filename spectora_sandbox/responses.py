"""What the sandbox answers: a `Response`, and `ApiError` for JSON:API error documents.

A `Response` is a plain value: the HTTP layer (server.py) sends it, including the
fault directives it carries (wait before answering, or hang up without answering).
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSONAPI_CONTENT_TYPE = "application/vnd.api+json"
JSON_CONTENT_TYPE = "application/json"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"

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


def field_error(pointer: str, detail: str, code: str = "validation_failed") -> dict:
    """One 422 error object pointing at a member of the request body."""
    return error_object(422, code, detail, source={"pointer": pointer})


def unprocessable(pointer: str, detail: str, code: str = "validation_failed") -> ApiError:
    """A 422 answer with one error pointing at a member of the request body."""
    return ApiError.many(422, [field_error(pointer, detail, code)])
