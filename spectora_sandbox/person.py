"""Changes a person makes in Spectora's own app, not through the API.

`POST /_sandbox/inspections` creates, changes or deletes an inspection (origin
`spectora` when created here) and `POST /_sandbox/reports/{id}` writes a report;
both send the webhook a real Spectora would. The caller (`SandboxState`) holds
the lock. Standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .rendering import flat
from .responses import ApiError, field_error, unprocessable
from .store import REPORT_STATUSES, Assignment, Inspection, LineItem, Report
from .validation import PERSON_WRITABLE, clean_attributes, is_int, line_item_values, object_body
from .writes import service

if TYPE_CHECKING:
    from .state import SandboxState

KNOWN_MEMBERS = {"id", "attributes", "assignments", "line_items", "reports", "delete"}


def person_change(state: SandboxState, body: Any) -> tuple[int, dict]:
    """Create, change or delete an inspection as a person in Spectora would.

    Returns (status, flat inspection). Emits inspection.created / .updated /
    .deleted through the state's `event_sink`.
    """
    body = object_body(body)
    unknown = sorted(set(body) - KNOWN_MEMBERS)
    if unknown:
        raise ApiError.many(
            422, [field_error(f"/{k}", f"{k} is not a known member") for k in unknown]
        )
    iid = body.get("id")
    if is_int(iid):
        iid = str(iid)
    if iid is not None and (not isinstance(iid, str) or not iid):
        raise unprocessable("/id", "id must be a string")
    delete = body.get("delete", False)
    if not isinstance(delete, bool):
        raise unprocessable("/delete", "delete must be true or false")
    attrs = body.get("attributes", {})
    if attrs is None:
        attrs = {}
    if not isinstance(attrs, dict):
        raise unprocessable("/attributes", "attributes must be an object")

    store = state.store
    if delete:
        if iid is None:
            raise unprocessable("/id", "id is required to delete")
        insp = store.inspection(iid)
        store.delete_inspection(insp)
        state.locks.release(iid)
        state.emit("inspection.deleted", insp)
        out = flat(insp, state.base_url)
        out["deleted"] = True
        return 200, out

    insp = None if iid is None else store.inspection(iid)
    clean = clean_attributes(
        attrs, creating=insp is None, allowed=PERSON_WRITABLE, prefix="/attributes"
    )
    if "external_ref" in clean:
        store.check_ref_free(clean["external_ref"], iid)
    assignments = _assignments(state, body["assignments"]) if "assignments" in body else None
    line_items = _line_items(state, body["line_items"], insp) if "line_items" in body else None
    reports = _reports(state, body["reports"]) if "reports" in body else None

    # Everything validated: apply.
    if insp is None:
        insp = store.new_inspection(clean, "spectora")
        status, event = 201, "inspection.created"
    else:
        store.apply_attributes(insp, clean)
        status, event = 200, "inspection.updated"
    if assignments is not None:
        _replace_assignments(state, insp, assignments)
    if line_items is not None:
        _replace_line_items(state, insp, line_items)
    if reports is not None:
        _replace_reports(state, insp, reports)
    store.touch(insp)
    state.emit(event, insp)
    return status, flat(insp, state.base_url)


def set_report_status(state: SandboxState, rid: str, body: Any) -> dict:
    """Simulate an inspector writing (or clearing) a report; sends `inspection.updated`."""
    body = object_body(body)
    status = body.get("status")
    if status not in REPORT_STATUSES:
        raise unprocessable("/status", f"status must be one of {', '.join(REPORT_STATUSES)}")
    iid = state.store.report_owner.get(rid)
    insp = state.store.inspections.get(iid) if iid is not None else None
    if insp is None or rid not in insp.reports:
        raise ApiError(404, "not_found", f"Report {rid} not found.")
    report = insp.reports[rid]
    report.status = status
    state.store.touch(insp)
    state.emit("inspection.updated", insp)
    return {
        "id": rid,
        "template_id": report.template_id,
        "status": status,
        "inspection_id": iid,
        "updated_at": insp.attrs["updated_at"],
    }


# --------------------------------------------------------------------------- validation


def _assignments(state: SandboxState, items: Any) -> list[tuple[str, bool]]:
    if not isinstance(items, list):
        raise unprocessable("/assignments", "assignments must be a list")
    out: list[tuple[str, bool]] = []
    for n, item in enumerate(items):
        p = f"/assignments/{n}"
        if not isinstance(item, dict):
            raise unprocessable(p, "each assignment must be an object")
        inspector_id = item.get("inspector_id")
        if inspector_id not in state.store.inspectors:
            raise unprocessable(
                f"{p}/inspector_id",
                f"Inspector {inspector_id} does not exist in this company.",
                "inspector_not_found",
            )
        if any(i == inspector_id for i, _ in out):
            raise unprocessable(
                f"{p}/inspector_id",
                f"Inspector {inspector_id} is listed twice.",
                "already_assigned",
            )
        primary = item.get("primary", False)
        if not isinstance(primary, bool):
            raise unprocessable(f"{p}/primary", "primary must be true or false")
        out.append((inspector_id, primary))
    if sum(1 for _, primary in out if primary) > 1:
        raise unprocessable("/assignments", "at most one assignment can be primary")
    return out


def _line_items(state: SandboxState, items: Any, insp: Inspection | None) -> list[dict]:
    if not isinstance(items, list):
        raise unprocessable("/line_items", "line_items must be a list")
    out = []
    for n, item in enumerate(items):
        p = f"/line_items/{n}"
        if not isinstance(item, dict):
            raise unprocessable(p, "each line item must be an object")
        existing = None
        if item.get("id") is not None:
            lid = str(item["id"])
            existing = insp.line_items.get(lid) if insp is not None else None
            if existing is None:
                raise unprocessable(f"{p}/id", f"No line item {lid} on this inspection")
        service_id = item.get("service_id", existing.service_id if existing else None)
        row = service(state, service_id, f"{p}/service_id")
        values = line_item_values(item, p)
        spec = {
            "id": existing.id if existing else None,
            "service_id": service_id,
            "name": values.get("name", existing.name if existing else row["name"]),
            "price_cents": values.get(
                "price_cents", existing.price_cents if existing else row["price_cents"]
            ),
            "quantity": values.get("quantity", existing.quantity if existing else 1),
        }
        out.append(spec)
    return out


def _reports(state: SandboxState, items: Any) -> list[tuple[str, str | None]]:
    if not isinstance(items, list):
        raise unprocessable("/reports", "reports must be a list")
    out: list[tuple[str, str | None]] = []
    for n, item in enumerate(items):
        p = f"/reports/{n}"
        if not isinstance(item, dict):
            raise unprocessable(p, "each report must be an object")
        template_id = item.get("template_id")
        if template_id not in state.store.templates:
            raise unprocessable(
                f"{p}/template_id",
                f"Template {template_id} does not exist.",
                "template_not_found",
            )
        if any(t == template_id for t, _ in out):
            raise unprocessable(
                f"{p}/template_id",
                f"Template {template_id} is listed twice.",
                "already_attached",
            )
        status = item.get("status")
        if status is not None and status not in REPORT_STATUSES:
            raise unprocessable(
                f"{p}/status", f"status must be one of {', '.join(REPORT_STATUSES)}"
            )
        out.append((template_id, status))
    return out


# --------------------------------------------------------------------------- apply


def _replace_assignments(
    state: SandboxState, insp: Inspection, specs: list[tuple[str, bool]]
) -> None:
    by_inspector = {a.inspector_id: a for a in insp.assignments.values()}
    new: dict[str, Assignment] = {}
    for inspector_id, primary in specs:
        assignment = by_inspector.get(inspector_id)
        if assignment is None:
            assignment = Assignment(state.store.new_id("assignment"), inspector_id, primary)
        assignment.primary = primary
        new[assignment.id] = assignment
    insp.assignments = new


def _replace_line_items(state: SandboxState, insp: Inspection, specs: list[dict]) -> None:
    new: dict[str, LineItem] = {}
    for spec in specs:
        lid = spec["id"]
        if lid is None:
            lid = state.store.new_id("line_item")
        new[lid] = LineItem(
            lid, spec["service_id"], spec["name"], spec["price_cents"], spec["quantity"]
        )
    insp.line_items = new


def _replace_reports(
    state: SandboxState, insp: Inspection, specs: list[tuple[str, str | None]]
) -> None:
    by_template = {r.template_id: r for r in insp.reports.values()}
    new: dict[str, Report] = {}
    for template_id, status in specs:
        report = by_template.get(template_id)
        if report is None:
            report = Report(state.store.new_id("report"), template_id)
        if status is not None:
            report.status = status
        new[report.id] = report
    for rid in insp.reports:
        if rid not in new:
            state.store.report_owner.pop(rid, None)
    for rid in new:
        state.store.report_owner[rid] = insp.id
    insp.reports = new
