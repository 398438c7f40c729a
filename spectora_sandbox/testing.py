"""Start a sandbox in a background thread, for tests, the demo and benchmarks.

    sandbox = start_sandbox()
    requests.get(f"{sandbox.url}/v2/inspectors",
                 headers={"Authorization": f"Bearer {sandbox.api_key}"})
    sandbox.stop()

Standard library only.
"""

from __future__ import annotations

import os
import threading

from .server import SandboxServer
from .state import SandboxState
from .webhooks import WebhookDispatcher


class RunningSandbox:
    """A sandbox serving from a daemon thread. Also a context manager."""

    def __init__(self, server: SandboxServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def api_key(self) -> str:
        return self.server.api_key

    @property
    def webhook_secret(self) -> str:
        return self.server.webhook_secret

    @property
    def state(self) -> SandboxState:
        return self.server.state

    @property
    def webhooks(self) -> WebhookDispatcher:
        return self.server.webhooks

    def reset(self) -> None:
        """Same as POST /_sandbox/reset."""
        self.server.reset()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.stop()
            self.thread.join(timeout=5)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RunningSandbox {self.url}>"


def start_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    *,
    state_file: str | os.PathLike[str] | None = None,
    verbose: bool = False,
) -> RunningSandbox:
    """Bind (port 0 = any free port), serve from a daemon thread, return at once.

    With `state_file` the sandbox starts from that file (when it exists) and saves
    every change to it; without, it starts empty and keeps everything in memory.
    """
    server = SandboxServer(
        host,
        port,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        state_file=state_file,
        verbose=verbose,
    )
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"spectora-sandbox-{server.port}",
        daemon=True,
    )
    thread.start()
    return RunningSandbox(server, thread)
