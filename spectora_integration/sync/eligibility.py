"""Can this workorder be synced to Spectora now? If not, why, and where to fix it."""

from __future__ import annotations

from dataclasses import dataclass

from spectora_integration.models import SpectoraConnection
from workorders.models import Workorder


@dataclass(frozen=True)
class Ineligible:
    code: str  # not_connected | cancelled | spectora_origin | missing_links
    message: str
    fix_url_name: str = ""  # a page that fixes it, for people who may open it

    def __str__(self) -> str:
        return self.message


def connection_for(workorder: Workorder) -> SpectoraConnection | None:
    return SpectoraConnection.objects.filter(company_id=workorder.company_id).first()


def check_eligibility(workorder: Workorder, *, for_cancel: bool = False) -> Ineligible | None:
    """None when a sync may go ahead; otherwise the first reason it may not."""
    connection = connection_for(workorder)
    if connection is None or not connection.is_connected:
        return Ineligible(
            "not_connected",
            "This company is not connected to Spectora. An admin can connect it on the "
            "Spectora connection page.",
            "spectora:connection",
        )
    if for_cancel:
        return None
    if workorder.is_cancelled:
        return Ineligible(
            "cancelled",
            "This workorder is cancelled; its Spectora job is cancelled instead of synced.",
        )
    if workorder.is_spectora_origin:
        return Ineligible(
            "spectora_origin",
            "This job was created in Spectora and syncs from Spectora; use Refresh from "
            "Spectora instead.",
        )
    problems = missing_links(workorder)
    if problems:
        return Ineligible("missing_links", " ".join(problems), problems_fix_url(problems))
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
