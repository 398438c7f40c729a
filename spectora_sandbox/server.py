"""The sandbox's HTTP layer: a threaded stdlib server in front of `SandboxState`.

Routes:
- `/v2/...`            the Spectora API (`SandboxState.handle_api`, see routes.py)
- `/_sandbox/...`      control endpoints, no auth, loopback clients only
- `/` and `/inspections/{id}`  small HTML office pages (what `url` points at)

HTTP/1.1 with Content-Length on every answer (none on 204), so clients keep
connections alive. Standard library only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import socket
import socketserver
import sys
import threading
import traceback
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .rendering import NOT_FOUND_PAGE
from .responses import HTML_CONTENT_TYPE, JSON_CONTENT_TYPE, ApiError, Response
from .routes import API_KEY, match_route
from .state import SandboxState
from .validation import parse_json
from .webhooks import WebhookDispatcher

MAX_BODY_BYTES = 10 * 1024 * 1024
IDLE_CONNECTION_TIMEOUT_S = 300

CONTROL_ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(r"^/_sandbox/reset$"), {"POST": "reset"}),
    (re.compile(r"^/_sandbox/requests$"), {"GET": "requests"}),
    (re.compile(r"^/_sandbox/state$"), {"GET": "state"}),
    (re.compile(r"^/_sandbox/faults$"), {"GET": "get_faults", "POST": "set_faults"}),
    (
        re.compile(r"^/_sandbox/rate_limit$"),
        {"GET": "get_rate_limit", "POST": "set_rate_limit"},
    ),
    (re.compile(r"^/_sandbox/lock$"), {"POST": "lock"}),
    (re.compile(r"^/_sandbox/inspections$"), {"POST": "person"}),
    (re.compile(r"^/_sandbox/reports/([^/]+)$"), {"POST": "report_status"}),
    (re.compile(r"^/_sandbox/webhooks$"), {"GET": "webhooks"}),
    (
        re.compile(r"^/_sandbox/webhook_config$"),
        {"GET": "get_webhook_config", "POST": "set_webhook_config"},
    ),
]
PAGE_ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
    (re.compile(r"^/$"), {"GET": "index"}),
    (re.compile(r"^/inspections/([^/]+)$"), {"GET": "inspection"}),
]


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for anything else."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return ip.is_loopback


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SpectoraSandbox/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = IDLE_CONNECTION_TIMEOUT_S
    server: SandboxServer

    # ----------------------------------------------------------------- plumbing

    def setup(self) -> None:
        super().setup()
        self.server._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.server._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise OverflowError
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            raise OverflowError
        return self.rfile.read(length) if length else b""

    # ----------------------------------------------------------------- dispatch

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except OverflowError:
            self.close_connection = True
            self._send(ApiError(413, "payload_too_large", "Body over 10 MB.").response())
            return
        except ValueError:
            self.close_connection = True
            self._send(ApiError(400, "invalid_body", "Bad Content-Length.").response())
            return
        target = self.path
        path = urlsplit(target).path
        try:
            if path == "/v2" or path.startswith("/v2/"):
                resp = self.server.state.handle_api(
                    self.command, target, dict(self.headers.items()), body
                )
            elif path == "/_sandbox" or path.startswith("/_sandbox/"):
                resp = self.server.handle_control(
                    self.command, target, body, self.client_address[0]
                )
            else:
                resp = self.server.handle_page(self.command, path)
        except Exception:  # a sandbox bug: say so loudly, answer 500
            traceback.print_exc(file=sys.stderr)
            resp = ApiError(500, "internal_error", "Sandbox bug; see its stderr.").response()
        self._send(resp)

    def _send(self, resp: Response) -> None:
        if resp.delay_s > 0:
            self.server.stopping.wait(resp.delay_s)
        if resp.drop_connection:
            # A timeout fault: say nothing, then hang up.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if resp.raw is not None:
            payload = resp.raw
        elif resp.body is not None:
            payload = json.dumps(resp.body, separators=(",", ":")).encode()
        else:
            payload = b""
        try:
            phrase = HTTPStatus(resp.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [
            f"HTTP/1.1 {resp.status} {phrase}",
            f"Server: {self.server_version}",
            f"Date: {formatdate(usegmt=True)}",
        ]
        if resp.status != 204:
            if payload:
                lines.append(f"Content-Type: {resp.content_type}")
            lines.append(f"Content-Length: {len(payload)}")
        lines.extend(f"{k}: {v}" for k, v in resp.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return
        self.log_request(resp.status, len(payload))


class SandboxServer(ThreadingHTTPServer):
    """The sandbox HTTP server. `serve_forever()` it; `stop()` it."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        api_key: str = API_KEY,
        state_file: str | os.PathLike[str] | None = None,
        verbose: bool = False,
    ) -> None:
        """Bind and get ready; OSError when the port is taken, ValueError for a bad state file."""
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.verbose = verbose
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.webhooks = WebhookDispatcher(url=webhook_url, secret=webhook_secret)
        super().__init__((host, port), SandboxRequestHandler)
        try:
            self.state = SandboxState(api_key=api_key, base_url=self.url, state_file=state_file)
        except BaseException:
            self.server_close()
            raise
        self.state.event_sink = self.webhooks.send

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    # ----------------------------------------------------------------- facts

    @property
    def host(self) -> str:
        return self.server_address[0]

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "", "::"):  # noqa: S104 - mapping a wildcard bind to a URL
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        return self.state.api_key

    @property
    def webhook_secret(self) -> str:
        return self.webhooks.secret

    # ----------------------------------------------------------------- lifecycle

    def reset(self) -> None:
        self.state.reset()
        self.webhooks.clear()

    def stop(self) -> None:
        """Stop serving, drop open connections, stop the webhook thread."""
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self.webhooks.close()
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ----------------------------------------------------------------- control

    def handle_control(self, method: str, target: str, body: bytes, client: str) -> Response:
        try:
            if not is_loopback(client):
                raise ApiError(403, "forbidden", "Control endpoints answer loopback clients only.")
            parts = urlsplit(target)
            name, args = match_route(CONTROL_ROUTES, method.upper(), parts.path)
            data = parse_json(body) if method.upper() == "POST" else None
            status, out = getattr(self, f"_control_{name}")(*args, data, parse_qs(parts.query))
        except ApiError as err:
            return err.response(JSON_CONTENT_TYPE)
        return Response(status, out, content_type=JSON_CONTENT_TYPE)

    def _control_reset(self, data, query):
        self.reset()
        return 200, {"ok": True}

    def _control_requests(self, data, query):
        return 200, self.state.requests_log()

    def _control_state(self, data, query):
        return 200, self.state.dump()

    def _control_get_faults(self, data, query):
        return 200, self.state.fault_config()

    def _control_set_faults(self, data, query):
        return 200, self.state.set_faults(data)

    def _control_get_rate_limit(self, data, query):
        return 200, self.state.rate_limit_config()

    def _control_set_rate_limit(self, data, query):
        return 200, self.state.set_rate_limit(data)

    def _control_lock(self, data, query):
        return 200, self.state.set_lock(data)

    def _control_person(self, data, query):
        return self.state.person_change(data)

    def _control_report_status(self, rid, data, query):
        return 200, self.state.set_report_status(rid, data)

    def _control_webhooks(self, data, query):
        wait = (query.get("wait") or ["0"])[0]
        try:
            seconds = min(float(wait), 30.0)
        except ValueError:
            raise ApiError(400, "invalid_parameter", "wait must be a number of seconds.") from None
        if seconds > 0:
            self.webhooks.wait_idle(seconds)
        return 200, self.webhooks.deliveries()

    def _control_get_webhook_config(self, data, query):
        return 200, self.webhooks.config()

    def _control_set_webhook_config(self, data, query):
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_body", "Body must be a JSON object.")
        changes = {k: data[k] for k in ("url", "secret") if k in data}
        try:
            return 200, self.webhooks.configure(**changes)
        except ValueError as exc:
            raise ApiError(422, "validation_failed", str(exc)) from None

    # ----------------------------------------------------------------- pages

    def handle_page(self, method: str, path: str) -> Response:
        try:
            name, args = match_route(PAGE_ROUTES, method.upper(), path)
        except ApiError as err:
            return err.response(JSON_CONTENT_TYPE)
        if name == "index":
            return Response(200, raw=self.state.render_index(), content_type=HTML_CONTENT_TYPE)
        page = self.state.render_inspection_page(unquote(args[0]))
        if page is None:
            return Response(404, raw=NOT_FOUND_PAGE, content_type=HTML_CONTENT_TYPE)
        return Response(200, raw=page, content_type=HTML_CONTENT_TYPE)

