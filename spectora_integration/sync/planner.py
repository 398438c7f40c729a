"""Desired state from the workorder, actual state from Spectora, and the diff between them.

The plan is a list of explicit operations. Nothing here does I/O: the executor
applies a plan, Preview shows one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from spectora_integration.client import Inspection, parse_time


class Op(StrEnum):
    """What an operation does; a str, so plans serialize as the plain names."""

    CREATE_INSPECTION = "create_inspection"
    PATCH_INSPECTION = "patch_inspection"
    ADD_ASSIGNMENT = "add_assignment"
    REMOVE_ASSIGNMENT = "remove_assignment"
    SET_PRIMARY = "set_primary"
    ADD_LINE_ITEM = "add_line_item"
    UPDATE_LINE_ITEM = "update_line_item"
    REMOVE_LINE_ITEM = "remove_line_item"
    ADD_REPORT = "add_report"
    REMOVE_REPORT = "remove_report"
    KEEP_REPORT = "keep_report"  # not an API call: a report with content is never removed


CHILD_KIND = {  # the Spectora collection each child operation writes to
    Op.ADD_ASSIGNMENT: "assignments",
    Op.REMOVE_ASSIGNMENT: "assignments",
    Op.SET_PRIMARY: "assignments",
    Op.ADD_LINE_ITEM: "line_items",
    Op.UPDATE_LINE_ITEM: "line_items",
    Op.REMOVE_LINE_ITEM: "line_items",
    Op.ADD_REPORT: "reports",
    Op.REMOVE_REPORT: "reports",
}


@dataclass(frozen=True)
class DesiredLineItem:
    service_id: str
    name: str
    price_cents: int
    quantity: int

    def attributes(self) -> dict:
        return {
            "service_id": self.service_id, "name": self.name,
            "price_cents": self.price_cents, "quantity": self.quantity,
        }


@dataclass(frozen=True)
class Desired:
    external_ref: str
    attributes: dict[str, Any]
    assignments: dict[str, bool]  # inspector id -> primary
    line_items: list[DesiredLineItem]
    template_ids: list[str]

    def fingerprint(self) -> str:
        payload = {
            "attributes": self.attributes, "assignments": self.assignments,
            "line_items": [li.attributes() for li in self.line_items],
            "templates": self.template_ids,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Operation:
    op: Op
    description: str
    attributes: dict[str, Any] = field(default_factory=dict)
    target_id: str | None = None  # the child's id in Spectora, for changes and removals

    @property
    def is_write(self) -> bool:
        return self.op != Op.KEEP_REPORT

    def as_dict(self) -> dict:
        return {
            "op": str(self.op), "description": self.description, "target_id": self.target_id,
            "attributes": self.attributes,
        }


def external_ref_for(workorder) -> str:
    return f"attik-{workorder.company_id}-{workorder.pk}"


def desired_state(workorder) -> Desired:
    """What Spectora should hold for this workorder (its children prefetched or not)."""
    attributes = {
        "external_ref": external_ref_for(workorder),
        "datetime": workorder.scheduled_at.isoformat(),
        "duration": workorder.duration_minutes,
        "full_address": workorder.address,
        "client_name": workorder.client_name,
        "client_email": workorder.client_email,
        "notes": workorder.notes,
    }
    assignments = {
        a.employee.spectora_inspector_id: a.primary for a in workorder.assignments.all()
    }
    line_items, templates = [], []
    for item in workorder.line_items.all():
        service = item.service
        line_items.append(
            DesiredLineItem(service.spectora_service_id, service.name, item.price_cents,
                            item.quantity)
        )
        for report_type in service.report_types.all():
            if report_type.spectora_template_id not in templates:
                templates.append(report_type.spectora_template_id)
    return Desired(
        external_ref=attributes["external_ref"],
        attributes=attributes,
        assignments=assignments,
        line_items=line_items,
        template_ids=templates,
    )


def _same(key: str, wanted: Any, actual: Any) -> bool:
    if key == "datetime":
        actual_time = parse_time(actual) if isinstance(actual, str) else actual
        wanted_time = datetime.fromisoformat(wanted) if isinstance(wanted, str) else wanted
        return actual_time == wanted_time
    return (wanted or "") == (actual or "") if isinstance(wanted, str) else wanted == actual


def attributes_differ(wanted: dict[str, Any], actual: Inspection) -> list[str]:
    """The job attributes of ``wanted`` that ``actual`` does not hold."""
    return sorted(k for k, v in wanted.items()
                  if k != "external_ref" and not _same(k, v, actual[k]))


def plan_sync(
    desired: Desired, actual: Inspection | None, *, force: bool = False
) -> list[Operation]:
    """The operations that make ``actual`` equal ``desired``; ``force`` re-sends everything."""
    if actual is None:
        return _plan_create(desired)
    ops: list[Operation] = []
    changed = {
        k: v for k, v in desired.attributes.items()
        if k != "external_ref" and (force or not _same(k, v, actual[k]))
    }
    if changed:
        ops.append(Operation(
            Op.PATCH_INSPECTION, f"Update {', '.join(sorted(changed))}", attributes=changed,
        ))
    ops += _plan_assignments(desired, actual, force)
    ops += _plan_line_items(desired, actual, force)
    ops += _plan_reports(desired, actual)
    return ops


def _plan_create(desired: Desired) -> list[Operation]:
    ops = [Operation(Op.CREATE_INSPECTION, "Create the Spectora job", dict(desired.attributes))]
    for inspector_id, primary in _primary_first(desired.assignments):
        ops.append(_add_assignment(inspector_id, primary))
    for item in desired.line_items:
        ops.append(Operation(Op.ADD_LINE_ITEM, f"Add line item {item.name}", item.attributes()))
    for template_id in desired.template_ids:
        ops.append(Operation(Op.ADD_REPORT, f"Attach report {template_id}",
                             {"template_id": template_id}))
    return ops


def _primary_first(assignments: dict[str, bool]):
    return sorted(assignments.items(), key=lambda kv: not kv[1])


def _add_assignment(inspector_id: str, primary: bool) -> Operation:
    role = " as primary" if primary else ""
    return Operation(Op.ADD_ASSIGNMENT, f"Assign inspector {inspector_id}{role}",
                     {"inspector_id": inspector_id, "primary": primary})


def _plan_assignments(desired: Desired, actual: Inspection, force: bool) -> list[Operation]:
    ops = []
    remote = {a["inspector_id"]: a for a in actual.assignments}
    for inspector_id, assignment in remote.items():
        if inspector_id not in desired.assignments:
            ops.append(Operation(Op.REMOVE_ASSIGNMENT, f"Unassign inspector {inspector_id}",
                                 target_id=assignment.id))
    # Add before changing primaries, the primary first, so Spectora always has one.
    for inspector_id, primary in _primary_first(desired.assignments):
        assignment = remote.get(inspector_id)
        if assignment is None:
            ops.append(_add_assignment(inspector_id, primary))
        elif force or bool(assignment["primary"]) != primary:
            text = "primary" if primary else "not primary"
            ops.append(Operation(Op.SET_PRIMARY, f"Make inspector {inspector_id} {text}",
                                 {"primary": primary}, target_id=assignment.id))
    return ops


def _plan_line_items(desired: Desired, actual: Inspection, force: bool) -> list[Operation]:
    ops = []
    remaining: dict[str, list] = {}
    for item in sorted(actual.line_items, key=lambda r: int(r.id) if r.id.isdigit() else 0):
        remaining.setdefault(str(item["service_id"]), []).append(item)
    for wanted in desired.line_items:
        candidates = remaining.get(wanted.service_id) or []
        if not candidates:
            ops.append(Operation(Op.ADD_LINE_ITEM, f"Add line item {wanted.name}",
                                 wanted.attributes()))
            continue
        # Prefer an exact match so a reorder never turns into needless changes.
        match = next(
            (c for c in candidates if _line_item_differences(wanted, c) == {}), candidates[0]
        )
        candidates.remove(match)
        differences = _line_item_differences(wanted, match)
        if force or differences:
            attributes = wanted.attributes() if force else differences
            attributes.pop("service_id", None)
            ops.append(Operation(Op.UPDATE_LINE_ITEM, f"Update line item {wanted.name}",
                                 attributes, target_id=match.id))
    for leftovers in remaining.values():
        for item in leftovers:
            ops.append(Operation(Op.REMOVE_LINE_ITEM, f"Remove line item {item['name']}",
                                 target_id=item.id))
    return ops


def _line_item_differences(wanted: DesiredLineItem, remote) -> dict:
    return {
        k: v for k, v in wanted.attributes().items()
        if k != "service_id" and remote[k] != v
    }


def _plan_reports(desired: Desired, actual: Inspection) -> list[Operation]:
    ops = []
    remote_templates = set()
    for report in actual.reports:
        template_id = str(report["template_id"])
        if template_id in remote_templates or template_id not in desired.template_ids:
            if (report["status"] or "empty") == "empty":
                ops.append(Operation(Op.REMOVE_REPORT, f"Detach report {template_id}",
                                     target_id=report.id))
            else:
                ops.append(Operation(
                    Op.KEEP_REPORT,
                    f"Report {template_id} is no longer on the workorder but already has "
                    f"content ({report['status']}) in Spectora, so it was kept.",
                    target_id=report.id,
                ))
        remote_templates.add(template_id)
    for template_id in desired.template_ids:
        if template_id not in remote_templates:
            ops.append(Operation(Op.ADD_REPORT, f"Attach report {template_id}",
                                 {"template_id": template_id}))
    return ops
