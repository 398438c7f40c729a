"""The sandbox company's data: catalogue, inspections and their children, id counters.

`Store` holds the rows and the indexes over them, hands out ids and `updated_at`
stamps, and turns itself into a JSON-ready snapshot and back. `StateFile` keeps
that snapshot on disk (written atomically), so a restarted sandbox carries on
where it stopped and never hands out an id twice.

Not thread-safe on its own: `SandboxState.lock` guards every call.
Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .responses import ApiError

FIRST_IDS = {"inspection": 1001, "assignment": 20001, "line_item": 40001, "report": 60001}
DEFAULT_DURATION = 120
REPORT_STATUSES = ("empty", "started", "published")

INSPECTORS = (
    ("insp-1", "Maria Lopez", "maria.lopez@example.com", True),
    ("insp-2", "James Carter", "james.carter@example.com", True),
    ("insp-3", "Priya Shah", "priya.shah@example.com", True),
    ("insp-4", "Tom Becker", "tom.becker@example.com", True),
    ("insp-5", "Dana Whitfield", "dana.whitfield@example.com", True),
)
SERVICES = (
    ("svc-1", "Full Home Inspection", "primary", 45000),
    ("svc-2", "Pre-Listing Inspection", "primary", 40000),
    ("svc-3", "New Construction Inspection", "primary", 52500),
    ("svc-4", "Condo/Townhome Inspection", "primary", 32500),
    ("svc-5", "Radon Test", "add_on", 15000),
    ("svc-6", "Termite/WDO Inspection", "add_on", 9500),
    ("svc-7", "Sewer Scope", "add_on", 17500),
    ("svc-8", "Mold Air Sampling", "add_on", 22500),
)
TEMPLATES = (
    ("tpl-1", "Residential Inspection Report"),
    ("tpl-2", "Radon Measurement Report"),
    ("tpl-3", "WDO Report (NPMA-33)"),
    ("tpl-4", "Sewer Scope Report"),
)

# Inspection attributes, in the order they are serialised (`url` is derived).
INSPECTION_ATTRIBUTES = (
    "external_ref",
    "datetime",
    "duration",
    "full_address",
    "client_name",
    "client_email",
    "notes",
    "canceled_at",
    "cancel_reason",
    "origin",
    "updated_at",
)

SNAPSHOT_FORMAT = 1


# --------------------------------------------------------------------------- time

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_us(us: int) -> str:
    """Microseconds since the epoch as ISO 8601 UTC: 2025-01-31T14:05:09.123456Z."""
    return (EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_us(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(microseconds=1)


def parse_iso(value: Any) -> datetime | None:
    """Parse an ISO 8601 date-time; None when it is not one."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def now_iso() -> str:
    return format_us(time.time_ns() // 1000)


# --------------------------------------------------------------------------- rows


@dataclass
class Assignment:
    id: str
    inspector_id: str
    primary: bool


@dataclass
class LineItem:
    id: str
    service_id: str
    name: str
    price_cents: int
    quantity: int


@dataclass
class Report:
    id: str
    template_id: str
    status: str = "empty"


@dataclass
class Inspection:
    id: str
    attrs: dict[str, Any]
    updated_us: int = 0
    assignments: dict[str, Assignment] = field(default_factory=dict)
    line_items: dict[str, LineItem] = field(default_factory=dict)
    reports: dict[str, Report] = field(default_factory=dict)


# --------------------------------------------------------------------------- the store


class Store:
    """One Spectora company's rows. Every change to an inspection ends with `touch`."""

    def __init__(self) -> None:
        self.inspectors = {i: {"name": n, "email": e, "active": a} for i, n, e, a in INSPECTORS}
        self.services = {i: {"name": n, "kind": k, "price_cents": p} for i, n, k, p in SERVICES}
        self.templates = {i: {"name": n} for i, n in TEMPLATES}
        self.next_ids = dict(FIRST_IDS)
        self.last_us = 0
        self.version = 0  # bumped on every change; tells the state file when to save
        self.clear(keep_ids=False)

    def clear(self, *, keep_ids: bool) -> None:
        """Forget every inspection. With `keep_ids`, ids and stamps carry on from here."""
        self.inspections: dict[str, Inspection] = {}
        self.by_ref: dict[str, str] = {}
        self.report_owner: dict[str, str] = {}
        if not keep_ids:
            self.next_ids = dict(FIRST_IDS)
            self.last_us = 0
        self.version += 1

    # ----------------------------------------------------------------- ids and stamps

    def new_id(self, kind: str) -> str:
        """The next id of `kind` (inspection, assignment, line_item, report)."""
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return str(value)

    def next_us(self) -> int:
        """A strictly increasing microsecond stamp, near the wall clock."""
        now = time.time_ns() // 1000
        self.last_us = max(now, self.last_us + 1)
        return self.last_us

    def touch(self, insp: Inspection) -> None:
        insp.updated_us = self.next_us()
        insp.attrs["updated_at"] = format_us(insp.updated_us)
        self.version += 1

    # ----------------------------------------------------------------- inspections

    def inspection(self, iid: str) -> Inspection:
        insp = self.inspections.get(iid)
        if insp is None:
            raise ApiError(404, "not_found", f"Inspection {iid} not found.")
        return insp

    def sorted_inspections(self) -> list[Inspection]:
        return sorted(self.inspections.values(), key=lambda i: int(i.id))

    def check_ref_free(self, ref: str | None, own_id: str | None) -> None:
        """409 `external_ref_taken`, naming the holder, when another inspection has `ref`."""
        if ref is None:
            return
        existing = self.by_ref.get(ref)
        if existing is not None and existing != own_id:
            raise ApiError(
                409,
                "external_ref_taken",
                f"external_ref {ref!r} is already used by inspection {existing}.",
                source={"pointer": "/data/attributes/external_ref"},
                meta={"existing_id": existing},
            )

    def set_ref(self, insp: Inspection, ref: str | None) -> None:
        old = insp.attrs.get("external_ref")
        if old is not None and self.by_ref.get(old) == insp.id:
            del self.by_ref[old]
        insp.attrs["external_ref"] = ref
        if ref is not None:
            self.by_ref[ref] = insp.id

    def new_inspection(self, clean: dict, origin: str) -> Inspection:
        """Create an inspection from validated attributes; it is touched."""
        iid = self.new_id("inspection")
        attrs: dict[str, Any] = {
            "external_ref": None,
            "datetime": None,
            "duration": DEFAULT_DURATION,
            "full_address": None,
            "client_name": None,
            "client_email": None,
            "notes": None,
            "canceled_at": None,
            "cancel_reason": None,
            "origin": origin,
            "updated_at": None,
        }
        insp = Inspection(iid, attrs)
        for key, value in clean.items():
            if key != "external_ref":
                attrs[key] = value
        self.set_ref(insp, clean.get("external_ref"))
        self.inspections[iid] = insp
        self.touch(insp)
        return insp

    def apply_attributes(self, insp: Inspection, clean: dict) -> bool:
        """Set validated attributes; True when any value changed (not touched here)."""
        changed = False
        for key, value in clean.items():
            if insp.attrs[key] == value:
                continue
            changed = True
            if key == "external_ref":
                self.set_ref(insp, value)
            else:
                insp.attrs[key] = value
        return changed

    def delete_inspection(self, insp: Inspection) -> None:
        """Remove an inspection and free its external_ref (its ids are never reused)."""
        self.touch(insp)
        self.set_ref(insp, None)
        del self.inspections[insp.id]
        for rid in insp.reports:
            self.report_owner.pop(rid, None)

    # ----------------------------------------------------------------- snapshots

    def snapshot(self) -> dict:
        """Everything needed to carry on after a restart, as JSON-ready values."""
        return {
            "next_ids": dict(self.next_ids),
            "last_us": self.last_us,
            "inspections": [
                {
                    "id": insp.id,
                    "attrs": dict(insp.attrs),
                    "updated_us": insp.updated_us,
                    "assignments": [vars(a).copy() for a in insp.assignments.values()],
                    "line_items": [vars(li).copy() for li in insp.line_items.values()],
                    "reports": [vars(r).copy() for r in insp.reports.values()],
                }
                for insp in self.sorted_inspections()
            ],
        }

    def restore(self, snapshot: dict) -> None:
        """Load a `snapshot()`; ids carry on past every id it holds. ValueError if malformed."""
        try:
            inspections = {}
            for row in snapshot["inspections"]:
                insp = Inspection(
                    str(row["id"]),
                    {name: row["attrs"][name] for name in INSPECTION_ATTRIBUTES},
                    int(row["updated_us"]),
                    {a["id"]: Assignment(**a) for a in row["assignments"]},
                    {li["id"]: LineItem(**li) for li in row["line_items"]},
                    {r["id"]: Report(**r) for r in row["reports"]},
                )
                inspections[insp.id] = insp
            next_ids = {kind: int(snapshot["next_ids"][kind]) for kind in FIRST_IDS}
            last_us = int(snapshot["last_us"])
        except (KeyError, TypeError, ValueError) as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise ValueError(f"not a sandbox state snapshot ({why})") from None
        for insp in inspections.values():
            # Never below an id in use, even if the counters were edited by hand.
            for kind, ids in (
                ("inspection", [insp.id]),
                ("assignment", insp.assignments),
                ("line_item", insp.line_items),
                ("report", insp.reports),
            ):
                for used in ids:
                    if used.isdigit():
                        next_ids[kind] = max(next_ids[kind], int(used) + 1)
            last_us = max(last_us, insp.updated_us)
        self.clear(keep_ids=False)
        self.next_ids = next_ids
        self.last_us = last_us
        self.inspections = inspections
        for insp in inspections.values():
            if insp.attrs["external_ref"] is not None:
                self.by_ref[insp.attrs["external_ref"]] = insp.id
            for rid in insp.reports:
                self.report_owner[rid] = insp.id


class StateFile:
    """A JSON file holding the sandbox's snapshot, replaced atomically on each save.

    A save writes a temporary file in the same folder and `os.replace`s it over
    the old one, so a reader (or a restart after a crash) sees either the old
    snapshot or the new one, never half of one. No fsync: the file survives the
    sandbox being stopped or killed, not the machine losing power, and a save
    stays cheap enough to make before every answer.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> dict | None:
        """The saved snapshot; None when there is no file yet. ValueError when unreadable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ValueError(f"cannot read {self.path}: {exc}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{self.path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"{self.path} is not a sandbox state file (format {SNAPSHOT_FORMAT})")
        return data

    def save(self, snapshot: dict) -> None:
        payload = json.dumps({"format": SNAPSHOT_FORMAT, **snapshot}, separators=(",", ":"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(payload)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

