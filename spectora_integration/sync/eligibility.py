"""Can this workorder be synced to Spectora now? If not, why, and where to fix it."""

from __future__ import annotations

from dataclasses import dataclass

from spectora_integration.models import SpectoraConnection
from workorders.models import Workorder


@dataclass(frozen=True)
class Ineligible:
    code: str  # not_connected | cancelled | spectora_origin | missing_links | not_linked ...
    message: str
    fix_url_name: str = ""  # a page that fixes it, for people who may open it
    hint: str = ""  # the short form, for a disabled menu entry

    def __str__(self) -> str:
        return self.message


def connection_for(workorder: Workorder) -> SpectoraConnection | None:
    return SpectoraConnection.objects.filter(company_id=workorder.company_id).first()


NOT_CONNECTED = Ineligible(
    "not_connected",
    "This company is not connected to Spectora. An admin can connect it on the "
    "Spectora connection page.",
    "spectora:connection",
    hint="Not connected to Spectora",
)


CANCELLED = Ineligible(
    "cancelled",
    "This workorder is cancelled; its Spectora job is cancelled instead of synced.",
    hint="Cancelled: the Spectora job is cancelled",
)
SPECTORA_ORIGIN = Ineligible(
    "spectora_origin",
    "This job was created in Spectora and syncs from Spectora; use Refresh from "
    "Spectora instead.",
    hint="Comes from Spectora: it syncs from there; use Refresh",
)

# Refusals that describe the workorder itself (nothing to fix: it is cancelled, or owned
# by Spectora), unlike a missing connection, link or mapping that a person can fix.
ABOUT_THE_WORKORDER = (CANCELLED.code, SPECTORA_ORIGIN.code)


def is_connected(connection: SpectoraConnection | None) -> bool:
    return connection is not None and connection.is_connected


def check_eligibility(
    workorder: Workorder,
    *,
    for_cancel: bool = False,
    connection: SpectoraConnection | None | bool = False,
    check_links: bool = True,
) -> Ineligible | None:
    """None when a sync may go ahead; otherwise the first reason it may not.

    The one statement of the rules: the sync engine, the API, the Actions
    menu and Refresh all ask here. ``connection`` may be passed when the
    caller already has it (``None`` meaning "there is none");
    ``check_links=False`` skips the per-inspector and per-service checks
    (the menu, which must not load every child).
    """
    if connection is False:
        connection = connection_for(workorder)
    if not is_connected(connection):
        return NOT_CONNECTED
    if for_cancel:
        return None
    if workorder.is_cancelled:
        return CANCELLED
    if workorder.is_spectora_origin:
        return SPECTORA_ORIGIN
    if not check_links:
        return None
    problems = missing_links(workorder)
    if problems:
        return Ineligible("missing_links", " ".join(problems), problems_fix_url(problems))
    return None


def check_refresh(workorder: Workorder, link, connection) -> Ineligible | None:
    """None when Refresh from Spectora may run; otherwise why not."""
    if not workorder.is_spectora_origin:
        return Ineligible(
            "not_spectora_origin", f"{workorder} was booked in Attik: use Sync Spectora job.",
            hint="Booked in Attik: use Sync Spectora job",
        )
    if not is_connected(connection):
        return NOT_CONNECTED
    if link is None or not link.linked:
        return Ineligible(
            "not_linked", f"{workorder} is not linked to a Spectora job.",
            hint="Not linked to a Spectora job",
        )
    return None


@dataclass(frozen=True)
class Missing:
    """One inspector, service or report type Spectora does not know yet."""

    kind: str  # INSPECTOR | SERVICE | TEMPLATE
    pk: int  # the Employee, Service or ReportType
    name: str

    @property
    def reason(self) -> str:
        return MISSING_REASONS[self.kind].format(name=self.name)

    @property
    def fix_url_name(self) -> str:
        return "spectora:staff" if self.kind == INSPECTOR else "spectora:services"


INSPECTOR, SERVICE, TEMPLATE = "inspector", "service", "template"
MISSING_REASONS = {
    INSPECTOR: "{name} is not linked to a Spectora inspector.",
    SERVICE: "Service {name} is not mapped to a Spectora service.",
    TEMPLATE: "Report type {name} has no Spectora template.",
}


def missing_items(workorder: Workorder) -> list[Missing]:
    """What keeps ``workorder`` out of Spectora, item by item (prefetch the children)."""
    found = [
        Missing(INSPECTOR, a.employee.pk, a.employee.name)
        for a in workorder.assignments.all() if not a.employee.spectora_inspector_id
    ]
    services, templates = {}, {}
    for item in workorder.line_items.all():
        service = item.service
        if not service.spectora_service_id:
            services.setdefault(service.pk, Missing(SERVICE, service.pk, service.name))
        for rt in service.report_types.all():
            if not rt.spectora_template_id:
                templates.setdefault(rt.pk, Missing(TEMPLATE, rt.pk, rt.name))
    return found + list(services.values()) + list(templates.values())


# How each missing-link sentence starts, and the page that fixes it. The sentences and
# the pages the banners point to are read from here only (``fix_pages``).
UNLINKED, UNMAPPED, UNTEMPLATED = (
    "Not linked to a Spectora inspector", "Not mapped to a Spectora service",
    "Report types without a Spectora template",
)
FIX_PAGES = {UNLINKED: "spectora:staff", UNMAPPED: "spectora:services",
             UNTEMPLATED: "spectora:services"}


def fix_pages(message: str) -> list[str]:
    """The URL names of the pages that fix what ``message`` names, in order, once each."""
    pages = [page for start, page in FIX_PAGES.items() if start in message]
    return list(dict.fromkeys(pages))


def missing_links(workorder: Workorder) -> list[str]:
    """Sentences naming each inspector or service that Spectora does not know yet."""
    problems = []
    items = missing_items(workorder)
    unlinked = [m.name for m in items if m.kind == INSPECTOR]
    if unlinked:
        problems.append(
            f"{UNLINKED}: {', '.join(unlinked)}. "
            f"An admin can link {_them(unlinked)} on the Sync Spectora Staff page."
        )
    unmapped = sorted({m.name for m in items if m.kind == SERVICE})
    untemplated = sorted({m.name for m in items if m.kind == TEMPLATE})
    if unmapped:
        problems.append(
            f"{UNMAPPED}: {', '.join(unmapped)}. "
            f"An admin can map {_them(unmapped)} on the Service mapping page."
        )
    if untemplated:
        problems.append(
            f"{UNTEMPLATED}: {', '.join(untemplated)}. "
            f"An admin can map {_them(untemplated)} on the Service mapping page."
        )
    return problems


def _them(names: list[str]) -> str:
    return "it" if len(names) == 1 else "them"


def problems_fix_url(problems: list[str]) -> str:
    pages = fix_pages(problems[0]) if problems else []
    return pages[0] if pages else "spectora:services"
