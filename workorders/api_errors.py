"""The API's error shape: DRF's, plus the domain's ApplicationError."""

from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from workorders.errors import ApplicationError, IdempotencyKeyReused, ValidationFailed


def exception_handler(exc, context):
    """DRF's handler, plus the domain's ApplicationError as JSON a client can act on."""
    if isinstance(exc, ValidationFailed):
        body = dict(exc.fields) or {"non_field_errors": [exc.message]}
        body.setdefault("detail", exc.message)
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IdempotencyKeyReused):
        return Response({"detail": exc.message, "code": exc.code},
                        status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, "code": exc.code}, status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
