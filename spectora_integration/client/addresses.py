"""Checks on what an admin types into the Spectora connection form.

``validate_base_url`` is the SSRF guard: Attik sends the company's API key to
this address, from inside its own network, so the address must be a public
https host. Plain http to this machine is allowed only in demo mode, for the
local sandbox. The client also refuses redirects, so an allowed host cannot
bounce a call somewhere this check would have refused.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

MAX_URL_LENGTH = 200  # SpectoraConnection.base_url is a URLField (200)
EXAMPLE = "https://connect.spectora.com"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def _fail(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def validate_base_url(url: str) -> str:
    """Return the address in a canonical form, or raise ``ValidationError`` saying what is wrong."""
    value = (url or "").strip()
    if not value:
        raise _fail(f"Enter Spectora's address, for example {EXAMPLE}.", "required")
    if len(value) > MAX_URL_LENGTH:
        raise _fail(f"That address is too long (at most {MAX_URL_LENGTH} characters).", "length")
    if any(ch.isspace() or ord(ch) < 32 for ch in value) or "\\" in value:
        raise _fail("The address must not contain spaces or backslashes.", "invalid")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise _fail(
            f"That is not a web address we can use. Enter it like {EXAMPLE}.", "invalid"
        ) from None

    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise _fail(
            f"The address must start with https://, for example {EXAMPLE}.", "scheme"
        )
    if "@" in parts.netloc:
        raise _fail(
            "Remove the user name or password from the address. The API key goes in its own "
            "field.",
            "userinfo",
        )
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise _fail("Leave out any ?… or #… part: enter just the address.", "query")

    host = _host(parts.hostname or "")
    loopback_allowed = bool(getattr(settings, "ATTIK_DEMO_MODE", False))
    is_loopback_name = str(host) in LOOPBACK_NAMES
    if is_loopback_name and loopback_allowed:
        pass  # the local sandbox in demo mode, over http or https
    elif scheme == "http":
        raise _fail(
            "Use https:// so the API key is encrypted on its way to Spectora. Plain http:// is "
            "allowed only for a sandbox on this computer (127.0.0.1 or localhost) in demo mode.",
            "insecure",
        )
    elif isinstance(host, _IP):
        _refuse_internal_ip(host)
    else:
        _refuse_internal_name(host)

    netloc = f"[{host}]" if isinstance(host, ipaddress.IPv6Address) else str(host)
    if port is not None:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def _host(raw: str) -> str | _IP:
    """The host as an IP address when it is one in any spelling, else a lower-case DNS name."""
    if not raw:
        raise _fail(f"The address has no host name. Enter it like {EXAMPLE}.", "host")
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        address = None
    if address is not None:
        if "%" in raw:  # a zone id only exists for link-local IPv6 addresses
            raise _fail("That address points into a private network.", "private")
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            return address.ipv4_mapped
        return address
    # Shorthand IPv4 spellings (127.1, 0x7f.0.0.1, 2130706433) reach the same machine.
    if re.fullmatch(r"[0-9a-fx.]+", raw) and not raw.endswith("."):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(raw))
        except OSError:
            pass
    try:
        name = raw.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError:
        raise _fail("The host name in that address is not valid.", "host") from None
    if not name or not all(_LABEL.match(label) for label in name.split(".")):
        raise _fail("The host name in that address is not valid.", "host")
    return name


def _refuse_internal_ip(address: _IP) -> None:
    if address.is_loopback:
        raise _fail(
            "That address points at this server itself. Enter Spectora's public address, "
            f"for example {EXAMPLE}.",
            "loopback",
        )
    if address.is_link_local:
        raise _fail("That is a link-local address, not Spectora's public address.", "private")
    if address.is_private or not address.is_global or address.is_multicast:
        raise _fail(
            "That address points into a private network. Enter Spectora's public address, "
            f"for example {EXAMPLE}.",
            "private",
        )


def _refuse_internal_name(name: str) -> None:
    if name == "localhost" or name.endswith(LOCAL_SUFFIXES):
        raise _fail(
            "That host name points at this server or a local network. Enter Spectora's public "
            f"address, for example {EXAMPLE}.",
            "loopback" if "localhost" in name else "private",
        )
    if "." not in name:
        raise _fail(f"Enter the full host name, for example {EXAMPLE}.", "host")
