"""How the sandbox shows its rows: JSON:API documents, flat dumps and HTML office pages.

Pure functions of the rows and the sandbox's base URL. Standard library only.
"""

from __future__ import annotations

import html
from typing import Any

from .store import INSPECTION_ATTRIBUTES, Inspection, Store

INCLUDABLE = ("assignments", "line_items", "reports")


def inspection_url(base_url: str, iid: str) -> str:
    """The office page a person opens (the `url` attribute)."""
    return f"{base_url}/inspections/{iid}"


# --------------------------------------------------------------------------- JSON:API


def inspection_resource(insp: Inspection, base_url: str) -> dict:
    attrs = {name: insp.attrs[name] for name in INSPECTION_ATTRIBUTES}
    attrs["url"] = inspection_url(base_url, insp.id)

    def linkage(kind: str, ids) -> dict:
        return {"data": [{"type": kind, "id": i} for i in ids]}

    return {
        "type": "inspections",
        "id": insp.id,
        "attributes": attrs,
        "relationships": {
            "assignments": linkage("assignments", insp.assignments),
            "line_items": linkage("line_items", insp.line_items),
            "reports": linkage("reports", insp.reports),
        },
        "links": {"self": f"{base_url}/v2/inspections/{insp.id}"},
    }


def child_resource(kind: str, child: Any, iid: str) -> dict:
    if kind == "assignments":
        attrs = {"inspector_id": child.inspector_id, "primary": child.primary}
    elif kind == "line_items":
        attrs = {
            "service_id": child.service_id,
            "name": child.name,
            "price_cents": child.price_cents,
            "quantity": child.quantity,
        }
    else:
        attrs = {"template_id": child.template_id, "status": child.status}
    return {
        "type": kind,
        "id": child.id,
        "attributes": attrs,
        "relationships": {"inspection": {"data": {"type": "inspections", "id": iid}}},
    }


def included(insp: Inspection, include: tuple[str, ...]) -> list[dict]:
    """The `included` members for one inspection, children in INCLUDABLE order."""
    out = []
    for kind in INCLUDABLE:
        if kind in include:
            children = getattr(insp, kind).values()
            out.extend(child_resource(kind, c, insp.id) for c in children)
    return out


# --------------------------------------------------------------------------- flat dumps


def flat(insp: Inspection, base_url: str) -> dict:
    """One inspection for `/_sandbox/`: id, every attribute and its children, flat."""
    out: dict[str, Any] = {"id": insp.id}
    out.update({name: insp.attrs[name] for name in INSPECTION_ATTRIBUTES})
    out["url"] = inspection_url(base_url, insp.id)
    out["assignments"] = [
        {"id": a.id, "inspector_id": a.inspector_id, "primary": a.primary}
        for a in insp.assignments.values()
    ]
    out["line_items"] = [
        {
            "id": li.id,
            "service_id": li.service_id,
            "name": li.name,
            "price_cents": li.price_cents,
            "quantity": li.quantity,
        }
        for li in insp.line_items.values()
    ]
    out["reports"] = [
        {"id": r.id, "template_id": r.template_id, "status": r.status}
        for r in insp.reports.values()
    ]
    return out


# --------------------------------------------------------------------------- HTML pages


def index_page(store: Store) -> bytes:
    rows = "".join(
        f'<tr><td><a href="/inspections/{html.escape(i.id)}">{html.escape(i.id)}</a></td>'
        f"<td>{_h(i.attrs['datetime'])}</td><td>{_h(i.attrs['full_address'])}</td>"
        f"<td>{_h(i.attrs['client_name'])}</td><td>{_h(i.attrs['origin'])}</td>"
        f"<td>{'canceled' if i.attrs['canceled_at'] else 'active'}</td></tr>"
        for i in store.sorted_inspections()
    )
    body = (
        "<h1>Spectora sandbox</h1><p>Inspections in the sandbox company.</p>"
        "<table><tr><th>Id</th><th>When</th><th>Address</th><th>Client</th>"
        f"<th>Origin</th><th>State</th></tr>{rows}</table>"
    )
    return _page("Spectora sandbox", body)


def inspection_page(store: Store, iid: str) -> bytes | None:
    """The office page of one inspection; None when there is no such inspection."""
    insp = store.inspections.get(iid)
    if insp is None:
        return None
    a = insp.attrs
    fields = "".join(
        f"<tr><th>{html.escape(k.replace('_', ' ').capitalize())}</th><td>{_h(a[k])}</td></tr>"
        for k in INSPECTION_ATTRIBUTES
    )
    people = (
        "".join(
            f"<li>{_h(store.inspectors.get(x.inspector_id, {}).get('name', x.inspector_id))}"
            f"{' (primary)' if x.primary else ''}</li>"
            for x in insp.assignments.values()
        )
        or "<li>Unassigned</li>"
    )
    items = (
        "".join(
            f"<li>{_h(li.name)} &times; {li.quantity}: ${li.price_cents / 100:,.2f}</li>"
            for li in insp.line_items.values()
        )
        or "<li>None</li>"
    )
    reports = (
        "".join(
            f"<li>{_h(store.templates.get(r.template_id, {}).get('name', r.template_id))}"
            f": {_h(r.status)}</li>"
            for r in insp.reports.values()
        )
        or "<li>None</li>"
    )
    banner = (
        f'<p class="canceled">Canceled: {_h(a["cancel_reason"] or "no reason given")}</p>'
        if a["canceled_at"]
        else ""
    )
    body = (
        f'<p><a href="/">All inspections</a></p><h1>Inspection {html.escape(iid)}</h1>'
        f"{banner}<table>{fields}</table><h2>Inspectors</h2><ul>{people}</ul>"
        f"<h2>Services</h2><ul>{items}</ul><h2>Reports</h2><ul>{reports}</ul>"
    )
    return _page(f"Inspection {iid} - Spectora sandbox", body)


NOT_FOUND_PAGE = b"<!doctype html><title>Not found</title><h1>Inspection not found</h1>"


def _h(value: Any) -> str:
    return "&mdash;" if value is None or value == "" else html.escape(str(value))


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:56rem;color:#222}"
        "th{text-align:left;padding-right:1.5rem;color:#555;font-weight:600}"
        "td,th{padding:.2rem .6rem .2rem 0;vertical-align:top}"
        ".canceled{background:#fde2e1;padding:.5rem 1rem;border-radius:4px}"
        f"</style></head><body>{body}</body></html>"
    ).encode()
