"""Where a Spectora call may go: the one rule, used by the form and by the client.

Attik sends the company's API key from inside its own network, so a call may
only reach Spectora's public address: https on port 443, and every address
the host name resolves to must be global unicast, also once the IPv4 address
inside a NAT64, 6to4, Teredo, IPv4-mapped or IPv4-compatible IPv6 address is
taken out. In demo mode this machine (loopback, any port, http or https) is
allowed too, for the local sandbox; nothing else that is not global is.

``parse_host`` reads a host the way a browser and ``requests`` do (IDNA maps
full-width and ideographic dots and circled digits to ASCII; a last label that
is a number makes the host an IPv4 address, 127.1 and 0x7f.0.0.1 included), so
no spelling of an internal address passes as a host name. ``checked_addresses``
resolves once and returns the addresses the caller must connect to; the
transport (client/transport.py) connects to exactly those.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)

EXAMPLE = "https://connect.spectora.com"
HTTPS_PORT = 443
LOCAL_SUFFIXES = (
    ".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan", ".svc",
    ".cluster.local", ".intranet", ".corp", ".home", ".private",
)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMBER = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: a private translator
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 (SIIT)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """Attik will not send the API key to this address. ``message`` is for a person."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


def demo_mode() -> bool:
    from django.conf import settings

    try:
        return bool(getattr(settings, "ATTIK_DEMO_MODE", False))
    except ImproperlyConfigured:
        return False


# ---------------------------------------------------------------- host names

def parse_host(raw: str) -> str | IP:
    """The host as an IP address when it is one in any spelling, else a lower-case ASCII name."""
    raw = (raw or "").strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    if not raw:
        raise AddressRefused(f"The address has no host name. Enter it like {EXAMPLE}.", "host")
    if "%" in raw:  # a zone id only exists for link-local IPv6 addresses
        raise AddressRefused("That address points into a private network.", "private")
    try:
        return _unmap(ipaddress.ip_address(raw))
    except ValueError:
        pass
    try:  # IDNA 2003 nameprep: NFKC, and every kind of dot becomes "."
        name = raw.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise AddressRefused("The host name in that address is not valid.", "host") from None
    name = name[:-1] if name.endswith(".") else name
    try:
        return _unmap(ipaddress.ip_address(name))
    except ValueError:
        pass
    labels = name.split(".")
    if _NUMBER.match(labels[-1]):  # WHATWG URL: a host ending in a number is IPv4
        try:
            return ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            raise AddressRefused("The host name in that address is not valid.", "host") from None
    if not name or not all(_LABEL.match(label) for label in labels):
        raise AddressRefused("The host name in that address is not valid.", "host")
    return name


def _unmap(address: IP) -> IP:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def refuse_local_name(name: str) -> None:
    """Names that only mean something inside a network; the resolver check is the real guard."""
    if name == "localhost" or name.endswith(LOCAL_SUFFIXES):
        raise AddressRefused(
            "That host name points at this server or a local network. Enter Spectora's public "
            f"address, for example {EXAMPLE}.",
            "loopback" if "localhost" in name else "private",
        )
    if "." not in name:
        raise AddressRefused(f"Enter the full host name, for example {EXAMPLE}.", "host")


# ---------------------------------------------------------------- addresses

def embedded_ipv4(address: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (NAT64, 6to4, Teredo, mapped, compatible)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64 or address in _IPV4_COMPATIBLE or address in _IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _global_unicast(address: IP) -> bool:
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_unspecified
        and not (isinstance(address, ipaddress.IPv6Address) and address in _NAT64_LOCAL)
    )


def check_address(address: IP, *, host: str = "", loopback_ok: bool = False) -> None:
    """Refuse (``AddressRefused``) unless the address is global unicast, inner IPv4 included."""
    if loopback_ok and address.is_loopback:
        return
    for candidate in (address, embedded_ipv4(address)):
        if candidate is not None and not _global_unicast(candidate):
            raise _refusal(candidate, address, host)


def _refusal(candidate: IP, address: IP, host: str) -> AddressRefused:
    subject = f"{host} resolves to {address}, which" if host else "That address"
    if candidate.is_loopback:
        return AddressRefused(
            f"{subject} points at this server itself. Enter Spectora's public address, for "
            f"example {EXAMPLE}.",
            "loopback",
        )
    if candidate.is_link_local:
        return AddressRefused(
            f"{subject} is a link-local address (like a cloud metadata service), not "
            "Spectora's public address.",
            "private",
        )
    return AddressRefused(
        f"{subject} points into a private network. Enter Spectora's public address, for "
        f"example {EXAMPLE}.",
        "private",
    )


def check_scheme_and_port(scheme: str, port: int | None, *, loopback: bool) -> None:
    """https on 443; http or another port only for this machine in demo mode."""
    if loopback and demo_mode():
        return
    if scheme != "https":
        raise AddressRefused(
            "Use https:// so the API key is encrypted on its way to Spectora. Plain http:// is "
            "allowed only for a sandbox on this computer (127.0.0.1 or localhost) in demo mode.",
            "insecure",
        )
    if port is not None and port != HTTPS_PORT:
        raise AddressRefused(
            f"Spectora answers on the standard https port (443); leave out the :{port}.",
            "port",
        )


def checked_addresses(host: str, port: int, scheme: str) -> list[tuple[int, tuple]]:
    """Resolve ``host`` once and check every answer; ``[(family, sockaddr), ...]`` to connect to.

    Raises ``AddressRefused`` when any address (or the scheme or port) is not allowed, and
    ``socket.gaierror`` when the name does not resolve.
    """
    parsed = parse_host(host)
    if isinstance(parsed, str):
        infos = socket.getaddrinfo(
            parsed, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    elif parsed.version == 4:  # a literal address: nothing to look up
        infos = [(socket.AF_INET, socket.SOCK_STREAM, 0, "", (str(parsed), port))]
    else:
        infos = [(socket.AF_INET6, socket.SOCK_STREAM, 0, "", (str(parsed), port, 0, 0))]
    targets: list[tuple[int, tuple]] = []
    addresses: list[IP] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise AddressRefused("That host name does not resolve to an internet address.",
                                 "private")
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if "%" in sockaddr[0] or (family == socket.AF_INET6 and sockaddr[3]):
            raise AddressRefused("That address points into a private network.", "private")
        addresses.append(address)
        targets.append((family, sockaddr))
    if not targets:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    loopback = all(address.is_loopback for address in addresses)
    check_scheme_and_port(scheme, None, loopback=loopback)  # the scheme first: the clearest
    label = parsed if isinstance(parsed, str) else ""
    for address in addresses:
        check_address(address, host=label, loopback_ok=loopback and demo_mode())
    check_scheme_and_port(scheme, port, loopback=loopback)
    return targets


def canonical_url(url: str) -> str:
    """``url`` with its host read by ``parse_host`` (ASCII name or canonical IP literal).

    The client calls what this returns, so ``requests`` never reads a host its own way.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise AddressRefused("The address has an invalid port.", "invalid") from None
    if port == 0:  # urllib3 would quietly read it as the default port
        raise AddressRefused("The address has an invalid port (:0).", "port")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("The address must not contain a user name or password.",
                             "userinfo")
    host = parse_host(parts.hostname or "")
    netloc = f"[{host}]" if isinstance(host, ipaddress.IPv6Address) else str(host)
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))


# ---------------------------------------------------------------- links people open

MAX_LINK_LENGTH = 200  # SpectoraLink.url


def job_url(value: object, *, warn: bool = True) -> str:
    """Spectora's ``url`` for a job if a person may open it, else ``""`` (logged).

    https only (http only to this machine in demo mode, the sandbox): never
    ``javascript:``, ``data:`` or any other scheme, nothing with a user name in it.
    """
    text = value if isinstance(value, str) else ""
    if not text:
        return ""
    problem = _link_problem(text)
    if problem:
        if warn:
            log.warning("spectora job url dropped (%s): %r", problem, text[:80])
        return ""
    return text


def _link_problem(text: str) -> str:
    if len(text) > MAX_LINK_LENGTH:
        return "too long"
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text) or "\\" in text:
        return "spaces, control characters or backslashes"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "not a URL"
    if parts.username is not None or parts.password is not None:
        return "user name in the URL"
    try:
        host = parse_host(parts.hostname or "")
    except AddressRefused:
        return "no valid host"
    if parts.scheme == "https":
        return ""
    loopback = host == "localhost" or (not isinstance(host, str) and host.is_loopback)
    if parts.scheme == "http" and loopback and demo_mode():
        return ""
    return f"scheme {parts.scheme or 'missing'!r} is not https"
