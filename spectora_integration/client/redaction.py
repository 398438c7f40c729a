"""What may be stored about a call: no secrets, no personal data."""

from __future__ import annotations

from typing import Any

REDACTED = "[redacted]"
# Personal data of clients and inspectors, and anything secret-shaped.
SENSITIVE_KEYS = frozenset(
    {
        "client_name", "client_email", "client_phone", "email", "phone", "full_address",
        "notes", "api_key", "token", "secret", "password", "authorization",
    }
)


def redact(value: Any, secrets: list[str] = ()) -> Any:
    """A copy of ``value`` with sensitive keys masked and any secret string removed."""
    secrets = [s for s in secrets if s]
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in SENSITIVE_KEYS and v not in (None, "")
            else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    return value
