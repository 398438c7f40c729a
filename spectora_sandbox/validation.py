"""Request bodies and values: what the sandbox accepts, and the 4xx it answers otherwise.

Every check raises `ApiError` (400 for a body that is not what the call takes,
422 with a JSON pointer for a member that is wrong). Standard library only.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from .responses import ApiError, field_error, unprocessable
from .store import format_us, parse_iso, to_us

API_WRITABLE = frozenset(
    {"external_ref", "datetime", "duration", "full_address", "client_name", "client_email", "notes"}
)
PERSON_WRITABLE = API_WRITABLE | {"canceled_at", "cancel_reason"}
READ_ONLY = frozenset({"canceled_at", "cancel_reason", "origin", "updated_at", "url"})
REQUIRED_ON_CREATE = ("datetime", "full_address")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --------------------------------------------------------------------------- plain values


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_json(body: bytes) -> Any:
    """The JSON in a request body; None for an empty body; 400 `invalid_json` otherwise."""
    if not body or not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"Request body is not valid JSON: {exc}.") from None


def object_body(body: Any) -> dict:
    """A control body: an object, or {} when there is none."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "Request body must be a JSON object.")
    return body


# --------------------------------------------------------------------------- attributes


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
    if not is_int(value) or value < 1:
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


def clean_attributes(attrs: dict, *, creating: bool, allowed: frozenset[str], prefix: str) -> dict:
    """Validated, normalised inspection attributes; 422 listing every bad member."""
    errors = []
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        pointer = f"{prefix}/{key}"
        if key not in allowed:
            why = "is read-only" if key in READ_ONLY else "is not a known attribute"
            errors.append(field_error(pointer, f"{key} {why}"))
            continue
        try:
            out[key] = VALIDATORS[key](value)
        except ValueError as exc:
            errors.append(field_error(pointer, f"{key} {exc}"))
    if creating:
        for key in REQUIRED_ON_CREATE:
            if key not in attrs:
                errors.append(field_error(f"{prefix}/{key}", f"{key} is required"))
    if errors:
        raise ApiError.many(422, errors)
    return out


# --------------------------------------------------------------------------- JSON:API bodies


def resource_attributes(body: Any, kind: str, *, expect_id: str | None = None) -> dict:
    """The `attributes` of a `{"data": {"type": kind, ...}}` request body."""
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
        errors.append(field_error("/data/type", f"type must be {kind!r}"))
    if "id" in data:
        if expect_id is None:
            errors.append(field_error("/data/id", "client-generated ids are not supported"))
        elif str(data["id"]) != expect_id:
            errors.append(field_error("/data/id", f"id must match the URL ({expect_id})"))
    if "relationships" in data:
        errors.append(
            field_error(
                "/data/relationships",
                "relationships are not writable here; use the sub-resource endpoints",
            )
        )
    attrs = data.get("attributes", {})
    if not isinstance(attrs, dict):
        errors.append(field_error("/data/attributes", "attributes must be an object"))
    if errors:
        raise ApiError.many(422, errors)
    return attrs


def child_attributes(
    body: Any, kind: str, allowed: tuple[str, ...], expect_id: str | None = None
) -> dict:
    """`resource_attributes` for a child resource, refusing members it cannot write."""
    attrs = resource_attributes(body, kind, expect_id=expect_id)
    unknown = [k for k in attrs if k not in allowed]
    if unknown:
        raise ApiError.many(
            422,
            [
                field_error(f"/data/attributes/{k}", f"{k} is not a writable attribute")
                for k in unknown
            ],
        )
    return attrs


def bool_attribute(attrs: dict, key: str, default: bool) -> bool:
    value = attrs.get(key, default)
    if not isinstance(value, bool):
        raise unprocessable(f"/data/attributes/{key}", f"{key} must be true or false")
    return value


def line_item_values(attrs: dict, prefix: str) -> dict:
    """The line item members present in `attrs` (name, price_cents, quantity), checked."""
    out: dict[str, Any] = {}
    errors = []
    if "name" in attrs:
        name = attrs["name"]
        if not isinstance(name, str) or not name.strip():
            errors.append(field_error(f"{prefix}/name", "name must be a non-empty string"))
        else:
            out["name"] = name
    if "price_cents" in attrs:
        price = attrs["price_cents"]
        if not is_int(price) or price < 0:
            errors.append(
                field_error(f"{prefix}/price_cents", "price_cents must be an integer >= 0")
            )
        else:
            out["price_cents"] = price
    if "quantity" in attrs:
        quantity = attrs["quantity"]
        if not is_int(quantity) or quantity < 1:
            errors.append(field_error(f"{prefix}/quantity", "quantity must be an integer >= 1"))
        else:
            out["quantity"] = quantity
    if errors:
        raise ApiError.many(422, errors)
    return out
