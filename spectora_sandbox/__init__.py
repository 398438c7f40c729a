"""A faithful, stateful stand-in for the Spectora API (docs/spectora-api.md).

Standard library only, so it runs without Django: `start_sandbox()` for tests and
scripts, `python manage.py spectora_sandbox --port 8100` for the demo (the command
needs `spectora_sandbox` in INSTALLED_APPS: set `ATTIK_SANDBOX_APP=true`).
No product code imports this package.

    sandbox = start_sandbox()          # free port, background thread
    sandbox.url, sandbox.api_key, sandbox.webhook_secret, sandbox.state
    sandbox.reset(); sandbox.stop()
    start_sandbox(state_file="var/sandbox-state.json")   # kept across restarts

The parts:
- `server.py`     HTTP: the threaded server, `/_sandbox/` control routes, pages
- `state.py`      `SandboxState`: everything behind one lock; the state file
- `routes.py`     the `/v2/` routes and what every call goes through
                  (API key, rate limit, faults, Idempotency-Key, request log)
- `reads.py`, `writes.py`  the `/v2/` handlers
- `person.py`     changes made "by a person in Spectora" (`/_sandbox/inspections`)
- `store.py`      the rows, id counters, timestamps, snapshots and the state file
- `faults.py`     fault rules, the rate limit, Sync Locks
- `validation.py` request bodies and values
- `rendering.py`  JSON:API documents, flat dumps, HTML office pages
- `responses.py`  `Response` and `ApiError`
- `webhooks.py`   signed outgoing webhooks
- `testing.py`    `start_sandbox()` / `RunningSandbox`
"""

from .server import SandboxServer
from .testing import RunningSandbox, start_sandbox

__all__ = ["RunningSandbox", "SandboxServer", "start_sandbox"]
