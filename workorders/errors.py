"""One error family for the domain: messages fit for a person, plus a code for machines."""

from __future__ import annotations


class ApplicationError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class ValidationFailed(ApplicationError):
    """Bad input. ``fields`` maps field names to lists of messages."""

    code = "invalid"


class StaleVersion(ApplicationError):
    code = "stale_version"


class NotAllowed(ApplicationError):
    code = "not_allowed"


class IdempotencyKeyReused(ApplicationError):
    """An Idempotency-Key sent again with a different request body."""

    code = "idempotency_key_reused"
