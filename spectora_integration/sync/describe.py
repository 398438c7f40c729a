"""A sync plan in words a person knows: names from the company's own rows, not Spectora ids.

The planner's operations carry Spectora ids (``insp-4``, ``tpl-1``) and the ids of
Spectora's children; an office person knows employees, services and report types by
name. ``Names`` maps one company's ids to those names (a query per kind, when first
needed), and:

- ``sentence`` says what one operation does ("Assign Maria Lopez as primary"), with
  what Spectora has now when the job was read (Preview);
- ``summary`` sums a run up in one line ("Assigned Maria Lopez, removed Tom Becker,
  2 line items changed");
- ``drift_sentence`` says what Spectora had and what Attik puts back (drift repair).

An id the company has not linked or mapped is named as Spectora's ("Spectora inspector
insp-9"), so nothing is hidden.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.utils import formats, timezone

from spectora_integration.client import Inspection, parse_time
from spectora_integration.sync.planner import Op, Operation
from workorders.models import Employee, ReportType, Service

FIELD_LABELS = {
    "datetime": "date and time",
    "duration": "duration",
    "full_address": "address",
    "client_name": "client name",
    "client_email": "client email",
    "notes": "notes",
    "external_ref": "Attik reference",
}
LINE_ITEM_LABELS = {"price_cents": "price", "quantity": "quantity", "name": "name"}


@dataclass(frozen=True)
class Names:
    inspectors: Mapping[str, str]
    services: Mapping[str, str]
    templates: Mapping[str, str]
    # Spectora's own names for inspectors no employee is linked to, when they were read.
    unlinked_inspectors: dict[str, str] = field(default_factory=dict)

    def inspector(self, spectora_id: Any) -> str:
        key = str(spectora_id)
        return self.inspectors.get(key) or (
            f"Spectora inspector {self.unlinked_inspectors.get(key) or key} (not linked)"
        )

    def service(self, spectora_id: Any, fallback: str = "") -> str:
        key = str(spectora_id)
        return self.services.get(key) or fallback or f"Spectora service {key}"

    def template(self, spectora_id: Any) -> str:
        key = str(spectora_id)
        return self.templates.get(key) or f"Spectora template {key}"


class _ByRemoteId(Mapping):
    """One company's names by Spectora id, read on first use: a run that changed only
    the job's own fields (the usual re-sync) names nobody and reads nothing."""

    def __init__(self, model, field: str, company_id: int):
        self._query = (model, field, company_id)
        self._names: dict[str, str] | None = None

    def _loaded(self) -> dict[str, str]:
        if self._names is None:
            model, field, company_id = self._query
            rows = (model.objects.filter(company_id=company_id, **{f"{field}__isnull": False})
                    .order_by("-pk").values_list(field, "name"))
            self._names = {str(remote): name for remote, name in rows}  # the oldest row wins
        return self._names

    def __getitem__(self, key: str) -> str:
        return self._loaded()[key]

    def __iter__(self):
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def names_for(company_id: int) -> Names:
    """The company's own names for the Spectora ids it linked and mapped."""
    return Names(
        inspectors=_ByRemoteId(Employee, "spectora_inspector_id", company_id),
        services=_ByRemoteId(Service, "spectora_service_id", company_id),
        templates=_ByRemoteId(ReportType, "spectora_template_id", company_id),
    )


# ---------------------------------------------------------------- values


def _value(key: str, value: Any) -> str:
    if value in (None, ""):
        return "nothing"
    if key == "datetime":
        moment = parse_time(value) if isinstance(value, str) else value
        if isinstance(moment, datetime):
            return formats.date_format(timezone.localtime(moment), "M j, Y, g:i A")
    if key == "duration":
        return f"{value} min"
    if key == "price_cents":
        try:
            return f"${int(value) / 100:,.2f}"
        except (TypeError, ValueError):
            return str(value)
    if key == "quantity":
        return str(value)
    text = str(value)
    return f"“{text[:60]}…”" if len(text) > 60 else f"“{text}”"


def _child(actual: Inspection | None, kind: str, child_id: str | None):
    if actual is None or child_id is None:
        return None
    return next((c for c in getattr(actual, kind) if c.id == child_id), None)


def _subject(op: Operation, names: Names, actual: Inspection | None) -> str:
    """The inspector, service or report an operation is about, by name."""
    if op.op == Op.ADD_ASSIGNMENT:
        return names.inspector(op.attributes.get("inspector_id"))
    if op.op in (Op.REMOVE_ASSIGNMENT, Op.SET_PRIMARY):
        assignment = _child(actual, "assignments", op.target_id)
        return names.inspector(assignment["inspector_id"]) if assignment else "an inspector"
    if op.op in (Op.ADD_LINE_ITEM, Op.UPDATE_LINE_ITEM, Op.REMOVE_LINE_ITEM):
        item = _child(actual, "line_items", op.target_id)
        service_id = op.attributes.get("service_id") or (item["service_id"] if item else None)
        fallback = op.attributes.get("name") or (item["name"] if item else "") or "a service"
        return names.service(service_id, fallback) if service_id else fallback
    if op.op == Op.ADD_REPORT:
        return names.template(op.attributes.get("template_id"))
    if op.op in (Op.REMOVE_REPORT, Op.KEEP_REPORT):
        report = _child(actual, "reports", op.target_id)
        return names.template(report["template_id"]) if report else "a report"
    return "the Spectora job"


def _changes(op: Operation, actual: Inspection | None, labels: dict[str, str],
             had: Any = None) -> list[str]:
    """``the address “A” → “B”`` for each attribute the operation sets."""
    parts = []
    for key, wanted in op.attributes.items():
        if key not in labels:
            continue
        text = labels[key]
        if had is not None:
            parts.append(f"{text} {_value(key, had[key])} → {_value(key, wanted)}")
        else:
            parts.append(f"{text} to {_value(key, wanted)}")
    return parts


def _report(name: str) -> str:
    """"the Radon report", but "Radon Measurement Report" as it is."""
    return name if name.casefold().endswith("report") else f"the {name} report"


def _status_of(op: Operation, actual: Inspection | None) -> str:
    report = _child(actual, "reports", op.target_id)
    return str(report["status"]) if report is not None else "content"


# ---------------------------------------------------------------- one operation


def sentence(op: Operation, names: Names, actual: Inspection | None = None) -> str:
    """What the operation does, by name; with ``actual``, what Spectora has now."""
    who = _subject(op, names, actual)
    if op.op == Op.CREATE_INSPECTION:
        return "Create the Spectora job"
    if op.op == Op.PATCH_INSPECTION:
        return "Change the " + "; the ".join(_changes(op, actual, FIELD_LABELS, actual))
    if op.op == Op.ADD_ASSIGNMENT:
        return f"Assign {who}" + (" as primary" if op.attributes.get("primary") else "")
    if op.op == Op.REMOVE_ASSIGNMENT:
        return f"Remove {who}"
    if op.op == Op.SET_PRIMARY:
        return f"Make {who} " + ("the primary inspector" if op.attributes.get("primary")
                                 else "not primary")
    if op.op == Op.ADD_LINE_ITEM:
        price = _value("price_cents", op.attributes.get("price_cents"))
        return f"Add {who} ({price} × {op.attributes.get('quantity', 1)})"
    if op.op == Op.UPDATE_LINE_ITEM:
        item = _child(actual, "line_items", op.target_id)
        return f"Change {who}: " + ", ".join(_changes(op, actual, LINE_ITEM_LABELS, item))
    if op.op == Op.REMOVE_LINE_ITEM:
        return f"Remove {who}"
    if op.op == Op.ADD_REPORT:
        return f"Attach {_report(who)}"
    if op.op == Op.REMOVE_REPORT:
        return f"Detach {_report(who)}"
    return (f"Keep {_report(who)}: it is no longer on the workorder, but it already has "
            f"content in Spectora ({_status_of(op, actual)}), so it is never removed")


def _was(label: str, key: str, had: Any, wanted: Any) -> str:
    if had in (None, ""):
        return f"the {label} had been cleared, Attik puts back {_value(key, wanted)}"
    if wanted in (None, ""):
        return f"the {label} had been set to {_value(key, had)}, Attik clears it again"
    return f"the {label} had been set to {_value(key, had)}, Attik puts back {_value(key, wanted)}"


def drift_sentence(op: Operation, names: Names, actual: Inspection) -> str:
    """What Spectora had, changed by hand, and what Attik puts back."""
    who = _subject(op, names, actual)
    if op.op == Op.PATCH_INSPECTION:
        return "; ".join(_was(FIELD_LABELS.get(key, key), key, actual[key], wanted)
                         for key, wanted in op.attributes.items())
    if op.op == Op.ADD_ASSIGNMENT:
        role = " as primary" if op.attributes.get("primary") else ""
        return f"{who} had been taken off the job, Attik assigns them again{role}"
    if op.op == Op.REMOVE_ASSIGNMENT:
        return f"{who} had been added to the job, Attik removes them"
    if op.op == Op.SET_PRIMARY:
        if op.attributes.get("primary"):
            return f"{who} was no longer the primary inspector, Attik makes them primary again"
        return f"{who} had been made primary, Attik makes them not primary again"
    if op.op == Op.ADD_LINE_ITEM:
        return f"{who} had been taken off the job, Attik adds it back"
    if op.op == Op.UPDATE_LINE_ITEM:
        item = _child(actual, "line_items", op.target_id)
        changes = "; ".join(
            _was(f"{LINE_ITEM_LABELS[key]} of {who}", key, item[key] if item else None, wanted)
            for key, wanted in op.attributes.items() if key in LINE_ITEM_LABELS
        )
        return changes or f"{who} had been changed, Attik puts it back"
    if op.op == Op.REMOVE_LINE_ITEM:
        return f"{who} had been added to the job, Attik removes it"
    if op.op == Op.ADD_REPORT:
        return f"{_report(who)} had been detached, Attik attaches it again"
    if op.op == Op.REMOVE_REPORT:
        return f"{_report(who)} had been attached, Attik detaches it"
    if op.op == Op.KEEP_REPORT:
        return (f"{_report(who)} had been attached and already has content "
                f"({_status_of(op, actual)}), so Attik keeps it")
    return "the job was missing, Attik creates it again"


# ---------------------------------------------------------------- a whole run


def _names_list(people: list[str]) -> str:
    return people[0] if len(people) == 1 else f"{', '.join(people[:-1])} and {people[-1]}"


def summary(done: list[tuple[Operation, Inspection | None]], names: Names) -> str:
    """The run in one line: "Assigned Maria Lopez, removed Tom Becker, 2 line items changed"."""
    parts: list[str] = []
    people: dict[Op, list[str]] = {}
    fields: list[str] = []
    counts: Counter = Counter()
    for op, actual in done:
        if op.op == Op.CREATE_INSPECTION:
            parts.append("created the Spectora job")
        elif op.op == Op.PATCH_INSPECTION:
            fields += [FIELD_LABELS.get(k, k) for k in op.attributes if k != "external_ref"]
        elif op.op in (Op.ADD_ASSIGNMENT, Op.REMOVE_ASSIGNMENT, Op.SET_PRIMARY):
            people.setdefault(op.op, []).append(_subject(op, names, actual))
        elif op.op != Op.KEEP_REPORT:
            counts[op.op] += 1
    if fields:
        parts.append(f"changed the {_names_list(list(dict.fromkeys(fields)))}")
    for kind, verb in ((Op.ADD_ASSIGNMENT, "assigned"), (Op.REMOVE_ASSIGNMENT, "removed"),
                       (Op.SET_PRIMARY, "changed the primary inspector:")):
        if people.get(kind):
            parts.append(f"{verb} {_names_list(people[kind])}")
    for kind, noun, verb in ((Op.ADD_LINE_ITEM, "line item", "added"),
                             (Op.UPDATE_LINE_ITEM, "line item", "changed"),
                             (Op.REMOVE_LINE_ITEM, "line item", "removed"),
                             (Op.ADD_REPORT, "report", "attached"),
                             (Op.REMOVE_REPORT, "report", "detached")):
        if counts[kind]:
            parts.append(f"{counts[kind]} {noun}{'s' if counts[kind] != 1 else ''} {verb}")
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def run_outcome(company_id: int, rounds: list[tuple[list[Operation], Inspection | None]],
                notes: list[str]) -> dict:
    """The message and the lists a finished sync run keeps (``SyncRun.summary``).

    ``rounds``: the operations each round of the run carried out or kept, with the job
    as it was read before them; ``notes``: the executor's notes (a kept report's own
    note is replaced by its sentence with the report's name).
    """
    names = names_for(company_id)
    done = [(op, actual) for ops, actual in rounds for op in ops]
    writes = [(op, actual) for op, actual in done if op.is_write]
    kept = [(op, actual) for op, actual in done if not op.is_write]
    kept_descriptions = {op.description for op, _ in kept}
    said = [sentence(op, names, actual) + "." for op, actual in kept]
    said += [note for note in notes if note not in kept_descriptions]
    message = (f"Synced: {summary(writes, names)}." if writes
               else "Already up to date: nothing to send.")
    if said:
        message += " " + " ".join(said)
    return {
        "message": message,
        "applied": [sentence(op, names, actual) for op, actual in writes],
        "notes": said,
    }


def preview_operations(company_id: int, plan: list[Operation],
                       actual: Inspection | None) -> list[dict]:
    """Preview's operations: each as the planner has it, plus its ``sentence`` by name."""
    names = names_for(company_id)
    return [{**op.as_dict(), "sentence": sentence(op, names, actual)} for op in plan]


def drift_message(company_id: int, plan: list[Operation], actual: Inspection,
                  inspector_names: dict[str, str] | None = None) -> str:
    """``inspector_names``: Spectora's names for its inspectors, when they were read."""
    names = replace(names_for(company_id), unlinked_inspectors=inspector_names or {})
    changes = "; ".join(drift_sentence(op, names, actual) for op in plan)
    return f"Changed in Spectora by hand: {changes}. Attik's version is being put back."
