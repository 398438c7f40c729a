"""What a call to Spectora can fail with, worded for a person.

5xx, 423 (Sync Lock) and 429 are transient: the same call may work later.
Other 4xx answers are permanent until someone changes something.
"""

from __future__ import annotations

import requests


class SpectoraError(Exception):
    """A failed call. ``permanent`` is False when the same call may succeed later."""

    permanent = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        detail: str = "",
        retry_after: float | None = None,
        meta: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.meta = meta or {}


class TransientError(SpectoraError):
    permanent = False


class PermanentError(SpectoraError):
    permanent = True


class ExternalRefTaken(PermanentError):
    """A create found an inspection with our ``external_ref`` already: link to it."""

    @property
    def existing_id(self) -> str | None:
        return self.meta.get("existing_id")


_PERSON_MESSAGES = {
    400: "Spectora rejected the request as malformed ({detail}).",
    401: "Spectora refused the API key. An admin can enter a new key on the Spectora "
         "connection page.",
    403: "The API key is not allowed to do this in Spectora. An admin can check the key's "
         "permissions in Spectora.",
    404: "Spectora has no such record ({detail}). It may have been deleted in Spectora.",
    409: "Spectora reported a conflict: {detail}",
    422: "Spectora refused the change: {detail}",
    423: "Someone has this inspection open on the Spectora mobile app (Sync Lock); "
         "it will be retried.",
    429: "Spectora asked us to slow down; it will be retried.",
}


def error_from_response(response: requests.Response) -> SpectoraError:
    """Classify an HTTP error answer (docs/spectora-api.md): 5xx, 423 and 429 are transient,
    other 4xx permanent."""
    status = response.status_code
    code, detail, meta = "", "", {}
    try:
        first = (response.json().get("errors") or [{}])[0]
        code = str(first.get("code") or "")
        detail = str(first.get("detail") or first.get("title") or "")
        meta = first.get("meta") or {}
    except (ValueError, AttributeError, IndexError):
        pass
    detail = detail or response.reason or f"HTTP {status}"
    if status >= 500:
        message = f"Spectora had a server error (HTTP {status}); it will be retried."
        return TransientError(message, status=status, code=code or "server_error", detail=detail)
    if status in (423, 429):
        retry_after = _retry_after(response.headers.get("Retry-After"))
        return TransientError(
            _PERSON_MESSAGES[status], status=status, code=code, detail=detail,
            retry_after=retry_after,
        )
    message = _PERSON_MESSAGES.get(status, "Spectora refused the request: {detail}").format(
        detail=detail
    )
    if status == 409 and code == "external_ref_taken":
        return ExternalRefTaken(message, status=status, code=code, detail=detail, meta=meta)
    return PermanentError(message, status=status, code=code, detail=detail, meta=meta)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class RateLimited(TransientError):
    """Our own limiter had no slot soon enough: not an answer from Spectora."""
