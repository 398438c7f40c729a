"""Finding 1 (SSRF): the Spectora client connects only to a public https address it checked.

The client is the guard that has to hold: it resolves once, refuses unless every
address is global unicast (inner IPv4 of NAT64 / 6to4 / mapped / compatible
forms included), connects to exactly the address it checked, on port 443, and
follows no redirect. The connection form says the same thing first, in words.
Nothing here reaches the network: the resolver is ours, and a connect to
anything but loopback is refused and recorded (``tests/security/egress_helpers``).
"""

from __future__ import annotations

import http.server
import ipaddress
import ssl
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.core.exceptions import ValidationError

from spectora_integration.client import PermanentError, SpectoraClient, TransientError
from spectora_integration.client.addresses import validate_base_url
from spectora_integration.client.egress import embedded_ipv4, parse_host

PUBLIC = "93.184.216.34"

# Spellings of internal addresses the penetration test stored as a base URL.
INTERNAL_URLS = [
    "https://169。254。169。254/latest",  # ideographic full stop
    "https://①②⑦.0.0.1",  # circled digits
    "https://10｡0｡0｡1",  # halfwidth ideographic full stop
    "https://１２７．０．０．１",  # full-width digits and dots
    "https://169.254.169.254.",
    "https://0177.0.0.1",
    "https://[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "https://[2002:a9fe:a9fe::]",  # 6to4 of 169.254.169.254
    "https://[::127.0.0.1]",  # IPv4-compatible
    "https://[::ffff:0:7f00:1]",  # IPv4-translated (SIIT)
    "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]",  # Teredo, client 10.0.0.1
    "https://[64:ff9b:1::a00:1]",  # local-use NAT64
]


@pytest.fixture
def production(settings):
    settings.ATTIK_DEMO_MODE = False
    return settings


@pytest.fixture
def demo(settings):
    settings.ATTIK_DEMO_MODE = True
    return settings


def client_for(url: str) -> SpectoraClient:
    return SpectoraClient(url, "the-api-key", timeout=(1, 2))


# ---------------------------------------------------------------- reading hosts

@pytest.mark.parametrize(
    "raw, expected",
    [
        ("169。254。169。254", "169.254.169.254"),
        ("①②⑦.0.0.1", "127.0.0.1"),
        ("10｡0｡0｡1", "10.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("::ffff:10.0.0.5", "10.0.0.5"),
    ],
)
def test_every_spelling_of_an_ip_address_reads_as_that_address(raw, expected):
    assert parse_host(raw) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "raw, inner",
    [
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("2002:a9fe:a9fe::", "169.254.169.254"),
        ("::127.0.0.1", "127.0.0.1"),
        ("::ffff:0:7f00:1", "127.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "10.0.0.1"),
    ],
)
def test_the_ipv4_address_inside_an_ipv6_address_is_found(raw, inner):
    assert embedded_ipv4(ipaddress.ip_address(raw)) == ipaddress.ip_address(inner)


# ---------------------------------------------------------------- the form

@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_the_form_refuses_internal_addresses_in_any_spelling(production, resolver, url):
    with pytest.raises(ValidationError) as caught:
        validate_base_url(url)
    assert caught.value.code in {"private", "loopback", "host"}
    assert caught.value.messages[0].endswith(".")


@pytest.mark.parametrize(
    "name, address",
    [
        ("localtest.me", "127.0.0.1"),
        ("127.0.0.1.nip.io", "127.0.0.1"),
        ("metadata.example.com", "169.254.169.254"),
        ("v6.example.com", "64:ff9b::a9fe:a9fe"),
        ("db.example.com", "10.1.2.3"),
    ],
)
def test_the_form_refuses_names_that_resolve_inside(production, resolver, name, address):
    resolver.add(name, address)
    with pytest.raises(ValidationError) as caught:
        validate_base_url(f"https://{name}")
    assert caught.value.code in {"private", "loopback"}
    assert name in caught.value.messages[0]


def test_the_form_refuses_a_name_when_any_of_its_addresses_is_inside(production, resolver):
    resolver.add("mixed.example.com", [PUBLIC, "127.0.0.1"])
    with pytest.raises(ValidationError):
        validate_base_url("https://mixed.example.com")


@pytest.mark.parametrize("url", ["https://kubernetes.default.svc",
                                 "https://api.default.svc.cluster.local"])
def test_the_form_refuses_cluster_names(production, resolver, url):
    with pytest.raises(ValidationError) as caught:
        validate_base_url(url)
    assert caught.value.code == "private"


@pytest.mark.parametrize("port", [22, 0, 80, 8443])
@pytest.mark.parametrize("mode", [True, False])
def test_the_form_allows_only_port_443_for_a_public_host(settings, resolver, mode, port):
    settings.ATTIK_DEMO_MODE = mode
    resolver.add("connect.example.com", PUBLIC)
    with pytest.raises(ValidationError) as caught:
        validate_base_url(f"https://connect.example.com:{port}")
    assert caught.value.code == "port"


def test_the_form_accepts_a_public_name(production, resolver):
    resolver.add("connect.example.com", PUBLIC)
    assert validate_base_url("https://connect.example.com/") == "https://connect.example.com"


# ---------------------------------------------------------------- the client

@pytest.mark.parametrize("url", INTERNAL_URLS + [
    "https://localtest.me", "https://kubernetes.default.svc", "https://connect.example.com:22",
    "https://connect.example.com:0", "http://connect.example.com",
])
def test_the_client_refuses_internal_addresses_before_any_connect(
    production, resolver, sockets, url
):
    """What the form would refuse, stored anyway (an old row, a failing connection)."""
    resolver.add("localtest.me", "127.0.0.1")
    resolver.add("kubernetes.default.svc", "10.96.0.1")
    resolver.add("connect.example.com", PUBLIC)
    with pytest.raises(PermanentError) as caught:
        client_for(url).inspectors()
    assert caught.value.code == "address_refused"
    assert "Attik did not call" in caught.value.message
    assert "the-api-key" not in caught.value.message
    assert sockets.connects == []


def test_every_resolved_address_must_be_public(production, resolver, sockets):
    resolver.add("mixed.example.com", [PUBLIC, "10.0.0.7"])
    with pytest.raises(PermanentError):
        client_for("https://mixed.example.com").inspectors()
    assert sockets.connects == []


def test_a_name_that_rebinds_to_loopback_is_never_connected_to_loopback(
    production, resolver, sockets
):
    """Public to the first lookup, 127.0.0.1 to the second: one lookup per connection."""
    resolver.add("rebind.example.com", PUBLIC, "127.0.0.1")
    client = client_for("https://rebind.example.com")

    with pytest.raises(TransientError):  # the test network refuses the public address
        client.inspectors()
    assert sockets.connects == [(PUBLIC, 443)]
    assert resolver.count("rebind.example.com") == 1

    with pytest.raises(PermanentError) as caught:  # the next connection looks up again
        client.inspectors()
    assert caught.value.code == "address_refused"
    assert sockets.connects == [(PUBLIC, 443)]
    assert resolver.count("rebind.example.com") == 2


def test_no_proxy_from_the_environment_is_used(production, resolver, sockets, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    resolver.add("connect.example.com", PUBLIC)
    with pytest.raises(TransientError):
        client_for("https://connect.example.com").inspectors()
    assert sockets.connects == [(PUBLIC, 443)]


# ---------------------------------------------------------------- demo mode: loopback only

@pytest.mark.parametrize("url", ["http://10.0.0.1:8100", "https://[fd00::1]",
                                 "http://connect.example.com"])
def test_demo_mode_allows_loopback_and_nothing_else_that_is_not_public(
    demo, resolver, sockets, url
):
    resolver.add("connect.example.com", PUBLIC)
    with pytest.raises(PermanentError) as caught:
        client_for(url).inspectors()
    assert caught.value.code == "address_refused"
    assert sockets.connects == []


class _Answer(http.server.BaseHTTPRequestHandler):
    seen: list[dict]
    status = 200
    location = ""

    def do_GET(self):
        self.seen.append({"path": self.path, "host": self.headers.get("Host")})
        body = b'{"data": [], "links": {}}'
        self.send_response(self.status)
        if self.location:
            self.send_header("Location", self.location)
        self.send_header("Content-Type", "application/vnd.api+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    servers = []

    def start(*, status=200, location="", tls_context=None):
        handler = type("Handler", (_Answer,), {"seen": [], "status": status,
                                               "location": location})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls_context is not None:
            server.socket = tls_context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, handler.seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_name_for_loopback_connects_to_the_checked_address_with_its_host_header(
    demo, resolver, sockets, local_server
):
    server, seen = local_server()
    port = server.server_address[1]
    resolver.add("sandbox.example.com", "127.0.0.1")
    client_for(f"http://sandbox.example.com:{port}").inspectors()
    assert sockets.connects == [("127.0.0.1", port)]
    assert seen[0]["host"] == f"sandbox.example.com:{port}"
    assert resolver.count("sandbox.example.com") == 1


def test_no_redirect_is_followed(demo, resolver, sockets, local_server):
    target, target_seen = local_server()
    bouncer, _ = local_server(status=302,
                              location=f"http://127.0.0.1:{target.server_address[1]}/v2/x")
    client = client_for(f"http://127.0.0.1:{bouncer.server_address[1]}")
    with pytest.raises(PermanentError):
        client.inspectors()
    with pytest.raises(requests.TooManyRedirects):  # even when a caller asks to follow
        client.session.get(f"http://127.0.0.1:{bouncer.server_address[1]}/", timeout=2)
    assert target_seen == []


# ---------------------------------------------------------------- TLS to the pinned address

def _certificate(tmp_path, name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return cert_path, key_path


def _tls_context(cert_path, key_path, server_names: list):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)

    def remember(sock, name, ctx):
        server_names.append(name)

    context.sni_callback = remember
    return context


@pytest.mark.parametrize("certified, works", [("spectora.example.com", True),
                                              ("other.example.com", False)])
def test_tls_to_the_pinned_address_sends_sni_and_verifies_the_host_name(
    demo, resolver, sockets, local_server, tmp_path, certified, works
):
    cert_path, key_path = _certificate(tmp_path, certified)
    server_names: list = []
    server, seen = local_server(tls_context=_tls_context(cert_path, key_path, server_names))
    port = server.server_address[1]
    resolver.add("spectora.example.com", "127.0.0.1")
    client = client_for(f"https://spectora.example.com:{port}")
    client.session.verify = str(cert_path)

    if works:
        client.inspectors()
        assert seen and seen[0]["host"] == f"spectora.example.com:{port}"
    else:
        with pytest.raises(TransientError):
            client.inspectors()
        assert seen == []  # the certificate did not match the name: nothing was sent
    assert server_names and set(server_names) == {"spectora.example.com"}
    assert sockets.connects and {c[0] for c in sockets.connects} == {"127.0.0.1"}
