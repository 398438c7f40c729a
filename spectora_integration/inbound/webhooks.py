"""The inbound receiver: ``POST /api/spectora/webhooks/<connection_id>/``.

Deliveries are Standard Webhooks, verified over the raw body against the
connection's secrets (current, then the one being rotated out); the library
also refuses a timestamp more than five minutes off. A verified delivery is
stored and queued; the answer (202) never waits for Spectora. Refusals are
logged with the reason, never with the secret or the body.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from standardwebhooks import Webhook

from spectora_integration.crypto import SecretUnreadable
from spectora_integration.inbound import deliveries
from spectora_integration.models import SpectoraConnection

log = logging.getLogger(__name__)

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
MAX_ID_LENGTH = 100
# JSON nesting a delivery may have; Spectora's events are two levels deep. The decoder
# stops at Python's recursion limit (RecursionError, refused as well); under it, the
# decoded body is measured without recursion.
MAX_DEPTH = 20
# Spectora's ids: "1001", "insp-1", "svc-2"... Never "/", "." or "%": the id becomes a path
# segment of a call to Spectora (the client quotes it as well).
ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # used with fullmatch


class Malformed(Exception):
    pass


@dataclass(frozen=True)
class Event:
    type: str
    inspection_id: str
    payload: dict


def signature_valid(connection: SpectoraConnection, body: bytes, headers) -> bool:
    """True when any of the connection's secrets signed this body (rotation: old or new)."""
    signed = {name: headers.get(name, "") for name in SIGNATURE_HEADERS}
    for secret in connection.webhook_secrets:
        try:
            Webhook(secret).verify(body, signed, json_parse=False)
        except Exception:  # noqa: S112 - bad secret, signature, header or timestamp: next one
            continue
        return True
    return False


def parse_event(body: bytes) -> Event:
    """The event type and inspection id; nothing else in the body is used."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise Malformed("body is not UTF-8") from None
    too_deep = Malformed(f"body is nested more than {MAX_DEPTH} levels deep")
    try:
        payload = json.loads(text)
    except ValueError:
        raise Malformed("body is not JSON") from None
    except RecursionError:
        raise too_deep from None
    if nesting_depth(payload) > MAX_DEPTH:
        raise too_deep
    if not isinstance(payload, dict):
        raise Malformed("body is not a JSON object")
    event_type = payload.get("type")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 60:
        raise Malformed("no event type")
    data = payload.get("data")
    inspection_id = data.get("id") if isinstance(data, dict) else None
    if isinstance(inspection_id, int) and not isinstance(inspection_id, bool):
        inspection_id = str(inspection_id)
    if not isinstance(inspection_id, str) or not inspection_id:
        raise Malformed("no data.id")
    if not ID_SHAPE.fullmatch(inspection_id):
        raise Malformed("data.id is not a Spectora id (letters, digits, - and _, at most 64)")
    kept = {"id": inspection_id}
    if isinstance(data.get("updated_at"), str):
        kept["updated_at"] = data["updated_at"][:40]
    return Event(event_type, inspection_id, {"type": event_type, "data": kept})


def nesting_depth(value) -> int:
    """How deep arrays and objects nest in decoded JSON (``{}`` is 1), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _refuse(status: int, code: str, reason: str, connection_id: int, request) -> JsonResponse:
    log.warning(
        "spectora webhook refused (%s %s) for connection %s: %s; webhook-id %r from %s",
        status, code, connection_id, reason, request.headers.get("webhook-id", "")[:MAX_ID_LENGTH],
        request.META.get("REMOTE_ADDR", "?"),
    )
    return JsonResponse({"error": code, "detail": reason}, status=status)


@csrf_exempt
@require_POST
def receive(request: HttpRequest, connection_id: int) -> JsonResponse:
    connection = SpectoraConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return _refuse(404, "unknown_connection", "no such connection", connection_id, request)
    try:
        body = request.body
    except RequestDataTooBig:
        return _refuse(400, "malformed", "body too large", connection_id, request)
    try:
        body.decode()
    except UnicodeDecodeError:  # JSON is UTF-8; the library cannot even check the signature
        return _refuse(400, "malformed", "body is not UTF-8", connection_id, request)
    try:
        signed = signature_valid(connection, body, request.headers)
    except SecretUnreadable as exc:
        log.error("spectora webhook for connection %s cannot be checked: %s", connection_id,
                  exc.message)
        signed = False
    if not signed:
        return _refuse(401, "bad_signature",
                       "missing or wrong signature, or a timestamp more than 5 minutes off",
                       connection_id, request)
    webhook_id = request.headers.get("webhook-id", "")
    if len(webhook_id) > MAX_ID_LENGTH:
        return _refuse(400, "malformed", "webhook-id too long", connection_id, request)
    try:
        event = parse_event(body)
    except Malformed as error:
        return _refuse(400, "malformed", str(error), connection_id, request)
    delivery = deliveries.delivery_store(
        connection, webhook_id=webhook_id, event_type=event.type,
        inspection_id=event.inspection_id, payload=event.payload,
    )
    if delivery is None:
        log.info("spectora webhook %s for connection %s is a repeat; ignored", webhook_id,
                 connection_id)
        return JsonResponse({"status": "duplicate"}, status=200)
    return JsonResponse({"status": "accepted", "id": delivery.pk}, status=202)
