"""Request ids: every request gets one, every log line of it carries it."""

from __future__ import annotations

import re
import uuid

from attik import logcontext

HEADER = "X-Request-ID"
# An incoming id is kept when it is short and plain (a proxy's or a client's);
# anything else could smuggle text into the logs, so it is replaced.
SANE = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")


def request_id_of(request) -> str:
    incoming = request.headers.get(HEADER, "")
    return incoming if SANE.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_of(request)
        with logcontext.bound(request_id=request.request_id):
            response = self.get_response(request)
        response[HEADER] = request.request_id
        return response
