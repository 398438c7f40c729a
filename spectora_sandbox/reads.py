"""`GET /v2/...`: the catalogue and inspections, filtered, sorted and paged.

Each handler takes the `SandboxState`, the ids from the path, the query as
(name, value) pairs and the path, and returns a `Response` or raises `ApiError`.
Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .rendering import INCLUDABLE, included, inspection_resource
from .responses import ApiError, Response
from .store import parse_iso, to_us

if TYPE_CHECKING:
    from .state import SandboxState

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 200

Pairs = list[tuple[str, str]]


# --------------------------------------------------------------------------- query params


def int_param(params: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = None
    if value is None or value < lo or value > hi:
        raise ApiError(
            400,
            "invalid_parameter",
            f"{name} must be an integer from {lo} to {hi}; got {raw!r}.",
            source={"parameter": name},
        )
    return value


def check_families(params: dict[str, str], filters: tuple[str, ...]) -> None:
    """400 for a `filter[...]` this list does not support, or a `page[...]` other than ours."""
    for key in params:
        if key.startswith("filter["):
            name = key[len("filter[") : -1] if key.endswith("]") else None
            if name not in filters:
                allowed = ", ".join(f"filter[{f}]" for f in filters) or "none"
                raise ApiError(
                    400,
                    "invalid_parameter",
                    f"Unsupported filter {key!r}; supported: {allowed}.",
                    source={"parameter": key},
                )
        elif key.startswith("page[") and key not in ("page[number]", "page[size]"):
            raise ApiError(
                400,
                "invalid_parameter",
                f"Unsupported parameter {key!r}; use page[number] and page[size].",
                source={"parameter": key},
            )


def include_param(params: dict[str, str]) -> tuple[str, ...]:
    raw = params.get("include")
    if raw is None or not raw.strip():
        return ()
    names = tuple(p.strip() for p in raw.split(",") if p.strip())
    for name in names:
        if name not in INCLUDABLE:
            raise ApiError(
                400,
                "invalid_parameter",
                f"Cannot include {name!r}; includable: {', '.join(INCLUDABLE)}.",
                source={"parameter": "include"},
            )
    return names


def paginate(items: list, pairs: Pairs, path: str, base_url: str) -> tuple[list, dict, dict]:
    """(this page's items, meta, links) for `page[number]` and `page[size]`."""
    params = dict(pairs)
    number = int_param(params, "page[number]", 1, 1, 10**9)
    size = int_param(params, "page[size]", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    start = (number - 1) * size
    page = items[start : start + size]

    def link(n: int) -> str:
        out = [(k, v) for k, v in pairs if k != "page[number]"]
        out.append(("page[number]", str(n)))
        return f"{base_url}{path}?{urlencode(out, safe='[],:')}"

    links = {"self": link(number)}
    if start + size < len(items):
        links["next"] = link(number + 1)
    if number > 1:
        links["prev"] = link(number - 1)
    meta = {"pagination": {"current": number, "records": len(items)}}
    return page, meta, links


# --------------------------------------------------------------------------- catalogue


def _catalogue(
    state: SandboxState,
    kind: str,
    table: dict[str, dict],
    pairs: Pairs,
    path: str,
    filters: dict[str, Callable[[dict, str], bool]],
) -> Response:
    params = dict(pairs)
    check_families(params, tuple(filters))
    rows = list(table.items())
    for name, test in filters.items():
        value = params.get(f"filter[{name}]")
        if value is not None:
            rows = [(i, a) for i, a in rows if test(a, value)]
    page, meta, links = paginate(rows, pairs, path, state.base_url)
    data = [{"type": kind, "id": i, "attributes": dict(a)} for i, a in page]
    return Response(200, {"data": data, "meta": meta, "links": links})


def _catalogue_one(kind: str, table: dict[str, dict], rid: str) -> Response:
    attrs = table.get(rid)
    if attrs is None:
        raise ApiError(404, "not_found", f"{kind[:-1].capitalize()} {rid} not found.")
    return Response(200, {"data": {"type": kind, "id": rid, "attributes": dict(attrs)}})


def list_inspectors(state: SandboxState, pairs: Pairs, path: str) -> Response:
    def active(attrs: dict, value: str) -> bool:
        return attrs["active"] == (value.strip().lower() in ("true", "1", "yes"))

    return _catalogue(
        state, "inspectors", state.store.inspectors, pairs, path, {"active": active}
    )


def get_inspector(state: SandboxState, rid: str, pairs: Pairs, path: str) -> Response:
    return _catalogue_one("inspectors", state.store.inspectors, rid)


def list_services(state: SandboxState, pairs: Pairs, path: str) -> Response:
    def kind(attrs: dict, value: str) -> bool:
        return attrs["kind"] == value

    return _catalogue(state, "services", state.store.services, pairs, path, {"kind": kind})


def get_service(state: SandboxState, rid: str, pairs: Pairs, path: str) -> Response:
    return _catalogue_one("services", state.store.services, rid)


def list_templates(state: SandboxState, pairs: Pairs, path: str) -> Response:
    return _catalogue(state, "templates", state.store.templates, pairs, path, {})


def get_template(state: SandboxState, rid: str, pairs: Pairs, path: str) -> Response:
    return _catalogue_one("templates", state.store.templates, rid)


# --------------------------------------------------------------------------- inspections


def list_inspections(state: SandboxState, pairs: Pairs, path: str) -> Response:
    store = state.store
    params = dict(pairs)
    check_families(params, ("external_ref", "updated_since"))
    include = include_param(params)
    items = list(store.inspections.values())
    ref = params.get("filter[external_ref]")
    if ref is not None:
        iid = store.by_ref.get(ref)
        items = [store.inspections[iid]] if iid is not None else []
    since_raw = params.get("filter[updated_since]")
    if since_raw is not None:
        # A raw '+' in a query string decodes to a space; put it back.
        since = parse_iso(since_raw.strip().replace(" ", "+"))
        if since is None:
            raise ApiError(
                400,
                "invalid_parameter",
                f"filter[updated_since] must be an ISO 8601 date-time; got {since_raw!r}.",
                source={"parameter": "filter[updated_since]"},
            )
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        since_us = to_us(since)
        items = [i for i in items if i.updated_us >= since_us]
    sort = params.get("sort", "id").strip()
    if sort in ("updated_at", "-updated_at"):
        items.sort(key=lambda i: i.updated_us, reverse=sort.startswith("-"))
    elif sort in ("id", "-id"):
        items.sort(key=lambda i: int(i.id), reverse=sort.startswith("-"))
    else:
        raise ApiError(
            400,
            "invalid_parameter",
            f"Unsupported sort {sort!r}; use updated_at, -updated_at, id or -id.",
            source={"parameter": "sort"},
        )
    page, meta, links = paginate(items, pairs, path, state.base_url)
    body: dict[str, Any] = {
        "data": [inspection_resource(i, state.base_url) for i in page],
        "meta": meta,
        "links": links,
    }
    if include:
        body["included"] = [c for i in page for c in included(i, include)]
    return Response(200, body)


def get_inspection(state: SandboxState, iid: str, pairs: Pairs, path: str) -> Response:
    include = include_param(dict(pairs))
    insp = state.store.inspection(iid)
    body: dict[str, Any] = {"data": inspection_resource(insp, state.base_url)}
    if include:
        body["included"] = included(insp, include)
    return Response(200, body)
