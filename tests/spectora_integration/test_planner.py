"""The planner, table-driven: desired state vs one read of the Spectora job -> operations.

No database and no HTTP: each case is a Desired (what the workorder says), an Inspection
(what Spectora holds, or None) and the exact plan expected, in order.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from spectora_integration.client import Inspection, Resource
from spectora_integration.sync.planner import (
    CHILD_KIND,
    Desired,
    DesiredLineItem,
    Op,
    Operation,
    plan_sync,
)

ATTRIBUTES = {
    "external_ref": "attik-1-7",
    "datetime": "2026-12-03T14:00:00+00:00",
    "duration": 180,
    "full_address": "12 Maple Ave",
    "client_name": "Avery Johnson",
    "client_email": "avery@example.com",
    "notes": "",
}
HOME = DesiredLineItem("svc-1", "Full Home Inspection", 45000, 1)
RADON = DesiredLineItem("svc-5", "Radon Test", 15000, 1)
DESIRED = Desired(
    external_ref="attik-1-7",
    attributes=ATTRIBUTES,
    assignments={"insp-1": True, "insp-2": False},
    line_items=[HOME, RADON],
    template_ids=["tpl-1", "tpl-2"],
)


def wanted(**changes) -> Desired:
    attributes = {**ATTRIBUTES, **changes.pop("attributes", {})}
    return replace(DESIRED, attributes=attributes, **changes)


def remote(desired: Desired = DESIRED, *, attributes=None, assignments=None, line_items=None,
           reports=None) -> Inspection:
    """Spectora's job as one GET returns it; by default exactly what ``desired`` asks."""
    if assignments is None:
        assignments = [(f"a-{i}", inspector, primary)
                       for i, (inspector, primary) in enumerate(desired.assignments.items(), 1)]
    if line_items is None:
        line_items = [(f"l-{i}", item) for i, item in enumerate(desired.line_items, 1)]
    if reports is None:
        reports = [(f"r-{i}", template, "empty")
                   for i, template in enumerate(desired.template_ids, 1)]
    return Inspection(
        id="9001",
        attributes={**desired.attributes, "origin": "api", "canceled_at": None,
                    "cancel_reason": None, "updated_at": "2026-12-01T10:00:00Z",
                    "url": "https://spectora.example/inspections/9001",
                    **(attributes or {})},
        assignments=[Resource("assignments", aid, {"inspector_id": inspector, "primary": primary})
                     for aid, inspector, primary in assignments],
        line_items=[Resource("line_items", lid, item.attributes()) for lid, item in line_items],
        reports=[Resource("reports", rid, {"template_id": template, "status": status})
                 for rid, template, status in reports],
    )


def op(kind: Op, target_id=None, **attributes) -> tuple:
    return (kind, target_id, attributes)


def plan(desired: Desired, actual: Inspection | None, force: bool = False) -> list[tuple]:
    return [(o.op, o.target_id, o.attributes) for o in plan_sync(desired, actual, force=force)]


CASES = {
    # ------------------------------------------------------------------ create
    "no job yet: create it, then the primary, the others, line items, reports": (
        wanted(assignments={"insp-2": False, "insp-1": True}), None, False, [
            op(Op.CREATE_INSPECTION, **ATTRIBUTES),
            op(Op.ADD_ASSIGNMENT, inspector_id="insp-1", primary=True),
            op(Op.ADD_ASSIGNMENT, inspector_id="insp-2", primary=False),
            op(Op.ADD_LINE_ITEM, **HOME.attributes()),
            op(Op.ADD_LINE_ITEM, **RADON.attributes()),
            op(Op.ADD_REPORT, template_id="tpl-1"),
            op(Op.ADD_REPORT, template_id="tpl-2"),
        ],
    ),
    "no job yet and forced: the same create": (
        wanted(assignments={"insp-1": True}, line_items=[], template_ids=[]), None, True, [
            op(Op.CREATE_INSPECTION, **ATTRIBUTES),
            op(Op.ADD_ASSIGNMENT, inspector_id="insp-1", primary=True),
        ],
    ),
    # ------------------------------------------------------------------ no-op
    "Spectora already matches: nothing": (DESIRED, remote(), False, []),
    "same instant in another notation, None for an empty text: nothing": (
        DESIRED, remote(attributes={"datetime": "2026-12-03T09:00:00-05:00", "notes": None}),
        False, [],
    ),
    "line items and reports in another order: nothing": (
        DESIRED,
        remote(line_items=[("l-1", RADON), ("l-2", HOME)],
               reports=[("r-1", "tpl-2", "empty"), ("r-2", "tpl-1", "published")]),
        False, [],
    ),
    # ------------------------------------------------------------------ scalars
    "one scalar changed: one patch with only it": (
        wanted(attributes={"client_name": "Blake Carter"}), remote(), False,
        [op(Op.PATCH_INSPECTION, client_name="Blake Carter")],
    ),
    "rescheduled and longer: one patch with both": (
        wanted(attributes={"datetime": "2026-12-04T08:30:00+00:00", "duration": 240}),
        remote(), False,
        [op(Op.PATCH_INSPECTION, datetime="2026-12-04T08:30:00+00:00", duration=240)],
    ),
    "external_ref is never patched": (
        DESIRED, remote(attributes={"external_ref": "someone-else"}), False, [],
    ),
    # ------------------------------------------------------------------ inspectors
    "inspector assigned": (
        wanted(assignments={"insp-1": True, "insp-2": False, "insp-3": False}), remote(), False,
        [op(Op.ADD_ASSIGNMENT, inspector_id="insp-3", primary=False)],
    ),
    "inspector unassigned": (
        wanted(assignments={"insp-1": True}), remote(), False,
        [op(Op.REMOVE_ASSIGNMENT, "a-2")],
    ),
    "inspector replaced (the old one removed first, the new primary added)": (
        wanted(assignments={"insp-3": True}),
        remote(assignments=[("a-1", "insp-1", True)]), False,
        [op(Op.REMOVE_ASSIGNMENT, "a-1"),
         op(Op.ADD_ASSIGNMENT, inspector_id="insp-3", primary=True)],
    ),
    "primary moves to another inspector: the new primary first": (
        wanted(assignments={"insp-1": False, "insp-2": True}), remote(), False,
        [op(Op.SET_PRIMARY, "a-2", primary=True), op(Op.SET_PRIMARY, "a-1", primary=False)],
    ),
    # ------------------------------------------------------------------ line items
    "line item added": (
        wanted(line_items=[HOME, RADON, DesiredLineItem("svc-7", "Sewer Scope", 17500, 1)]),
        remote(), False,
        [op(Op.ADD_LINE_ITEM, service_id="svc-7", name="Sewer Scope", price_cents=17500,
            quantity=1)],
    ),
    "line item removed": (
        wanted(line_items=[HOME]), remote(), False, [op(Op.REMOVE_LINE_ITEM, "l-2")],
    ),
    "line item price and quantity changed: only the differences": (
        wanted(line_items=[HOME, replace(RADON, price_cents=12000, quantity=2)]), remote(), False,
        [op(Op.UPDATE_LINE_ITEM, "l-2", price_cents=12000, quantity=2)],
    ),
    "same service twice: the exact match is kept, the other line added": (
        wanted(line_items=[HOME, RADON, replace(RADON, price_cents=0)]), remote(), False,
        [op(Op.ADD_LINE_ITEM, **replace(RADON, price_cents=0).attributes())],
    ),
    "same service twice in Spectora: the exact match is kept, the other line removed": (
        DESIRED,
        remote(line_items=[("31", HOME), ("40", RADON), ("33", replace(RADON, price_cents=0))]),
        False, [op(Op.REMOVE_LINE_ITEM, "33")],
    ),
    # ------------------------------------------------------------------ reports
    "report attached": (
        wanted(template_ids=["tpl-1", "tpl-2", "tpl-4"]), remote(), False,
        [op(Op.ADD_REPORT, template_id="tpl-4")],
    ),
    "empty report detached": (
        wanted(template_ids=["tpl-1"]), remote(), False, [op(Op.REMOVE_REPORT, "r-2")],
    ),
    "report with content kept, and said so": (
        wanted(template_ids=["tpl-1"]),
        remote(reports=[("r-1", "tpl-1", "empty"), ("r-2", "tpl-2", "started")]), False,
        [op(Op.KEEP_REPORT, "r-2")],
    ),
    "duplicate empty report of one template detached": (
        DESIRED,
        remote(reports=[("r-1", "tpl-1", "empty"), ("r-2", "tpl-2", "empty"),
                        ("r-3", "tpl-1", "empty")]),
        False, [op(Op.REMOVE_REPORT, "r-3")],
    ),
    # ------------------------------------------------------------------ cancelled remote
    "job cancelled in Spectora, otherwise equal: nothing (the planner never un-cancels)": (
        DESIRED,
        remote(attributes={"canceled_at": "2026-12-02T09:00:00Z", "cancel_reason": "Client"}),
        False, [],
    ),
    "job cancelled in Spectora, a scalar changed: the patch carries no cancel field": (
        wanted(attributes={"notes": "Gate code 1234"}),
        remote(attributes={"canceled_at": "2026-12-02T09:00:00Z", "cancel_reason": "Client"}),
        False, [op(Op.PATCH_INSPECTION, notes="Gate code 1234")],
    ),
    # ------------------------------------------------------------------ force
    "forced on an equal job: every scalar, primary flag and line item re-sent": (
        DESIRED, remote(), True, [
            op(Op.PATCH_INSPECTION, **{k: v for k, v in ATTRIBUTES.items()
                                       if k != "external_ref"}),
            op(Op.SET_PRIMARY, "a-1", primary=True),
            op(Op.SET_PRIMARY, "a-2", primary=False),
            op(Op.UPDATE_LINE_ITEM, "l-1", name=HOME.name, price_cents=45000, quantity=1),
            op(Op.UPDATE_LINE_ITEM, "l-2", name=RADON.name, price_cents=15000, quantity=1),
        ],
    ),
    "forced still removes and adds, and re-sends no report": (
        wanted(assignments={"insp-1": True}, line_items=[HOME], template_ids=["tpl-1"]),
        remote(), True, [
            op(Op.PATCH_INSPECTION, **{k: v for k, v in ATTRIBUTES.items()
                                       if k != "external_ref"}),
            op(Op.REMOVE_ASSIGNMENT, "a-2"),
            op(Op.SET_PRIMARY, "a-1", primary=True),
            op(Op.UPDATE_LINE_ITEM, "l-1", name=HOME.name, price_cents=45000, quantity=1),
            op(Op.REMOVE_LINE_ITEM, "l-2"),
            op(Op.REMOVE_REPORT, "r-2"),
        ],
    ),
}


@pytest.mark.parametrize(("desired", "actual", "force", "expected"), list(CASES.values()),
                         ids=list(CASES))
def test_the_plan(desired, actual, force, expected):
    assert plan(desired, actual, force) == expected


@pytest.mark.parametrize(("desired", "actual", "force", "expected"), list(CASES.values()),
                         ids=list(CASES))
def test_applying_the_plan_leaves_nothing_to_do(desired, actual, force, expected):
    """Apply each plan to the remote as Spectora would; the next plan is empty."""
    after = apply(plan_sync(desired, actual, force=force), actual)
    assert [o for o in plan_sync(desired, after) if o.is_write] == []


def apply(operations: list[Operation], actual: Inspection | None) -> Inspection:
    attributes = dict(actual.attributes) if actual else {}
    children = {kind: {r.id: dict(r.attributes) for r in getattr(actual, kind, [])}
                for kind in ("assignments", "line_items", "reports")}
    for number, operation in enumerate(operations):
        if operation.op in (Op.CREATE_INSPECTION, Op.PATCH_INSPECTION):
            attributes.update(operation.attributes)
            continue
        if operation.op == Op.KEEP_REPORT:
            continue
        items = children[CHILD_KIND[operation.op]]
        if operation.op.name.startswith("ADD_"):
            items[f"new-{number}"] = dict(operation.attributes)
        elif operation.op.name.startswith("REMOVE_"):
            del items[operation.target_id]
        else:
            items[operation.target_id].update(operation.attributes)
    return Inspection("9001", attributes, **{
        kind: [Resource(kind, rid, attrs) for rid, attrs in items.items()]
        for kind, items in children.items()
    })


def test_operations_serialize_as_the_plain_names():
    (create, *_) = plan_sync(DESIRED, None)
    assert create.op is Op.CREATE_INSPECTION
    as_dict = create.as_dict()
    assert type(as_dict["op"]) is str and as_dict["op"] == "create_inspection"
    assert json.loads(json.dumps(as_dict))["op"] == "create_inspection"
    assert set(CHILD_KIND) == set(Op) - {Op.CREATE_INSPECTION, Op.PATCH_INSPECTION,
                                         Op.KEEP_REPORT}


def test_only_keeping_a_report_is_not_a_write():
    assert [o for o in Op if not Operation(o, "").is_write] == [Op.KEEP_REPORT]
