"""`POST`, `PATCH` and `DELETE /v2/...`: inspections and their children, as the API changes them.

POST and PATCH handlers take the `SandboxState`, the ids from the path and the
parsed JSON body; DELETE handlers take the state and the ids. Each returns a
`Response` or raises `ApiError`. Writes to an inspection held by a Sync Lock
answer 423; writes to a canceled one answer 422 (cancel itself stays idempotent).
Standard library only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .rendering import child_resource, inspection_resource
from .responses import ApiError, Response, unprocessable
from .store import Assignment, Inspection, LineItem, Report
from .validation import (
    API_WRITABLE,
    bool_attribute,
    child_attributes,
    clean_attributes,
    line_item_values,
    resource_attributes,
)

if TYPE_CHECKING:
    from .state import SandboxState


def writable(state: SandboxState, iid: str, *, allow_canceled: bool = False) -> Inspection:
    """The inspection, if it exists, is not held by a Sync Lock and is not canceled."""
    insp = state.store.inspection(iid)
    state.locks.check(iid)
    if not allow_canceled and insp.attrs["canceled_at"] is not None:
        raise ApiError(
            422,
            "inspection_canceled",
            f"Inspection {iid} was canceled at {insp.attrs['canceled_at']}; "
            "it can no longer be changed.",
        )
    return insp


def service(state: SandboxState, service_id: Any, pointer: str) -> dict:
    """The catalogue row of a service; 422 `service_not_found` when there is none."""
    if not isinstance(service_id, str) or not service_id:
        raise unprocessable(pointer, "service_id is required")
    row = state.store.services.get(service_id)
    if row is None:
        raise unprocessable(
            pointer,
            f"Service {service_id} does not exist in this company.",
            "service_not_found",
        )
    return row


def _child(insp: Inspection, kind: str, cid: str) -> Any:
    child = getattr(insp, kind).get(cid)
    if child is None:
        label = kind[:-1].replace("_", " ")
        raise ApiError(404, "not_found", f"No {label} {cid} on inspection {insp.id}.")
    return child


def _created(kind: str, child: Any, insp: Inspection) -> Response:
    return Response(201, {"data": child_resource(kind, child, insp.id)})


# --------------------------------------------------------------------------- inspections


def create_inspection(state: SandboxState, body: Any) -> Response:
    attrs = resource_attributes(body, "inspections")
    clean = clean_attributes(
        attrs, creating=True, allowed=API_WRITABLE, prefix="/data/attributes"
    )
    state.store.check_ref_free(clean.get("external_ref"), None)
    insp = state.store.new_inspection(clean, "api")
    return Response(
        201,
        {"data": inspection_resource(insp, state.base_url)},
        {"Location": f"{state.base_url}/v2/inspections/{insp.id}"},
    )


def patch_inspection(state: SandboxState, iid: str, body: Any) -> Response:
    insp = writable(state, iid)
    attrs = resource_attributes(body, "inspections", expect_id=iid)
    clean = clean_attributes(
        attrs, creating=False, allowed=API_WRITABLE, prefix="/data/attributes"
    )
    if "external_ref" in clean:
        state.store.check_ref_free(clean["external_ref"], iid)
    if state.store.apply_attributes(insp, clean):
        state.store.touch(insp)
    return Response(200, {"data": inspection_resource(insp, state.base_url)})


def cancel_inspection(state: SandboxState, iid: str, body: Any) -> Response:
    insp = writable(state, iid, allow_canceled=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", 'Body must be a JSON object: {"reason": "..."}.')
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise unprocessable("/reason", "reason must be a string or null")
    if insp.attrs["canceled_at"] is None:
        state.store.touch(insp)
        insp.attrs["canceled_at"] = insp.attrs["updated_at"]
        insp.attrs["cancel_reason"] = reason
    return Response(200, {"data": inspection_resource(insp, state.base_url)})


# --------------------------------------------------------------------------- assignments


def _make_primary(insp: Inspection, aid: str) -> None:
    for other in insp.assignments.values():
        other.primary = other.id == aid


def add_assignment(state: SandboxState, iid: str, body: Any) -> Response:
    insp = writable(state, iid)
    attrs = child_attributes(body, "assignments", ("inspector_id", "primary"))
    inspector_id = attrs.get("inspector_id")
    if not isinstance(inspector_id, str) or not inspector_id:
        raise unprocessable("/data/attributes/inspector_id", "inspector_id is required")
    primary = bool_attribute(attrs, "primary", False)
    if inspector_id not in state.store.inspectors:
        raise unprocessable(
            "/data/attributes/inspector_id",
            f"Inspector {inspector_id} does not exist in this company.",
            "inspector_not_found",
        )
    for existing in insp.assignments.values():
        if existing.inspector_id == inspector_id:
            raise unprocessable(
                "/data/attributes/inspector_id",
                f"Inspector {inspector_id} is already assigned to inspection {iid} "
                f"(assignment {existing.id}).",
                "already_assigned",
            )
    aid = state.store.new_id("assignment")
    assignment = Assignment(aid, inspector_id, primary)
    insp.assignments[aid] = assignment
    if primary:
        _make_primary(insp, aid)
    state.store.touch(insp)
    return _created("assignments", assignment, insp)


def patch_assignment(state: SandboxState, iid: str, aid: str, body: Any) -> Response:
    insp = writable(state, iid)
    assignment = _child(insp, "assignments", aid)
    attrs = child_attributes(body, "assignments", ("primary",), expect_id=aid)
    if "primary" in attrs:
        primary = bool_attribute(attrs, "primary", assignment.primary)
        if primary != assignment.primary:
            if primary:
                _make_primary(insp, aid)
            else:
                assignment.primary = False
            state.store.touch(insp)
    return Response(200, {"data": child_resource("assignments", assignment, iid)})


def delete_assignment(state: SandboxState, iid: str, aid: str) -> Response:
    insp = writable(state, iid)
    _child(insp, "assignments", aid)
    del insp.assignments[aid]
    state.store.touch(insp)
    return Response(204)


# --------------------------------------------------------------------------- line items


def add_line_item(state: SandboxState, iid: str, body: Any) -> Response:
    insp = writable(state, iid)
    attrs = child_attributes(body, "line_items", ("service_id", "name", "price_cents", "quantity"))
    row = service(state, attrs.get("service_id"), "/data/attributes/service_id")
    values = line_item_values(attrs, "/data/attributes")
    lid = state.store.new_id("line_item")
    item = LineItem(
        lid,
        attrs["service_id"],
        values.get("name", row["name"]),
        values.get("price_cents", row["price_cents"]),
        values.get("quantity", 1),
    )
    insp.line_items[lid] = item
    state.store.touch(insp)
    return _created("line_items", item, insp)


def patch_line_item(state: SandboxState, iid: str, lid: str, body: Any) -> Response:
    insp = writable(state, iid)
    item = _child(insp, "line_items", lid)
    attrs = child_attributes(body, "line_items", ("name", "price_cents", "quantity"), lid)
    values = line_item_values(attrs, "/data/attributes")
    changed = False
    for key, value in values.items():
        if getattr(item, key) != value:
            setattr(item, key, value)
            changed = True
    if changed:
        state.store.touch(insp)
    return Response(200, {"data": child_resource("line_items", item, iid)})


def delete_line_item(state: SandboxState, iid: str, lid: str) -> Response:
    insp = writable(state, iid)
    _child(insp, "line_items", lid)
    del insp.line_items[lid]
    state.store.touch(insp)
    return Response(204)


# --------------------------------------------------------------------------- reports


def add_report(state: SandboxState, iid: str, body: Any) -> Response:
    insp = writable(state, iid)
    attrs = child_attributes(body, "reports", ("template_id",))
    template_id = attrs.get("template_id")
    pointer = "/data/attributes/template_id"
    if not isinstance(template_id, str) or not template_id:
        raise unprocessable(pointer, "template_id is required")
    if template_id not in state.store.templates:
        raise unprocessable(
            pointer, f"Template {template_id} does not exist.", "template_not_found"
        )
    for existing in insp.reports.values():
        if existing.template_id == template_id:
            raise unprocessable(
                pointer,
                f"Template {template_id} is already attached to inspection {iid} "
                f"(report {existing.id}).",
                "already_attached",
            )
    rid = state.store.new_id("report")
    report = Report(rid, template_id)
    insp.reports[rid] = report
    state.store.report_owner[rid] = iid
    state.store.touch(insp)
    return _created("reports", report, insp)


def delete_report(state: SandboxState, iid: str, rid: str) -> Response:
    insp = writable(state, iid)
    report = _child(insp, "reports", rid)
    if report.status != "empty":
        raise ApiError(
            422,
            "report_has_content",
            f"Report {rid} is {report.status}; only empty reports can be removed.",
        )
    del insp.reports[rid]
    state.store.report_owner.pop(rid, None)
    state.store.touch(insp)
    return Response(204)
