"""Office pages: who sees what, the list, the detail tabs, the Actions menu, tenancy."""

from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from spectora_integration.models import (
    ConnectionState,
    SpectoraConnection,
    SpectoraLink,
    SyncCall,
    SyncRun,
    SyncState,
)
from tests.factories import (
    AssignmentFactory,
    EmployeeFactory,
    LineItemFactory,
    ServiceFactory,
    UserFactory,
    WorkorderFactory,
    member,
)
from workorders.models import ActivityEvent, Origin, Role, WorkorderStatus

pytestmark = pytest.mark.django_db


def local(year, month, day, hour=9, minute=0):
    return timezone.make_aware(datetime(year, month, day, hour, minute))


def detail(workorder, tab=None):
    url = reverse("workorders:detail", args=[workorder.pk])
    return f"{url}?tab={tab}" if tab else url


@pytest.fixture
def workorder(company):
    workorder = WorkorderFactory(
        company=company,
        address="12 Elm Street",
        client_name="Dana Whitfield",
        notes="Gate code 4411",
    )
    AssignmentFactory(workorder=workorder, employee__name="Pat Primary", primary=True)
    AssignmentFactory(workorder=workorder, employee__name="Sam Second", primary=False)
    LineItemFactory(workorder=workorder, service__name="Full home", price_cents=45000, quantity=1)
    LineItemFactory(workorder=workorder, service__name="Radon", price_cents=12550, quantity=2)
    return workorder


# -- Access ---------------------------------------------------------------------------------


def test_it_sends_anonymous_visitors_to_the_login_page(client, company):
    response = client.get(reverse("workorders:list"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_answers_403_to_a_user_without_a_company(client, db):
    client.force_login(UserFactory())

    response = client.get(reverse("workorders:list"))

    assert response.status_code == 403
    assert "not part of a company" in response.content.decode()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OFFICE_STAFF, Role.SCHEDULER])
def test_every_page_renders_for_every_role(client, company, workorder, role):
    client.force_login(member(company, role))
    urls = [
        reverse("workorders:list"),
        detail(workorder),
        detail(workorder, "activity"),
        detail(workorder, "integrations"),
        reverse("workorders:edit", args=[workorder.pk]),
        reverse("workorders:reschedule", args=[workorder.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_the_login_page_renders_and_explains_a_bad_password(client, office_user):
    assert client.get(reverse("login")).status_code == 200

    response = client.post(reverse("login"), {"username": office_user.username, "password": "no"})

    assert response.status_code == 200
    assert "don't match an account" in response.content.decode()


def test_a_good_login_lands_on_the_dashboard(client, office_user):
    response = client.post(
        reverse("login"), {"username": office_user.username, "password": "test-password"}
    )

    assert response.status_code == 302
    assert response.url == reverse("workorders:dashboard") == "/"


def test_the_top_bar_shows_company_user_role_and_a_logout_form(office_client, company):
    html = office_client.get(reverse("workorders:list")).content.decode()

    assert "Acme Inspections" in html
    assert "acme-office" in html
    assert "Office staff" in html
    assert f'method="post" action="{reverse("logout")}"' in html
    assert "New workorder" in html
    assert 'href="/admin/"' not in html


def test_admins_get_links_to_the_admin_and_the_api_docs(client, admin_user):
    client.force_login(admin_user)

    html = client.get(reverse("workorders:list")).content.decode()

    assert 'href="/admin/"' in html
    assert 'href="/api/docs/"' in html


def test_schedulers_are_not_offered_a_new_workorder(client, scheduler_user):
    client.force_login(scheduler_user)

    html = client.get(reverse("workorders:list")).content.decode()

    assert reverse("workorders:create") not in html


def test_an_unknown_url_answers_404_in_the_site_style(office_client):
    response = office_client.get("/no-such-page/")

    assert response.status_code == 404
    assert "We couldn't find that page" in response.content.decode()


def test_the_500_page_renders_without_a_request():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")

    assert "Something went wrong" in html
    assert "<style>" in html


# -- Tenancy --------------------------------------------------------------------------------


def test_it_hides_other_companies_workorders(office_client, company, other_company):
    WorkorderFactory(company=company, client_name="Our Client")
    WorkorderFactory(company=other_company, client_name="Their Client")

    html = office_client.get(reverse("workorders:list")).content.decode()

    assert "Our Client" in html
    assert "Their Client" not in html


@pytest.mark.parametrize(
    "name, method, query",
    [
        ("workorders:detail", "get", ""),
        ("workorders:detail", "get", "?tab=workorder"),
        ("workorders:detail", "get", "?tab=activity"),
        ("workorders:detail", "get", "?tab=integrations"),
        ("workorders:edit", "get", ""),
        ("workorders:edit", "post", ""),
        ("workorders:reschedule", "get", ""),
        ("workorders:reschedule", "post", ""),
        ("workorders:confirm", "post", ""),
        ("workorders:confirm", "get", ""),
        ("workorders:cancel", "get", ""),
        ("workorders:cancel", "post", ""),
    ],
)
def test_another_companys_workorder_is_404_on_every_page(
    client, admin_user, other_company, name, method, query
):
    theirs = WorkorderFactory(company=other_company, client_name="Their Client")
    client.force_login(admin_user)

    url = reverse(name, args=[theirs.pk]) + query
    response = getattr(client, method)(url, {"reason": "x"} if method == "post" else None)

    assert response.status_code == 404
    assert "Their Client" not in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.status == WorkorderStatus.UNCONFIRMED
    assert theirs.version == 1


# -- List -----------------------------------------------------------------------------------


def test_the_list_shows_a_row_with_everything_a_row_needs(office_client, workorder):
    html = office_client.get(reverse("workorders:list")).content.decode()

    assert f"WO-{workorder.number}" in html
    assert detail(workorder) in html
    assert "12 Elm Street" in html
    assert "Dana Whitfield" in html
    assert html.index("Pat Primary") < html.index("Sam Second")
    assert "Primary</span>" in html
    assert "Full home, Radon" in html
    assert "chip--unconfirmed" in html
    assert "Never synced" in html


def test_the_list_marks_spectora_origin_and_shows_the_links_sync_state(office_client, company):
    mirrored = WorkorderFactory(company=company, origin=Origin.SPECTORA)
    SpectoraLink.objects.create(workorder=mirrored, remote_id="insp-9", sync_state=SyncState.FAILED)

    html = office_client.get(reverse("workorders:list")).content.decode()

    assert "From Spectora" in html
    assert "chip--sync-failed" in html
    assert "Never synced" not in html


@pytest.mark.parametrize("search", ["5321", "WO-5321", "wo-5321", "maple", "HOLLIS"])
def test_the_list_searches_by_number_address_and_client(office_client, company, search):
    WorkorderFactory(company=company, number=5321, address="9 Maple Ave", client_name="Jo Hollis")
    WorkorderFactory(company=company, number=5400, address="1 Oak Rd", client_name="Other Person")

    html = office_client.get(reverse("workorders:list"), {"q": search}).content.decode()

    assert "WO-5321" in html
    assert "WO-5400" not in html


def test_the_list_filters_by_status_origin_dates_and_inspector(office_client, company):
    inspector = EmployeeFactory(company=company, name="Ivy Inspector")
    wanted = WorkorderFactory(
        company=company,
        number=6001,
        status=WorkorderStatus.CONFIRMED,
        origin=Origin.SPECTORA,
        scheduled_at=local(2030, 3, 10),
    )
    AssignmentFactory(workorder=wanted, employee=inspector)
    WorkorderFactory(
        company=company,
        number=6002,
        status=WorkorderStatus.UNCONFIRMED,
        origin=Origin.SPECTORA,
        scheduled_at=local(2030, 3, 10),
    )
    WorkorderFactory(
        company=company,
        number=6003,
        status=WorkorderStatus.CONFIRMED,
        origin=Origin.ATTIK,
        scheduled_at=local(2030, 3, 10),
    )
    late = WorkorderFactory(
        company=company,
        number=6004,
        status=WorkorderStatus.CONFIRMED,
        origin=Origin.SPECTORA,
        scheduled_at=local(2030, 4, 1),
    )
    AssignmentFactory(workorder=late, employee=inspector)
    other = WorkorderFactory(
        company=company,
        number=6005,
        status=WorkorderStatus.CONFIRMED,
        origin=Origin.SPECTORA,
        scheduled_at=local(2030, 3, 10),
    )
    AssignmentFactory(workorder=other)

    html = office_client.get(
        reverse("workorders:list"),
        {
            "status": "confirmed",
            "origin": "spectora",
            "date_from": "2030-03-01",
            "date_to": "2030-03-31",
            "inspector": inspector.pk,
        },
    ).content.decode()

    assert "WO-6001" in html
    for number in (6002, 6003, 6004, 6005):
        assert f"WO-{number}" not in html
    assert f'<option value="{inspector.pk}" selected>Ivy Inspector</option>' in html


def test_the_inspector_filter_offers_only_this_companys_employees(
    office_client, company, other_company
):
    EmployeeFactory(company=company, name="Our Inspector")
    EmployeeFactory(company=other_company, name="Their Inspector")

    html = office_client.get(reverse("workorders:list")).content.decode()

    assert "Our Inspector" in html
    assert "Their Inspector" not in html


def test_a_bad_filter_value_is_explained_and_ignored(office_client, company):
    WorkorderFactory(company=company, number=7001)

    response = office_client.get(reverse("workorders:list"), {"date_from": "yesterday"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a date like" in html
    assert "WO-7001" in html


def test_the_list_pages_by_25_and_keeps_the_filters_in_the_links(office_client, company):
    for number in range(8001, 8031):
        WorkorderFactory(
            company=company,
            number=number,
            client_name="Paged Client",
            scheduled_at=local(2030, 1, 1) + timedelta(hours=number - 8000),
        )
    WorkorderFactory(company=company, number=8100, client_name="Someone Else")

    first = office_client.get(reverse("workorders:list"), {"q": "paged"}).content.decode()
    second = office_client.get(
        reverse("workorders:list"), {"q": "paged", "page": 2}
    ).content.decode()

    assert first.count("Paged Client") == 25
    assert "Showing 1–25 of 30 workorders" in first
    assert 'href="?q=paged&amp;page=2"' in first
    assert second.count("Paged Client") == 5
    assert 'href="?q=paged&amp;page=1"' in second
    assert "Someone Else" not in first + second


def test_an_htmx_request_gets_only_the_results(office_client, company):
    WorkorderFactory(company=company, number=9001)

    response = office_client.get(
        reverse("workorders:list"),
        {"q": "9001"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="wo-results",
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="wo-results"')
    assert "WO-9001" in html
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_the_filter_form_works_with_and_without_htmx(office_client, company):
    html = office_client.get(reverse("workorders:list")).content.decode()

    assert 'method="get" action="/workorders/"' in html
    assert 'hx-get="/workorders/"' in html
    assert 'hx-target="#wo-results"' in html
    assert 'hx-push-url="true"' in html


def test_an_empty_company_is_invited_to_book_its_first_workorder(office_client, company):
    html = office_client.get(reverse("workorders:list")).content.decode()

    assert "No workorders yet — book the first one" in html


def test_filters_that_match_nothing_say_so_and_offer_to_clear(office_client, company):
    WorkorderFactory(company=company)

    html = office_client.get(
        reverse("workorders:list"), {"q": "nothing-like-this"}
    ).content.decode()

    assert "No workorders match these filters" in html
    assert "Clear filters" in html


def _fill(company, count):
    employees = EmployeeFactory.create_batch(3, company=company)
    services = ServiceFactory.create_batch(3, company=company)
    for index in range(count):
        workorder = WorkorderFactory(company=company)
        AssignmentFactory(workorder=workorder, employee=employees[index % 3], primary=True)
        AssignmentFactory(workorder=workorder, employee=employees[(index + 1) % 3], primary=False)
        LineItemFactory(workorder=workorder, service=services[index % 3])
        if index % 2:
            SpectoraLink.objects.create(workorder=workorder, sync_state=SyncState.SYNCED)


@pytest.mark.parametrize("count", [10, 60])
def test_the_list_costs_the_same_queries_for_10_or_60_workorders(
    office_client, company, count, django_assert_max_num_queries
):
    _fill(company, count)

    with django_assert_max_num_queries(9):
        response = office_client.get(reverse("workorders:list"))

    assert response.status_code == 200
    assert response.content.decode().count('class="wo-link"') == min(count, 25)


# -- Detail ---------------------------------------------------------------------------------


def test_the_workorder_tab_shows_schedule_client_inspectors_and_services(office_client, workorder):
    html = office_client.get(detail(workorder)).content.decode()

    assert f"WO-{workorder.number}" in html
    assert "2 h" in html
    assert "12 Elm Street" in html
    assert "Dana Whitfield" in html
    assert workorder.client_email in html
    assert "Gate code 4411" in html
    assert html.index("Pat Primary") < html.index("Sam Second")
    assert "$450.00" in html
    assert "$251.00" in html
    assert "$701.00" in html
    assert 'aria-current="page">Workorder</a>' in html


def test_a_cancelled_workorder_shows_why(office_client, company):
    cancelled = WorkorderFactory(
        company=company, status=WorkorderStatus.CANCELLED, cancel_reason="Buyer walked away"
    )

    html = office_client.get(detail(cancelled)).content.decode()

    assert "Buyer walked away" in html
    assert "chip--cancelled" in html


def test_a_workorder_says_where_it_comes_from_in_its_header(office_client, company):
    """Spectora's jobs say "From Spectora", Attik's own "Attik"; lists mark only Spectora's."""
    mirrored = WorkorderFactory(company=company, origin=Origin.SPECTORA)
    own = WorkorderFactory(company=company, origin=Origin.ATTIK)

    mirrored_html = office_client.get(detail(mirrored)).content.decode()
    own_html = office_client.get(detail(own)).content.decode()
    listed = office_client.get(reverse("workorders:list")).content.decode()

    assert '<span class="chip chip--origin" data-origin="spectora"' in mirrored_html
    assert "From Spectora" in mirrored_html
    assert 'data-origin="attik"' not in mirrored_html
    assert '<span class="chip chip--attik" data-origin="attik"' in own_html
    assert ">Attik</span>" in own_html
    assert 'data-origin="spectora"' not in own_html
    assert listed.count('data-origin="spectora"') == 1
    assert 'data-origin="attik"' not in listed


def test_the_activity_tab_lists_events_newest_first_with_their_actor(
    office_client, workorder, office_user
):
    old = ActivityEvent.objects.create(
        company=workorder.company,
        workorder=workorder,
        actor=office_user,
        verb="created",
        message="acme-office booked it.",
    )
    ActivityEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1))
    ActivityEvent.objects.create(
        company=workorder.company,
        workorder=workorder,
        actor=None,
        verb="synced",
        message="Synced to Spectora.",
    )

    html = office_client.get(detail(workorder, "activity")).content.decode()

    assert html.index("Synced to Spectora.") < html.index("acme-office booked it.")
    assert "System" in html
    assert 'aria-current="page">Activity</a>' in html


def test_the_activity_tab_has_an_empty_state(office_client, workorder):
    html = office_client.get(detail(workorder, "activity")).content.decode()

    assert "No activity yet" in html


def test_the_integrations_tab_shows_the_link_and_each_run_with_its_calls_to_admins(
    office_client, workorder, office_user, client
):
    SpectoraLink.objects.create(
        workorder=workorder,
        remote_id="insp-77",
        sync_state=SyncState.FAILED,
        last_synced_at=timezone.now(),
        last_error="Spectora said 422: bad service",
    )
    run = SyncRun.objects.create(
        company=workorder.company,
        workorder=workorder,
        requested_by=office_user,
        state="failed",
        reason="Service Radon is not mapped",
        attempts=3,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    SyncCall.objects.create(
        run=run, method="POST", path="/v2/inspections", status=422, duration_ms=38
    )

    html = office_client.get(detail(workorder, "integrations")).content.decode()

    assert "insp-77" in html
    assert "Spectora said 422: bad service" in html
    assert "chip--sync-failed" in html
    assert "Service Radon is not mapped" in html
    assert "3 attempts" in html
    assert "Actions menu" in html
    # Office staff read what the run did; the raw HTTP calls are for administrators.
    assert "/v2/inspections" not in html and "38 ms" not in html

    client.force_login(member(workorder.company, Role.ADMIN))
    html = client.get(detail(workorder, "integrations")).content.decode()
    assert "<details" in html
    assert "/v2/inspections" in html
    assert "422" in html
    assert "38 ms" in html


def test_the_integrations_tab_has_an_empty_state(office_client, workorder):
    html = office_client.get(detail(workorder, "integrations")).content.decode()

    assert "No sync runs yet" in html
    assert "Never synced" in html


def test_an_htmx_tab_request_gets_only_the_tabs(office_client, workorder):
    response = office_client.get(
        detail(workorder, "activity"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="wo-tabs"
    )

    html = response.content.decode()
    assert 'id="wo-tabs"' in html
    assert "<html" not in html
    assert 'aria-current="page">Activity</a>' in html


def test_an_unknown_tab_falls_back_to_the_workorder_tab(office_client, workorder):
    html = office_client.get(detail(workorder, "nonsense")).content.decode()

    assert 'aria-current="page">Workorder</a>' in html


# -- Actions menu ---------------------------------------------------------------------------


def _menu(client, workorder):
    html = client.get(detail(workorder)).content.decode()
    start = html.index('<details class="menu"')
    return html[start : html.index("</details>", start)]


def test_the_actions_menu_offers_spectora_disabled_and_manage_entries(office_client, workorder):
    menu = _menu(office_client, workorder)

    assert "Open Spectora job" in menu
    assert "Sync Spectora job" in menu
    assert menu.count('aria-disabled="true"') == 2
    assert "Not connected to Spectora" in menu
    for label in ("Edit", "Confirm", "Reschedule", "Cancel"):
        assert label in menu
    assert reverse("workorders:confirm", args=[workorder.pk]) in menu
    assert reverse("workorders:cancel", args=[workorder.pk]) in menu


def test_spectora_entries_offer_sync_when_the_company_is_connected(
    office_client, company, workorder
):
    connection = SpectoraConnection(company=company, state=ConnectionState.CONNECTED)
    connection.set_api_key("sandbox-key-123")
    connection.save()

    menu = _menu(office_client, workorder)

    assert reverse("spectora:workorder_sync", args=[workorder.pk]) in menu
    assert reverse("spectora:workorder_preview", args=[workorder.pk]) in menu
    assert 'data-action="force_sync_spectora"' in menu
    assert "No Spectora job yet: sync it first" in menu
    assert "Not connected to Spectora" not in menu


def test_a_confirmed_workorder_is_not_offered_confirm(office_client, company):
    confirmed = WorkorderFactory(company=company, status=WorkorderStatus.CONFIRMED)

    menu = _menu(office_client, confirmed)

    assert 'data-action="confirm"' not in menu
    assert 'data-action="edit"' in menu


def test_a_cancelled_workorder_offers_nothing_but_viewing(office_client, company):
    cancelled = WorkorderFactory(company=company, status=WorkorderStatus.CANCELLED)

    menu = _menu(office_client, cancelled)

    for action in ("edit", "confirm", "reschedule", "cancel"):
        assert f'data-action="{action}"' not in menu
    assert "Cancelled workorders can only be viewed" in menu


def test_a_spectora_origin_workorder_has_edit_and_reschedule_disabled(office_client, company):
    mirrored = WorkorderFactory(company=company, origin=Origin.SPECTORA)

    menu = _menu(office_client, mirrored)

    assert "Comes from Spectora: change it there" in menu
    assert reverse("workorders:edit", args=[mirrored.pk]) not in menu
    assert reverse("workorders:reschedule", args=[mirrored.pk]) not in menu
    assert 'data-action="confirm"' in menu


def test_a_scheduler_is_not_offered_cancel(client, scheduler_user, workorder):
    client.force_login(scheduler_user)

    menu = _menu(client, workorder)

    assert 'data-action="cancel"' not in menu
    assert 'data-action="edit"' in menu
