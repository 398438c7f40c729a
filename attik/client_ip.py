"""The client's address, for login throttling (django-axes' ``AXES_CLIENT_IP_CALLABLE``).

Throttling counts failures per (username, address). Behind a load balancer every request
comes from the balancer's address, so one stranger's ten wrong passwords would lock that
user out for everyone. With ``ATTIK_PROXY_COUNT`` trusted proxies in front of Attik,
the client is the address the outermost of them saw: counted from the right of
``X-Forwarded-For`` (each proxy appends what it saw; anything a client sends itself
stands further left and is ignored).
"""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    count = settings.ATTIK_PROXY_COUNT
    if count > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR")
