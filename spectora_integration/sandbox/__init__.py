"""A faithful, stateful, in-memory stand-in for the Spectora API (CONTRACT.md section 2).

Standard library only, so it runs without Django: `start_sandbox()` for tests and
scripts, `python manage.py spectora_sandbox --port 8100` for the demo.

    sandbox = start_sandbox()          # free port, background thread
    sandbox.url, sandbox.api_key, sandbox.webhook_secret, sandbox.state
    sandbox.reset(); sandbox.stop()

Beyond CONTRACT.md the sandbox also offers (all under /_sandbox/, loopback only):
- `POST /_sandbox/reports/{rid}` `{"status": "empty"|"started"|"published"}`
  simulates an inspector writing a report (and sends `inspection.updated`);
- `GET /_sandbox/webhooks[?wait=seconds]` lists webhook deliveries;
- `GET|POST /_sandbox/webhook_config` `{"url", "secret"}` reads/changes where
  webhooks go and how they are signed (reset leaves this alone);
- `GET /_sandbox/faults`, `GET /_sandbox/rate_limit` show the current settings;
  `POST /_sandbox/faults` also takes `"seed"` to make `rate` deterministic;
- `GET /` and `GET /inspections/{id}`: the HTML office pages `url` points at.
"""

from .server import SandboxServer
from .testing import RunningSandbox, start_sandbox

__all__ = ["RunningSandbox", "SandboxServer", "start_sandbox"]
