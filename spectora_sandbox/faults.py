"""What can go wrong on purpose: fault rules, the rate limit and Sync Locks.

- `Faults`: rules set with `POST /_sandbox/faults` that answer an error, time out
  (hang up without answering) or apply the change and then answer an error.
- `RateLimit`: a token bucket set with `POST /_sandbox/rate_limit`; excess is 429
  with `Retry-After`.
- `SyncLocks`: inspections a "mobile app" holds (`POST /_sandbox/lock`); writes to
  them answer 423 `inspection_locked` with `Retry-After`.

None of these survive a restart or a reset. Not thread-safe on their own:
`SandboxState.lock` guards every call. Standard library only.
"""

from __future__ import annotations

import fnmatch
import math
import random
import time
from dataclasses import dataclass
from typing import Any

from .responses import ApiError, Response, unprocessable
from .validation import is_int, is_number, object_body

FAULT_MODES = ("error", "timeout", "applied_then_error")
DEFAULT_TIMEOUT_DELAY_MS = 10_000
FAULT_CODES = {
    423: "inspection_locked",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


# --------------------------------------------------------------------------- faults


@dataclass
class FaultRule:
    method: str
    path: str
    mode: str
    status: int
    rate: float
    times: int | None
    delay_ms: float
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method != method:
            return False
        return fnmatch.fnmatchcase(path, self.path)

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "path": self.path,
            "mode": self.mode,
            "status": self.status,
            "rate": self.rate,
            "times": self.times,
            "delay_ms": self.delay_ms,
            "fired": self.fired,
        }

    def response(self) -> Response:
        """The error answer this rule gives (after `delay_ms` in `error` mode)."""
        code = FAULT_CODES.get(self.status, "injected_fault")
        headers = {"Retry-After": "1"} if self.status in (423, 429, 503) else {}
        err = ApiError(
            self.status,
            code,
            f"Injected fault ({self.mode} on {self.method} {self.path}).",
            headers=headers,
        )
        resp = err.response()
        if self.mode == "error":
            resp.delay_s = self.delay_ms / 1000.0
        return resp


def parse_rule(n: int, raw: Any) -> FaultRule:
    p = f"/rules/{n}"
    if not isinstance(raw, dict):
        raise unprocessable(p, "each rule must be an object")
    mode = raw.get("mode", "error")
    if mode not in FAULT_MODES:
        raise unprocessable(f"{p}/mode", f"mode must be one of {', '.join(FAULT_MODES)}")
    method = raw.get("method", "*")
    if not isinstance(method, str) or not method:
        raise unprocessable(f"{p}/method", "method must be an HTTP method or '*'")
    path = raw.get("path", "*")
    if not isinstance(path, str) or not path:
        raise unprocessable(f"{p}/path", "path must be a glob such as /v2/inspections*")
    default_status = 500 if mode == "applied_then_error" else 503
    status = raw.get("status")
    if status is None:
        status = default_status
    if not is_int(status) or not 400 <= status <= 599:
        raise unprocessable(f"{p}/status", "status must be an integer from 400 to 599")
    rate = raw.get("rate")
    if rate is None:
        rate = 1.0
    if not is_number(rate) or not 0 <= rate <= 1:
        raise unprocessable(f"{p}/rate", "rate must be a number from 0 to 1")
    times = raw.get("times")
    if times is not None and (not is_int(times) or times < 0):
        raise unprocessable(f"{p}/times", "times must be null or an integer >= 0")
    delay_ms = raw.get("delay_ms")
    if delay_ms is None:
        delay_ms = DEFAULT_TIMEOUT_DELAY_MS if mode == "timeout" else 0
    if not is_number(delay_ms) or delay_ms < 0:
        raise unprocessable(f"{p}/delay_ms", "delay_ms must be a number >= 0")
    return FaultRule(method.upper(), path, mode, status, float(rate), times, delay_ms)


class Faults:
    """The current fault rules; the first rule that matches and fires wins."""

    def __init__(self, seed: int | None = None) -> None:
        self.rules: list[FaultRule] = []
        self.rng = random.Random(seed)

    def configure(self, body: Any) -> dict:
        """Replace the rules (`{"rules": [...], "seed"?: int}`); returns `config()`."""
        body = object_body(body)
        rules_in = body.get("rules", [])
        if not isinstance(rules_in, list):
            raise unprocessable("/rules", "rules must be a list")
        seed = body.get("seed")
        if seed is not None and not is_int(seed):
            raise unprocessable("/seed", "seed must be an integer or null")
        self.rules = [parse_rule(n, raw) for n, raw in enumerate(rules_in)]
        if seed is not None:
            self.rng = random.Random(seed)
        return self.config()

    def config(self) -> dict:
        return {"rules": [r.as_dict() for r in self.rules]}

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires for this call, counted as fired; None when none does."""
        for rule in self.rules:
            if not rule.matches(method, path):
                continue
            if rule.times is not None and rule.fired >= rule.times:
                continue
            if rule.rate < 1.0 and self.rng.random() >= rule.rate:
                continue
            rule.fired += 1
            return rule
        return None


# --------------------------------------------------------------------------- rate limit


class RateLimit:
    """A token bucket over every `/v2/` call with a valid key; off until configured."""

    def __init__(self) -> None:
        self.per_second: float | None = None
        self.burst: float = 0.0
        self._tokens = 0.0
        self._tokens_at = time.monotonic()

    def configure(self, body: Any) -> dict:
        """`{"per_second": n or null, "burst"?: n}`; null turns the limit off."""
        body = object_body(body)
        per_second = body.get("per_second")
        if per_second is None:
            self.per_second = None
            return self.config()
        if not is_number(per_second) or per_second <= 0:
            raise unprocessable("/per_second", "per_second must be a positive number or null")
        burst = body.get("burst", per_second)
        if burst is None:
            burst = per_second
        if not is_number(burst) or burst < 1:
            raise unprocessable("/burst", "burst must be a number >= 1")
        self.per_second = float(per_second)
        self.burst = float(burst)
        self._tokens = float(burst)
        self._tokens_at = time.monotonic()
        return self.config()

    def config(self) -> dict:
        if self.per_second is None:
            return {"per_second": None, "burst": None}
        return {"per_second": self.per_second, "burst": self.burst}

    def take(self) -> Response | None:
        """None when the call may go on; a 429 answer when the bucket is empty."""
        rate = self.per_second
        if rate is None:
            return None
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        retry_after = max(1, math.ceil((1.0 - self._tokens) / rate))
        return ApiError(
            429,
            "rate_limited",
            f"Rate limit of {rate:g} requests per second exceeded; retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        ).response()


# --------------------------------------------------------------------------- Sync Locks


def parse_lock(body: Any) -> tuple[str, float]:
    """(inspection id, seconds) from `{"inspection_id": ..., "seconds"?: 10}`."""
    body = object_body(body)
    iid = body.get("inspection_id")
    if is_int(iid):
        iid = str(iid)
    if not isinstance(iid, str) or not iid:
        raise unprocessable("/inspection_id", "inspection_id is required")
    seconds = body.get("seconds", 10)
    if not is_number(seconds) or seconds < 0:
        raise unprocessable("/seconds", "seconds must be a number >= 0")
    return iid, seconds


class SyncLocks:
    """Inspections held by a mobile app's Sync Lock, each until a monotonic deadline."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def hold(self, iid: str, seconds: float) -> None:
        """Hold `iid` for `seconds` from now; 0 releases it."""
        if seconds == 0:
            self._until.pop(iid, None)
        else:
            self._until[iid] = time.monotonic() + float(seconds)

    def release(self, iid: str) -> None:
        self._until.pop(iid, None)

    def check(self, iid: str) -> None:
        """423 `inspection_locked` with `Retry-After` while `iid` is held."""
        until = self._until.get(iid)
        if until is None:
            return
        remaining = until - time.monotonic()
        if remaining <= 0:
            del self._until[iid]
            return
        raise ApiError(
            423,
            "inspection_locked",
            f"Inspection {iid} is held by a mobile app's Sync Lock; retry later.",
            headers={"Retry-After": str(max(1, math.ceil(remaining)))},
        )
