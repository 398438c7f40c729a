"""Reads shared by pages and the API. Every one is scoped to a company."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from workorders.models import (
    ActivityEvent,
    Assignment,
    Company,
    Employee,
    LineItem,
    ReportType,
    Service,
    Workorder,
    WorkorderStatus,
)


def workorder_list(
    company: Company,
    *,
    search: str = "",
    status: str = "",
    origin: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    inspector: int | None = None,
) -> QuerySet[Workorder]:
    """Workorders with everything a list row shows, in a constant number of queries."""
    qs = (
        Workorder.objects.filter(company=company)
        .select_related("spectora_link")
        .prefetch_related(
            Prefetch(
                "assignments",
                queryset=Assignment.objects.select_related("employee").order_by("-primary", "id"),
            ),
            Prefetch("line_items", queryset=LineItem.objects.select_related("service")),
        )
    )
    search = (search or "").strip()
    if search:
        condition = Q(address__icontains=search) | Q(client_name__icontains=search)
        digits = search.upper().removeprefix("WO-")
        if digits.isdigit():
            condition |= Q(number=int(digits))
        qs = qs.filter(condition)
    if status:
        qs = qs.filter(status=status)
    if origin:
        qs = qs.filter(origin=origin)
    # Whole days in the office's time zone, as a plain range on scheduled_at so the
    # (company, scheduled_at) index serves it (a __date filter casts every row).
    if date_from:
        qs = qs.filter(scheduled_at__gte=_start_of(date_from))
    if date_to:
        qs = qs.filter(scheduled_at__lt=_start_of(date_to + timedelta(days=1)))
    if inspector:
        qs = qs.filter(assignments__employee_id=inspector)
    return qs.order_by("-scheduled_at", "-number")


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def workorder_get(company: Company, pk) -> Workorder:
    """One workorder of this company, or Workorder.DoesNotExist (another company's id too)."""
    return workorder_list(company).get(pk=pk)


def activity_for(workorder: Workorder) -> QuerySet[ActivityEvent]:
    return ActivityEvent.objects.filter(
        company_id=workorder.company_id, workorder=workorder
    ).select_related("actor")


def employee_list(company: Company) -> QuerySet[Employee]:
    return Employee.objects.filter(company=company)


def service_list(company: Company) -> QuerySet[Service]:
    return Service.objects.filter(company=company).prefetch_related("report_types")


def report_type_list(company: Company) -> QuerySet[ReportType]:
    return ReportType.objects.filter(company=company)


def workorders_on_day(company: Company, day: date) -> QuerySet[Workorder]:
    """The jobs of one office day (in the office's time zone), earliest first.

    Cancelled ones are left out: the dashboard lists the jobs that will happen.
    """
    start = timezone.make_aware(datetime.combine(day, time.min))
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
    return (
        Workorder.objects.filter(company=company, scheduled_at__gte=start, scheduled_at__lt=end)
        .exclude(status=WorkorderStatus.CANCELLED)
        .select_related("spectora_link")
        .prefetch_related(
            Prefetch(
                "assignments",
                queryset=Assignment.objects.select_related("employee").order_by("-primary", "id"),
            )
        )
        .order_by("scheduled_at", "number")
    )
