"""The connections the Spectora client opens: checked, pinned, direct.

Every new connection resolves its host once (client/egress.py), refuses unless
every address is allowed, and connects to one of exactly those addresses: no
second lookup, so a name that answers a public address to the check and
127.0.0.1 to the connect (DNS rebinding) cannot steer the call inside. TLS
still sends SNI for, and verifies the certificate against, the host name,
because urllib3 wraps the socket with ``server_hostname=self.host``.

No proxies (a proxy would do its own lookup), no redirects (``max_redirects``
is 0, so even a caller that asks to follow one gets ``TooManyRedirects``).
A refusal is ``AddressRefused``; it is not an ``OSError``, so urllib3 and
requests let it through untouched and the client turns it into a
``PermanentError``.
"""

from __future__ import annotations

import socket

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from spectora_integration.client.egress import AddressRefused, checked_addresses


class _Pinned:
    scheme = "https"

    def _new_conn(self) -> socket.socket:
        try:
            targets = checked_addresses(self.host, self.port, self.scheme)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        last: OSError | None = None
        for family, sockaddr in targets:
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if isinstance(self.timeout, int | float):
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except TimeoutError as error:
                sock.close()
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from error
            except OSError as error:
                sock.close()
                last = error
                continue
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {last}")


class PinnedHTTPConnection(_Pinned, HTTPConnection):
    scheme = "http"


class PinnedHTTPSConnection(_Pinned, HTTPSConnection):
    scheme = "https"


class PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose every connection goes through the address check."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": PinnedHTTPConnectionPool, "https": PinnedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise AddressRefused("Calls to Spectora do not go through a proxy.", "proxy")


def pinned_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy, .netrc or CA bundle from the environment
    session.max_redirects = 0
    adapter = PinnedAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
