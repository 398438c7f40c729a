"""The sandbox's Spectora company behind one lock, and the file that keeps it across restarts.

`SandboxState` ties the parts together: the rows (`store.Store`), the `/v2/` API
(`routes`), what a person does in Spectora (`person`), the fault knobs
(`faults`) and the pages (`rendering`). Nothing in here speaks HTTP:
`handle_api` takes a method, a request target, headers and the raw body and
returns a `Response`; the control operations behind `/_sandbox/` take parsed
JSON and raise `ApiError`.

One re-entrant lock guards everything, so each call sees and leaves a consistent
state. With a state file, every call that changed the rows saves them (atomically)
before it answers, so an id the sandbox has handed out is on disk before anyone
can hold it, and a restart never hands it out again. Standard library only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from . import person, rendering
from .faults import Faults, RateLimit, SyncLocks, parse_lock
from .responses import Response
from .routes import API_KEY, IdempotencyStore, answer_api, new_request_log
from .store import Inspection, StateFile, Store

__all__ = ["API_KEY", "SandboxState"]


class SandboxState:
    """One Spectora company, its API semantics and the sandbox's control knobs."""

    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        base_url: str = "http://127.0.0.1:8100",
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        """Start empty, or from `state_file` when it exists (ValueError when unreadable)."""
        self.lock = threading.RLock()
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        # Called as event_sink(event_type, inspection_id, updated_at) for changes
        # made through the control endpoints; the server wires webhooks to it.
        self.event_sink: Callable[[str, str, str], None] | None = None
        self.store = Store()
        self.idempotency = IdempotencyStore()
        self.state_file = StateFile(state_file) if state_file is not None else None
        self._saved_mark: tuple[int, int] | None = None
        self._clear_knobs()
        if self.state_file is not None:
            snapshot = self.state_file.load()
            if snapshot is not None:
                self.store.restore(snapshot)
                self.idempotency.restore(snapshot.get("idempotency", []))
            self._save_if_changed()

    # ----------------------------------------------------------------- lifecycle

    def reset(self, seed: int | None = None) -> None:
        """Back to the starting company; faults, limits, locks and log cleared.

        With a state file the id counters carry on instead of starting again, so
        no id handed out before the reset is ever handed out again.
        """
        with self.lock:
            self.store.clear(keep_ids=self.state_file is not None)
            self.idempotency.clear()
            self._clear_knobs(seed)
            self._save_if_changed()

    def _clear_knobs(self, seed: int | None = None) -> None:
        self.request_log = new_request_log()
        self.faults = Faults(seed)
        self.rate_limit = RateLimit()
        self.locks = SyncLocks()

    def snapshot(self) -> dict:
        """What the state file holds: the rows, the id counters and stored POST answers."""
        with self.lock:
            return {**self.store.snapshot(), "idempotency": self.idempotency.snapshot()}

    def _save_if_changed(self) -> None:
        if self.state_file is None:
            return
        mark = (self.store.version, self.idempotency.version)
        if mark != self._saved_mark:
            self.state_file.save(self.snapshot())
            self._saved_mark = mark

    # ----------------------------------------------------------------- the API

    def handle_api(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> Response:
        """Answer one `/v2/` request (auth, rate limit, faults, idempotency, route)."""
        parts = urlsplit(target)
        lowered = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            resp = answer_api(self, method.upper(), parts.path, parts.query, lowered, body)
            self._save_if_changed()
        return resp

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
            try:
                return person.person_change(self, body)
            finally:
                self._save_if_changed()

    def set_report_status(self, rid: str, body: Any) -> dict:
        """Simulate an inspector writing (or clearing) a report."""
        with self.lock:
            try:
                return person.set_report_status(self, rid, body)
            finally:
                self._save_if_changed()

    # ----------------------------------------------------------------- office pages

    def render_index(self) -> bytes:
        with self.lock:
            return rendering.index_page(self.store)

    def render_inspection_page(self, iid: str) -> bytes | None:
        with self.lock:
            return rendering.inspection_page(self.store, iid)
