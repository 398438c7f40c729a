"""The sandbox's Spectora company behind one lock.

`SandboxState` ties the parts together: the rows (`store.Store`), the `/v2/` API
(`routes`), what a person does in Spectora (`person`), the fault knobs
(`faults`) and the pages (`rendering`). Nothing in here speaks HTTP:
`handle_api` takes a method, a request target, headers and the raw body and
returns a `Response`; the control operations behind `/_sandbox/` take parsed
JSON and raise `ApiError`.

One re-entrant lock guards everything, so each call sees and leaves a consistent
state. Standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from . import person, rendering
from .faults import Faults, RateLimit, SyncLocks, parse_lock
from .responses import Response
from .routes import API_KEY, IdempotencyStore, answer_api, new_request_log
from .store import Inspection, Store

__all__ = ["API_KEY", "SandboxState"]


class SandboxState:
    """One Spectora company, its API semantics and the sandbox's control knobs."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        base_url: str = "http://127.0.0.1:8100",
    ) -> None:
        self.lock = threading.RLock()
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        # Called as event_sink(event_type, inspection_id, updated_at) for changes
        # made through the control endpoints; the server wires webhooks to it.
        self.event_sink: Callable[[str, str, str], None] | None = None
        self.store = Store()
        self.idempotency = IdempotencyStore()
        self._clear_knobs()

    # ----------------------------------------------------------------- lifecycle

    def reset(self, seed: int | None = None) -> None:
        """Back to the starting company; faults, limits, locks and log cleared."""
        with self.lock:
            self.store.clear(keep_ids=False)
            self.idempotency.clear()
            self._clear_knobs(seed)

    def _clear_knobs(self, seed: int | None = None) -> None:
        self.request_log = new_request_log()
        self.faults = Faults(seed)
        self.rate_limit = RateLimit()
        self.locks = SyncLocks()

    # ----------------------------------------------------------------- the API

    def handle_api(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Response:
        """Answer one `/v2/` request (auth, rate limit, faults, idempotency, route)."""
        parts = urlsplit(target)
        lowered = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            return answer_api(self, method.upper(), parts.path, parts.query, lowered, body)

    def emit(self, event_type: str, insp: Inspection) -> None:
        sink = self.event_sink
        if sink is not None:
            sink(event_type, insp.id, insp.attrs["updated_at"])

    # ----------------------------------------------------------------- control: reads

    def requests_log(self) -> list[dict]:
        with self.lock:
            return [dict(entry) for entry in self.request_log]

    def dump(self) -> dict:
        with self.lock:
            return {
                "inspections": [
                    rendering.flat(i, self.base_url) for i in self.store.sorted_inspections()
                ]
            }

    def fault_config(self) -> dict:
        with self.lock:
            return self.faults.config()

    def rate_limit_config(self) -> dict:
        with self.lock:
            return self.rate_limit.config()

    # ----------------------------------------------------------------- control: knobs

    def set_faults(self, body: Any) -> dict:
        with self.lock:
            return self.faults.configure(body)

    def set_rate_limit(self, body: Any) -> dict:
        with self.lock:
            return self.rate_limit.configure(body)

    def set_lock(self, body: Any) -> dict:
        iid, seconds = parse_lock(body)
        with self.lock:
            self.store.inspection(iid)
            self.locks.hold(iid, seconds)
            return {"inspection_id": iid, "seconds": seconds, "locked": seconds > 0}

    # ----------------------------------------------------------------- control: a person

    def person_change(self, body: Any) -> tuple[int, dict]:
        """Create, change or delete an inspection as a person in Spectora would.

        Returns (status, flat inspection). Emits inspection.created / .updated /
        .deleted through `event_sink`.
        """
        with self.lock:
            return person.person_change(self, body)

    def set_report_status(self, rid: str, body: Any) -> dict:
        """Simulate an inspector writing (or clearing) a report."""
        with self.lock:
            return person.set_report_status(self, rid, body)

    # ----------------------------------------------------------------- office pages

    def render_index(self) -> bytes:
        with self.lock:
            return rendering.index_page(self.store)

    def render_inspection_page(self, iid: str) -> bytes | None:
        with self.lock:
            return rendering.inspection_page(self.store, iid)
