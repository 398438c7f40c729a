"""`python manage.py spectora_sandbox --port 8100`: run the Spectora sandbox."""

from __future__ import annotations

import contextlib
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from spectora_sandbox import SandboxServer
from spectora_sandbox.webhooks import decode_secret


class Command(BaseCommand):
    help = (
        "Run the Spectora sandbox: an in-memory stand-in for the Spectora API "
        "(API key sandbox-key) with control endpoints under /_sandbox/."
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
            "--webhook-secret",
            default=None,
            help="signing secret, whsec_<base64> (default: a fresh random one)",
        )
        parser.add_argument(
            "--state-file",
            default=None,
            help="keep the sandbox's inspections and id counters in this JSON file across "
            "restarts (default: memory only)",
        )
        parser.add_argument("--verbose", action="store_true", help="log every request to stderr")

    def handle(self, *args, **options):
        secret = options["webhook_secret"]
        if secret is not None:
            try:
                decode_secret(secret)
            except ValueError as exc:
                raise CommandError(f"--webhook-secret: {exc}") from None
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
        if options["state_file"]:
            with server.state.lock:
                count = len(server.state.store.inspections)
                next_id = server.state.store.next_ids["inspection"]
            kept = f"{options['state_file']} ({count} inspections, next id {next_id})"
        else:
            kept = "memory only (--state-file keeps it across restarts)"
        out = self.stdout
        out.write(f"Spectora sandbox listening on {server.url}")
        out.write(f"  API key:        {server.api_key}")
        out.write(f"  Webhook secret: {server.webhook_secret}")
        out.write(f"  Webhook URL:    {url or '(none: webhooks off)'}")
        out.write(f"  Kept in:        {kept}")
        out.write(f"  State:          {server.url}/_sandbox/state")
        out.write("Press Ctrl-C to stop.")
        out.flush()
        try:
            while not self.stop_requested.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        server.stop()
        thread.join(timeout=5)
        out.write("Spectora sandbox stopped.")
        out.flush()
