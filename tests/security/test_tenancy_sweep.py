"""Every URL in the URLconf, as every role of one company, against the other company's rows.

Each route with an id is called (GET and POST) with the ids of the other
company's objects of the matching kind; routes without ids are called too.
Passes when no answer shows any of the other company's data, nothing answers
500, and the other company's rows are byte-for-byte what they were.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from spectora_integration.models import (
    ConnectionState,
    InboundWebhook,
    RunState,
    SpectoraConnection,
    SpectoraLink,
    SyncCall,
    SyncRun,
)
from tests.factories import (
    AssignmentFactory,
    EmployeeFactory,
    LineItemFactory,
    ReportTypeFactory,
    ServiceFactory,
    WorkorderFactory,
    member,
)
from workorders import tokens
from workorders.models import (
    ActivityEvent,
    Assignment,
    Employee,
    LineItem,
    Membership,
    ReportType,
    Role,
    Service,
    Workorder,
)

MARKERS = [
    "B-SECRET-NOTES", "B-Secret-Client", "B-Secret-Inspector", "B-Secret-Service",
    "B-Secret-Report", "B-SECRET-REASON", "B-SECRET-WEBHOOK", "B-SECRET-ACTIVITY",
    "b-secret-api-key-0042", "b-secret-remote-77",
]
POST_BODY = {
    "reason": "hijack", "notes": "hijack", "action": "retry_all", "post": "yes",
    "all_failed": "true", "force": "1", "name": "hijack", "employee": "", "inspector_id": "",
}
ID_PARAM = re.compile(r"<(?:int:|path:)?(pk|object_id|id|connection_id)>|\(\?P<(pk)>[^)]*\)")


def walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def concrete(route: str, ids: dict[str, list[int]]) -> list[str]:
    """Concrete paths for a route: one per id of the matching kind of the other company."""
    route = route.replace("^", "").replace("$", "").replace("\\.", ".")
    if "(?P<format>" in route or "<drf_format_suffix:format>" in route:
        return []  # the same views as the suffix-less routes
    if "(?P<app_label>" in route or "(?P<url>" in route or "<path:content_type_id>" in route:
        return []  # admin catch-alls: the app index is covered by the model routes
    route = route.replace("/?", "/")
    if not ID_PARAM.search(route):
        return ["/" + route]
    kind = next((k for k in ids if k in route), None)
    if kind is None:
        raise AssertionError(f"the sweep does not know which object {route!r} takes")
    return ["/" + ID_PARAM.sub(str(pk), route) for pk in ids[kind]]


def snapshot(company) -> dict:
    """Everything of the company's, as plain values."""
    workorders = Workorder.objects.filter(company=company)
    return {
        "workorders": list(workorders.values()),
        "assignments": list(Assignment.objects.filter(workorder__in=workorders).values()),
        "line_items": list(LineItem.objects.filter(workorder__in=workorders).values()),
        "employees": list(Employee.objects.filter(company=company).values()),
        "services": list(Service.objects.filter(company=company).values()),
        "report_types": list(ReportType.objects.filter(company=company).values()),
        "activity": list(ActivityEvent.objects.filter(company=company).values()),
        "memberships": list(Membership.objects.filter(company=company).values()),
        "connection": list(SpectoraConnection.objects.filter(company=company).values()),
        "links": list(SpectoraLink.objects.filter(workorder__in=workorders).values()),
        "runs": list(SyncRun.objects.filter(company=company).values()),
        "webhooks": list(InboundWebhook.objects.filter(connection__company=company).values()),
    }


@pytest.fixture
def theirs(other_company):
    """The other company, with one of everything, each carrying a marker string."""
    connection = SpectoraConnection(company=other_company, base_url="https://connect.spectora.com",
                                    state=ConnectionState.CONNECTED)
    connection.set_api_key("b-secret-api-key-0042")
    connection.save()
    wo = WorkorderFactory(company=other_company, notes="B-SECRET-NOTES",
                          client_name="B-Secret-Client")
    employee = EmployeeFactory(company=other_company, name="B-Secret-Inspector")
    AssignmentFactory(workorder=wo, employee=employee)
    service = ServiceFactory(company=other_company, name="B-Secret-Service")
    LineItemFactory(workorder=wo, service=service)
    report_type = ReportTypeFactory(company=other_company, name="B-Secret-Report")
    link = SpectoraLink.objects.create(workorder=wo, remote_id="b-secret-remote-77")
    run = SyncRun.objects.create(company=other_company, workorder=wo, state=RunState.FAILED,
                                 reason="B-SECRET-REASON")
    SyncCall.objects.create(run=run, method="GET", path="/v2/inspections/b-secret-remote-77",
                            status=500)
    activity = ActivityEvent.objects.create(company=other_company, workorder=wo, verb="x",
                                            message="B-SECRET-ACTIVITY")
    hook = InboundWebhook.objects.create(connection=connection, webhook_id="B-SECRET-WEBHOOK",
                                         payload={})
    membership = Membership.objects.get(user=member(other_company, Role.ADMIN))
    api_token, _ = tokens.token_issue(membership.user)
    return {
        "workorder": [wo.pk], "employee": [employee.pk], "service": [service.pk],
        "reporttype": [report_type.pk], "report-type": [report_type.pk],
        "spectoralink": [link.pk], "syncrun": [run.pk], "sync-run": [run.pk],
        "activityevent": [activity.pk], "inboundwebhook": [hook.pk],
        "spectoraconnection": [connection.pk], "connection_id": [connection.pk],
        "membership": [membership.pk], "company": [other_company.pk],
        "user": [membership.user_id], "group": [1], "authtoken": [api_token.digest],
        "accessattempt": [1], "accesslog": [1], "accessfailurelog": [1],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.ADMIN, Role.OFFICE_STAFF, Role.SCHEDULER])
@pytest.mark.usefixtures("queued")  # no broker: nothing is sent to workers
def test_no_url_leaks_or_changes_another_companys_rows(client, company, other_company, theirs,
                                                        role, monkeypatch):
    user = member(company, role, is_staff=True)
    client.force_login(user)
    before = snapshot(other_company)
    paths = sorted({p for route in walk(get_resolver().url_patterns)
                    for p in concrete(route, theirs)})
    assert len(paths) > 60
    problems = []
    for path in paths:
        if "logout" in path:
            continue  # the sweep must stay signed in
        for method in ("get", "post"):
            response = getattr(client, method)(path, POST_BODY if method == "post" else None)
            body = response.content.decode(errors="replace")
            by_design = path == "/health/" and response.status_code == 503  # no heartbeat here
            if response.status_code >= 500 and not by_design:
                problems.append(f"{method.upper()} {path}: {response.status_code}")
            problems += [f"{method.upper()} {path} shows {m}" for m in MARKERS if m in body]
    assert client.get("/api/v1/workorders/").status_code == 200  # still signed in throughout
    assert problems == []
    assert snapshot(other_company) == before
