"""Checks on what an admin types into the Spectora connection form.

``validate_base_url`` is the friendly first word of the SSRF guard: Attik
sends the company's API key to this address, from inside its own network, so
the address must be Spectora's public https host on port 443; plain http to
this machine is allowed only in demo mode, for the local sandbox. It reads
the host with the client's own rules (client/egress.py): every spelling of an
internal address is refused here, and a name is resolved and refused when any
address it has is not public. A name that does not resolve yet is accepted:
the client checks the address again on every connection and connects only to
the address it checked, so this check is not the one that has to hold.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from spectora_integration.client.egress import (
    EXAMPLE,
    AddressRefused,
    check_scheme_and_port,
    checked_addresses,
    parse_host,
    refuse_local_name,
)

MAX_URL_LENGTH = 200  # SpectoraConnection.base_url is a URLField (200)
DEFAULT_PORTS = {"https": 443, "http": 80}


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

    try:
        host = parse_host(parts.hostname or "")
        demo = bool(getattr(settings, "ATTIK_DEMO_MODE", False))
        if isinstance(host, str) and not (demo and host == "localhost"):
            refuse_local_name(host)
        effective_port = port if port is not None else DEFAULT_PORTS[scheme]
        try:
            checked_addresses(str(host), effective_port, scheme)
        except socket.gaierror:  # not in DNS (yet): the client checks again on every call
            check_scheme_and_port(scheme, effective_port, loopback=False)
    except AddressRefused as refused:
        raise _fail(refused.message, refused.code) from None

    netloc = f"[{host}]" if isinstance(host, ipaddress.IPv6Address) else str(host)
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"
