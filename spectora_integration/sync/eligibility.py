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
        return Ineligible(
            "cancelled",
            "This workorder is cancelled; its Spectora job is cancelled instead of synced.",
            hint="Cancelled: the Spectora job is cancelled",
        )
    if workorder.is_spectora_origin:
        return Ineligible(
            "spectora_origin",
            "This job was created in Spectora and syncs from Spectora; use Refresh from "
            "Spectora instead.",
            hint="Comes from Spectora: it syncs from there; use Refresh",
        )
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


def missing_links(workorder: Workorder) -> list[str]:
    """Sentences naming each inspector or service that Spectora does not know yet."""
    problems = []
    unlinked = [
        a.employee.name for a in workorder.assignments.all() if not a.employee.spectora_inspector_id
    ]
    if unlinked:
        problems.append(
            f"Not linked to a Spectora inspector: {', '.join(unlinked)}. "
            "An admin can link them on the Sync Spectora Staff page."
        )
    unmapped, untemplated = [], []
    for item in workorder.line_items.all():
        service = item.service
        if not service.spectora_service_id:
            unmapped.append(service.name)
        missing = [rt.name for rt in service.report_types.all() if not rt.spectora_template_id]
        untemplated.extend(missing)
    if unmapped:
        problems.append(
            f"Not mapped to a Spectora service: {', '.join(sorted(set(unmapped)))}. "
            "An admin can map them on the Service mapping page."
        )
    if untemplated:
        problems.append(
            f"Report types without a Spectora template: {', '.join(sorted(set(untemplated)))}. "
            "An admin can map them on the Service mapping page."
        )
    return problems


def problems_fix_url(problems: list[str]) -> str:
    if problems and problems[0].startswith("Not linked"):
        return "spectora:staff"
    return "spectora:services"
