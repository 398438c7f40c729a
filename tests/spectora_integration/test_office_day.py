"""A real office day: names instead of Spectora ids, no advice a person cannot follow, the
connection's state in the menu, and the small things (no literal "None", no version)."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from spectora_integration.models import (
    ConnectionState,
    SpectoraConnection,
    SpectoraLink,
    SyncRun,
    SyncState,
)
from spectora_integration.sync import describe, engine
from spectora_integration.sync.planner import Op, Operation
from spectora_integration.sync.status import clock
from tests.factories import EmployeeFactory, member
from tests.spectora_integration.test_sync import book, sync
from workorders.models import ActivityEvent, Role, Workorder
from workorders.services import AssigneeInput, LineItemInput, workorder_update

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_auto_sync_on_booking")]

SPECTORA_IDS = re.compile(r"\b(insp|svc|tpl)-\d+\b")
ADMIN_PAGES = ("/spectora/connection/", "/spectora/staff/", "/spectora/services/",
               "/spectora/failed/")


@pytest.fixture(autouse=True)
def enqueued(queued):
    return queued["runs"]


@pytest.fixture
def named(spectora):
    """The wired company with people's names, like a real office."""
    for employee, name in zip(spectora.inspectors, ["Maria Lopez", "James Carter",
                                                    "Priya Shah", "Tom Becker"], strict=True):
        employee.name = name
        employee.save()
    for service, name in zip(spectora.services, ["Full Home Inspection", "Radon Test",
                                                 "Sewer Scope", "Mold Test"], strict=True):
        service.name = name
        service.save()
        report_type = service.report_types.get()
        report_type.name = f"{name} Report"
        report_type.save()
    return spectora


def page(client, workorder, **params) -> str:
    response = client.get(reverse("workorders:detail", args=[workorder.pk]), params)
    assert response.status_code == 200
    return response.content.decode()


def menu(html: str) -> str:
    start = html.index('<details class="menu"')
    return html[start: html.index("</details>", start)]


# ---------------------------------------------------------------- names, not ids


def test_preview_names_the_inspectors_services_and_reports(office_client, named):
    wo = book(named)
    html = office_client.get(reverse("spectora:workorder_preview", args=[wo.pk])).content.decode()
    plan = html[html.index('data-preview="plan"'): html.index("</ol>")]
    assert "Assign Maria Lopez as primary" in plan
    assert "Assign James Carter<" in plan
    assert "Add Full Home Inspection ($100.00 × 1)" in plan
    assert "Attach Radon Test Report<" in plan and "Report report" not in plan
    assert not SPECTORA_IDS.search(plan)


def test_the_preview_api_keeps_the_planners_fields_and_adds_the_sentence(named):
    preview = engine.sync_preview(book(named))
    first = preview["operations"][1]
    assert first["op"] == "add_assignment" and first["attributes"]["inspector_id"] == "insp-1"
    assert first["sentence"] == "Assign Maria Lopez as primary"


def test_a_run_sums_up_what_it_did_by_name(named):
    maria, james, priya, _ = named.inspectors
    wo = book(named)
    sync(wo)
    first = SyncRun.objects.get(workorder=wo)
    assert first.reason == ("Synced: Created the Spectora job, assigned Maria Lopez and James "
                            "Carter, 2 line items added, 2 reports attached.")
    wo = Workorder.objects.get(pk=wo.pk)
    workorder_update(
        wo, user=None, values={}, expected_version=wo.version,
        assignees=[AssigneeInput(maria, True), AssigneeInput(priya, False)],
        line_items=[LineItemInput(named.services[0], price_cents=12345),
                    LineItemInput(named.services[1])],
    )
    sync(wo)
    latest = SyncRun.objects.filter(workorder=wo).first()
    assert latest.reason == ("Synced: Assigned Priya Shah, removed James Carter, "
                             "1 line item changed.")
    assert "Change Full Home Inspection: price $100.00 → $123.45" in latest.summary["applied"]
    messages = list(ActivityEvent.objects.filter(workorder=wo).values_list("message", flat=True))
    assert any("removed James Carter" in m for m in messages)
    assert not any(SPECTORA_IDS.search(m) for m in messages)


def test_an_inspector_nobody_is_linked_to_is_named_as_spectoras():
    names = describe.Names(inspectors={"insp-1": "Maria Lopez"}, services={}, templates={},
                           unlinked_inspectors={"insp-5": "Dana Whitfield"})
    add = Operation(Op.ADD_ASSIGNMENT, "", {"inspector_id": "insp-5", "primary": False})
    assert describe.sentence(add, names) == "Assign Spectora inspector Dana Whitfield (not linked)"
    names = describe.Names(inspectors={}, services={}, templates={})
    assert describe.sentence(add, names) == "Assign Spectora inspector insp-5 (not linked)"


def test_names_come_from_the_companys_own_rows(named, other_company):
    EmployeeFactory(company=other_company, name="Someone Else", spectora_inspector_id="insp-1")
    names = describe.names_for(named.connection.company_id)
    assert names.inspector("insp-1") == "Maria Lopez"


# ---------------------------------------------------------------- the Integrations tab


def test_office_staff_see_what_a_run_did_not_its_http_calls(client, named, office_user,
                                                            admin_user):
    wo = book(named)
    sync(wo)
    client.force_login(office_user)
    html = page(client, wo, tab="integrations")
    assert "Synced: Created the Spectora job, assigned Maria Lopez" in html
    assert "/v2/" not in html and "data-run-calls" not in html
    client.force_login(admin_user)
    html = page(client, wo, tab="integrations")
    assert "data-run-calls" in html and "/v2/inspections" in html
    assert re.search(r"<details class=\"run__calls\"", html)


# ---------------------------------------------------------------- no advice one cannot follow


def failing(spectora):
    SpectoraConnection.objects.filter(pk=spectora.connection.pk).update(
        state=ConnectionState.FAILING, last_error="Spectora refused the API key (401).")


def test_office_staff_are_not_offered_a_sync_while_the_connection_is_failing(
    client, spectora, office_user, admin_user
):
    wo = book(spectora)
    failing(spectora)
    client.force_login(office_user)
    office_menu = menu(page(client, wo))
    assert "Spectora connection failing: an admin has been told" in office_menu
    assert '<button type="submit" class="menu__entry">Sync Spectora job' not in office_menu
    assert 'data-action="force_sync_spectora"' not in office_menu

    client.force_login(admin_user)
    admin_menu = menu(page(client, wo))
    assert '<button type="submit" class="menu__entry">Sync Spectora job' in admin_menu
    assert "test it on the Spectora page first" in admin_menu


def test_a_paused_connection_keeps_sync_and_says_until_when(
    client, spectora, office_user, monkeypatch
):
    wo = book(spectora)
    until = timezone.now() + timedelta(minutes=4)
    SpectoraConnection.objects.filter(pk=spectora.connection.pk).update(  # sync/breaker.py
        paused_at=timezone.now(), paused_until=until)
    client.force_login(office_user)
    office_menu = menu(page(client, wo))
    assert '<button type="submit" class="menu__entry">Sync Spectora job' in office_menu
    assert f"Spectora is paused until {clock(until)}: it goes out then" in office_menu


@pytest.mark.parametrize("state", [SyncState.FAILED, SyncState.SKIPPED])
def test_the_banner_never_links_office_staff_to_admin_pages(client, spectora, office_user,
                                                           admin_user, state):
    wo = book(spectora)
    SpectoraLink.objects.create(workorder=wo, sync_state=state,
                                last_error="Spectora refused the API key.")
    client.force_login(office_user)
    html = page(client, wo)
    banner = html[html.index('<div id="sync-problem"'): html.index('<div id="wo-tabs"')]
    assert "data-sync-problem" in banner
    assert not [p for p in ADMIN_PAGES if p in banner]
    if state == SyncState.FAILED:
        assert "an administrator fixes that" in banner
    client.force_login(admin_user)
    assert "/spectora/staff/" in page(client, wo)


def test_an_import_with_unlinked_inspectors_links_admin_pages_for_admins_only(
    client, spectora, office_user, admin_user
):
    wo = book(spectora)
    Workorder.objects.filter(pk=wo.pk).update(origin="spectora")
    SpectoraLink.objects.create(workorder=wo, remote_id="1001", sync_state=SyncState.SYNCED,
                                import_missing={"inspectors": [{"id": "insp-9", "name": "Pat"}],
                                                "services": []})
    client.force_login(office_user)
    html = page(client, wo)
    assert "data-import-missing" in html
    assert not [p for p in ADMIN_PAGES if p in html]
    assert "An administrator links Spectora inspectors" in html
    client.force_login(admin_user)
    assert "/spectora/staff/" in page(client, wo)


def test_a_forbidden_answer_does_not_tell_office_staff_to_fix_the_key():
    import requests

    from spectora_integration.client.errors import error_from_response

    response = requests.Response()
    response.status_code = 403
    response._content = b"{}"
    assert "An admin can check the key" in error_from_response(response).message


# ---------------------------------------------------------------- small ones


def test_a_missing_client_email_and_the_version_are_not_shown_as_such(office_client, spectora):
    wo = book(spectora, client_email="")
    html = page(office_client, wo)
    assert "No email given" in html
    assert ">None<" not in html
    assert "version" not in html.lower().replace("data-", "")
    edit = office_client.get(reverse("workorders:edit", args=[wo.pk])).content.decode()
    assert re.search(r'<input type="hidden" name="version" value="1"', edit)


def test_linking_an_employee_to_an_inspector_with_another_name_and_email_warns(
    client, spectora, company
):
    admin = member(company, Role.ADMIN, username="linker")
    client.force_login(admin)
    stranger = EmployeeFactory(company=company, name="Pat Doe", email="pat@acme.example")
    response = client.post(reverse("spectora:staff_link"),
                           {"inspector_id": "insp-5", "employee": stranger.pk})
    found = list(get_messages(response.wsgi_request))
    assert [m.level_tag for m in found] == ["success", "warning"]
    assert "share neither name nor email" in str(found[1])
    stranger.refresh_from_db()
    assert stranger.spectora_inspector_id == "insp-5"  # still linked


def test_linking_the_same_person_does_not_warn(client, spectora, company):
    client.force_login(member(company, Role.ADMIN, username="linker"))
    dana = EmployeeFactory(company=company, name="dana  whitfield", email="")
    response = client.post(reverse("spectora:staff_link"),
                           {"inspector_id": "insp-5", "employee": dana.pk})
    assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["success"]



def test_a_kept_report_and_a_drift_repair_say_what_spectora_had():
    from spectora_integration.client import Inspection, Resource

    names = describe.Names(inspectors={"insp-1": "Maria Lopez"}, services={"svc-1": "Radon"},
                           templates={"tpl-2": "Radon Report"})
    actual = Inspection(
        id="9", attributes={"full_address": "9 Oak", "notes": ""},
        assignments=[Resource("assignments", "a1", {"inspector_id": "insp-1", "primary": False})],
        line_items=[Resource("line_items", "l1", {"service_id": "svc-1", "name": "Radon (S)",
                                                  "price_cents": 100, "quantity": 1})],
        reports=[Resource("reports", "r1", {"template_id": "tpl-2", "status": "started"})],
    )
    keep = Operation(Op.KEEP_REPORT, "Report tpl-2 ...", target_id="r1")
    assert describe.sentence(keep, names, actual).startswith(
        "Keep Radon Report: it is no longer on the workorder")
    patch = Operation(Op.PATCH_INSPECTION, "", {"full_address": "41 Juniper Ct",
                                                "notes": "Gate code 12"})
    primary = Operation(Op.SET_PRIMARY, "", {"primary": True}, target_id="a1")
    price = Operation(Op.UPDATE_LINE_ITEM, "", {"price_cents": 250}, target_id="l1")
    said = [describe.drift_sentence(op, names, actual) for op in (patch, primary, price)]
    assert said == [
        "the address had been set to “9 Oak”, Attik puts back “41 Juniper Ct”; "
        "the notes had been cleared, Attik puts back “Gate code 12”",
        "Maria Lopez was no longer the primary inspector, Attik makes them primary again",
        "the price of Radon had been set to $1.00, Attik puts back $2.50",
    ]


def test_no_page_shows_a_bare_none(client, spectora, admin_user):
    wo = book(spectora, client_email="")
    SpectoraLink.objects.create(workorder=wo, sync_state=SyncState.SYNCED)
    client.force_login(admin_user)
    urls = [reverse("workorders:detail", args=[wo.pk]),
            reverse("workorders:detail", args=[wo.pk]) + "?tab=integrations",
            reverse("workorders:list"), reverse("spectora:connection"),
            reverse("spectora:services")]
    for url in urls:
        html = client.get(url).content.decode()
        assert not re.search(r">\s*None\s*<", html), url
