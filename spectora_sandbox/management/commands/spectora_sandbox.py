"""`python manage.py spectora_sandbox --port 8100`: run the Spectora sandbox.

The webhook signing secret comes from `--webhook-secret-file`, else from the
`SANDBOX_WEBHOOK_SECRET` environment variable, else it is generated; it is never
printed. `--webhook-secret` still works but shows the secret to anyone who can
list processes, so the demo does not use it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from spectora_sandbox import SandboxServer
from spectora_sandbox.webhooks import decode_secret

SECRET_ENV = "SANDBOX_WEBHOOK_SECRET"


class Command(BaseCommand):
    help = (
        "Run the Spectora sandbox: a stand-in for the Spectora API (API key sandbox-key) "
        "with control endpoints under /_sandbox/. See docs/spectora-api.md."
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Set by SIGINT/SIGTERM, or by whoever runs the command in a thread.
        self.stop_requested = threading.Event()

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8100, help="port (default 8100)")
        parser.add_argument(
            "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)"
        )
        parser.add_argument(
            "--webhook-url",
            default=None,
            help="deliver webhooks for changes made through /_sandbox/ to this URL",
        )
        parser.add_argument(
            "--webhook-secret-file",
            default=None,
            help=f"read the signing secret (whsec_<base64>) from this file "
            f"(default: ${SECRET_ENV}, else a fresh random one)",
        )
        parser.add_argument(
            "--webhook-secret",
            default=None,
            help=f"signing secret, whsec_<base64>; visible in the process list, so prefer "
            f"${SECRET_ENV} or --webhook-secret-file",
        )
        parser.add_argument(
            "--state-file",
            default=None,
            help="keep the sandbox's inspections and id counters in this JSON file across "
            "restarts (default: memory only)",
        )
        parser.add_argument(
            "--demo-job",
            action="store_true",
            help="make sure one job booked by a person in Spectora exists (the demo's "
            "Spectora-origin workorder); Attik imports it through the webhook or its drift scan",
        )
        parser.add_argument("--verbose", action="store_true", help="log every request to stderr")

    def handle(self, *args, **options):
        secret, secret_source = self._secret(options)
        url = options["webhook_url"]
        if url is not None and not url.startswith(("http://", "https://")):
            raise CommandError("--webhook-url must be an http(s) URL")
        try:
            server = SandboxServer(
                options["host"],
                options["port"],
                webhook_url=url,
                webhook_secret=secret,
                state_file=options["state_file"],
                verbose=options["verbose"],
            )
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from None
        except ValueError as exc:
            raise CommandError(
                f"--state-file: {exc}. Move the file away to start with an empty sandbox "
                "(only if nothing links to its inspections any more)."
            ) from None

        def stop(signum, frame):
            self.stop_requested.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            # Outside the main thread signals can't be set; Ctrl-C still raises below.
            with contextlib.suppress(ValueError):
                signal.signal(sig, stop)

        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        thread.start()
        if options["demo_job"]:
            ensure_demo_job(server.state)
        self._banner(server, url, secret_source, options["state_file"])
        try:
            while not self.stop_requested.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        server.stop()
        thread.join(timeout=5)
        self.stdout.write("Spectora sandbox stopped.")
        self.stdout.flush()

    def _secret(self, options) -> tuple[str | None, str]:
        """(secret or None for a generated one, where it came from, for the banner)."""
        given, path = options["webhook_secret"], options["webhook_secret_file"]
        if given is not None and path is not None:
            raise CommandError("give --webhook-secret or --webhook-secret-file, not both")
        if given is not None:
            self.stderr.write(
                f"Warning: --webhook-secret shows the secret in the process list; "
                f"use ${SECRET_ENV} or --webhook-secret-file."
            )
            secret, source, flag = given, "--webhook-secret", "--webhook-secret"
        elif path is not None:
            try:
                secret = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise CommandError(f"--webhook-secret-file: cannot read {path}: {exc}") from None
            source, flag = f"file {path}", "--webhook-secret-file"
        elif os.environ.get(SECRET_ENV, "").strip():
            secret = os.environ[SECRET_ENV].strip()
            source, flag = f"${SECRET_ENV}", SECRET_ENV
        else:
            return None, "generated at start"
        try:
            decode_secret(secret)
        except ValueError as exc:
            raise CommandError(f"{flag}: {exc}") from None
        return secret, source

    def _banner(self, server: SandboxServer, url: str | None, secret_source: str, state_file):
        out = self.stdout
        if state_file:
            with server.state.lock:
                count = len(server.state.store.inspections)
                next_id = server.state.store.next_ids["inspection"]
            kept = f"{state_file} ({count} inspections, next id {next_id})"
        else:
            kept = "memory only (--state-file keeps it across restarts)"
        out.write(f"Spectora sandbox listening on {server.url}")
        out.write(f"  API key:        {server.api_key}")
        out.write(
            f"  Webhook secret: {secret_source}; not shown "
            f"(GET {server.url}/_sandbox/webhook_config from this machine)"
        )
        out.write(f"  Webhook URL:    {url or '(none: webhooks off)'}")
        out.write(f"  Kept in:        {kept}")
        out.write(f"  State:          {server.url}/_sandbox/state")
        out.write("Press Ctrl-C to stop.")
        out.flush()


DEMO_JOB = {
    "attributes": {
        "full_address": "48 Orchard Lane, Springfield, IL",
        "client_name": "Jordan Ellis (booked in Spectora)",
        "client_email": "jordan.ellis@example.com",
    },
    "assignments": [{"inspector_id": "insp-1", "primary": True}],
    "line_items": [{"service_id": "svc-1"}],
}


def ensure_demo_job(state) -> str | None:
    """One job a person booked in Spectora, two days from now at 10:00, unless one exists.

    Returns the new inspection's id, or None when a Spectora-origin job was there already.
    """
    if any(job.get("origin") == "spectora" for job in state.dump()["inspections"]):
        return None
    when = (datetime.now(UTC).astimezone() + timedelta(days=2)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    body = {**DEMO_JOB, "attributes": {**DEMO_JOB["attributes"], "datetime": when.isoformat()}}
    _status, job = state.person_change(body)
    return job["id"]
