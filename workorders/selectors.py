"""Reads shared by pages and the API. Every one is scoped to a company."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from workorders.expressions import PkInSubquery
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
    """Workorders with everything a list row shows, in a constant number of queries.

    The list page and the API read their parameters with ``workorders.filters``,
    which builds its query from the conditions below; the keyword arguments are
    for Python callers.
    """
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
    condition = search_condition(search, company)
    if condition is not None:
        qs = qs.filter(condition)
    if status:
        qs = qs.filter(status=status)
    if origin:
        qs = qs.filter(origin=origin)
    if date_from:
        qs = qs.filter(scheduled_from(date_from))
    if date_to:
        qs = qs.filter(scheduled_until(date_to))
    if inspector:
        qs = qs.filter(assigned_to(inspector))
    return qs.order_by("-scheduled_at", "-number")


# The largest workorder number a database stores (a larger one would overflow the query).
MAX_NUMBER = 2**31 - 1


def search_condition(text: str, company: Company) -> Q | None:
    """Number (``1042`` or ``WO-1042``), address, client name or email, an assigned
    inspector's name or a line item's service name; None for a blank search.

    Inspectors and services are matched through ``id IN (subquery)`` semi-joins: a
    workorder comes back once however many of its rows match, without a join or
    DISTINCT. Not correlated EXISTS: inside this OR, SQLite (and PostgreSQL) would run
    an EXISTS once per workorder; the IN list is built once (100,000 workorders on
    SQLite: about 0.2 s for a search, against 1.1 s with EXISTS). On PostgreSQL they
    are written ``= ANY(ARRAY(subquery))`` (``PkInSubquery``) so that the whole OR is
    served by indexes (the trigram indexes of migration 0003): docs/performance.md.
    """
    text = (text or "").strip()
    if not text:
        return None
    inspected_by = Assignment.objects.filter(
        employee__company=company, employee__name__icontains=text
    ).values("workorder_id")
    with_service = LineItem.objects.filter(
        service__company=company, service__name__icontains=text
    ).values("workorder_id")
    condition = (
        Q(address__icontains=text)
        | Q(client_name__icontains=text)
        | Q(client_email__icontains=text)
        | Q(PkInSubquery(inspected_by))
        | Q(PkInSubquery(with_service))
    )
    digits = text.upper().removeprefix("WO-")
    if digits.isascii() and digits.isdigit() and int(digits) <= MAX_NUMBER:
        condition |= Q(number=int(digits))
    return condition


# Whole days in the office's time zone, as a plain range on scheduled_at so the
# (company, scheduled_at) index serves it (a __date filter casts every row).
def scheduled_from(day: date) -> Q:
    """Scheduled on ``day`` or later."""
    return Q(scheduled_at__gte=_start_of(day))


def scheduled_until(day: date) -> Q:
    """Scheduled on ``day`` or earlier."""
    return Q(scheduled_at__lt=_start_of(day + timedelta(days=1)))


def assigned_to(employee_id: int) -> Exists:
    """``employee_id`` is one of the workorder's inspectors (EXISTS: no duplicate rows)."""
    return Exists(
        Assignment.objects.filter(workorder=OuterRef("pk"), employee_id=employee_id)
    )


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
