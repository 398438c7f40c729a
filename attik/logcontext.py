"""Context carried by every log line: the request id, and the sync a worker is running.

The request-id middleware (``operations.middleware``) binds ``request_id`` for
one request; the sync task binds ``company``, ``workorder``, ``sync_run``,
``attempt`` and the ``request_id`` of the click that queued the run. The
``LogContextFilter`` (installed on the handlers in ``settings.LOGGING``) copies
them onto each record, so JSON lines carry them as fields and text lines as a
``[key=value ...]`` suffix. It lives in the project package because every app
logs through it and none may import ``operations``.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

FIELDS = ("request_id", "company", "workorder", "sync_run", "attempt")

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "attik_log_context", default=None
)


def current() -> dict:
    return dict(_context.get() or {})


def current_request_id() -> str:
    return str(current().get("request_id") or "")


@contextmanager
def bound(**values) -> Iterator[None]:
    """Add ``values`` to the log context for the duration of the block."""
    token = _context.set({**current(), **{k: v for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def update(**values) -> None:
    """Change values inside an enclosing ``bound`` block (e.g. the attempt, once known).

    Outside one it does nothing, so no value outlives the work it describes.
    """
    context = _context.get()
    if context is not None:
        _context.set({**context, **values})


class LogContextFilter(logging.Filter):
    """Puts the context's fields on every record (``None`` when unbound) and a text suffix."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current()
        for field in FIELDS:
            if not hasattr(record, field):
                setattr(record, field, context.get(field))
        bound_fields = [f"{f}={getattr(record, f)}" for f in FIELDS
                        if getattr(record, f) is not None]
        record.context = f" [{' '.join(bound_fields)}]" if bound_fields else ""
        return True


def json_formatter(**kwargs) -> logging.Formatter:
    """One JSON object per line: time, level, logger, message, the context fields, extras."""
    from pythonjsonlogger.core import RESERVED_ATTRS
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        reserved_attrs=[*RESERVED_ATTRS, "context"],
        **kwargs,
    )
