"""``/health/`` and ``/metrics``: for load balancers and Prometheus, not for people."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client.exposition import choose_encoder

from operations import checks, metrics


@never_cache
@require_safe
def health(request):
    """No auth and nothing secret: which of database, broker, worker and beat is failing."""
    ok, found = checks.health()
    return JsonResponse({"status": "ok" if ok else "failing", "checks": found},
                        status=200 if ok else 503)


def _authorized(request) -> bool:
    token = settings.ATTIK_METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@never_cache
@require_safe
def metrics_view(request):
    if not _authorized(request):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # Prometheus' Accept header picks the text or the OpenMetrics format.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(metrics.registry()), content_type=content_type)
