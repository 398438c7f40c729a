"""Admin-only Spectora setup pages: connection, staff links, service mapping.

Against the sandbox over real HTTP wherever Spectora is involved.
"""

import logging

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from spectora_integration.client import SpectoraClient
from spectora_integration.models import ConnectionState, SpectoraConnection
from spectora_integration.setup import services as setup
from tests.factories import EmployeeFactory, ReportTypeFactory, ServiceFactory
from workorders.errors import ValidationFailed
from workorders.models import ActivityEvent, Employee

pytestmark = pytest.mark.django_db

CONNECTED_5 = "Connected: Spectora answered with 5 inspectors."
REFUSED_KEY = "Spectora refused the API key (401). Check the key in Spectora under Settings > API."

PAGES = ["spectora:connection", "spectora:staff", "spectora:services"]
POSTS = [
    "spectora:connection",
    "spectora:connection_test",
    "spectora:connection_disconnect",
    "spectora:staff_link",
    "spectora:staff_unlink",
    "spectora:staff_create",
    "spectora:services",
]


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def toasts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def connect(client, sandbox, **extra):
    data = {"base_url": sandbox.url, "api_key": sandbox.api_key, "rate_limit_per_second": 50}
    data.update(extra)
    return client.post(reverse("spectora:connection"), data)


def html(client, name) -> str:
    response = client.get(reverse(name))
    assert response.status_code == 200
    return response.content.decode()


# -- Connection -----------------------------------------------------------------------------


def test_connecting_with_the_sandbox_address_and_key_tests_it_and_finds_five_inspectors(
    admin_client, company, sandbox
):
    response = connect(admin_client, sandbox)

    assert response.status_code == 302
    assert response.url == reverse("spectora:connection")
    assert toasts(response) == [f"Saved the Spectora connection. {CONNECTED_5}"]
    connection = SpectoraConnection.objects.get(company=company)
    assert connection.state == ConnectionState.CONNECTED
    assert connection.api_key == "sandbox-key"
    assert connection.base_url == sandbox.url
    assert connection.rate_limit_per_second == 50
    assert connection.last_checked_at is not None
    assert connection.last_error == ""


def test_the_test_connection_button_reports_five_inspectors(admin_client, spectora):
    spectora.connection.state = ConnectionState.FAILING
    spectora.connection.save()

    response = admin_client.post(reverse("spectora:connection_test"))

    assert response.status_code == 302
    assert toasts(response) == [CONNECTED_5]
    spectora.connection.refresh_from_db()
    assert spectora.connection.state == ConnectionState.CONNECTED
    assert ActivityEvent.objects.filter(verb="spectora_connection_tested").exists()


def test_a_wrong_key_shows_the_401_message_and_marks_the_connection_failing(
    admin_client, company, sandbox
):
    response = connect(admin_client, sandbox, api_key="not-the-key")

    assert response.status_code == 302
    assert toasts(response) == [
        f"Saved the Spectora connection, but the test failed. {REFUSED_KEY}"
    ]
    connection = SpectoraConnection.objects.get(company=company)
    assert connection.state == ConnectionState.FAILING
    assert connection.last_error == REFUSED_KEY
    page = html(admin_client, "spectora:connection")
    assert "Failing" in page
    assert "Settings &gt; API" in page


def test_an_unreachable_address_says_so_without_a_server_error(admin_client, company, settings):
    settings.ATTIK_DEMO_MODE = True
    response = admin_client.post(
        reverse("spectora:connection"), {"base_url": "http://127.0.0.1:9", "api_key": "abcd-1234"}
    )

    assert response.status_code == 302
    message = "Could not reach Spectora at http://127.0.0.1:9: check the address."
    assert toasts(response) == [f"Saved the Spectora connection, but the test failed. {message}"]
    connection = SpectoraConnection.objects.get(company=company)
    assert connection.state == ConnectionState.FAILING
    assert admin_client.post(reverse("spectora:connection_test")).status_code == 302


def test_a_slow_spectora_is_reported_as_not_answering_in_time(spectora, monkeypatch):
    spectora.faults({"method": "GET", "path": "/v2/inspectors*", "mode": "timeout",
                     "delay_ms": 1500})
    quick = SpectoraClient.for_connection.__func__

    def impatient(cls, connection, **kwargs):
        return quick(cls, connection, timeout=(1.0, 0.3), **kwargs)

    monkeypatch.setattr(SpectoraClient, "for_connection", classmethod(impatient))

    result = setup.connection_test(spectora.connection)

    assert result == setup.TestResult(False, "Spectora did not answer in time.")
    spectora.connection.refresh_from_db()
    assert spectora.connection.state == ConnectionState.FAILING


@pytest.mark.parametrize(
    "base_url",
    ["http://connect.spectora.com", "file:///etc/passwd", "https://u:p@connect.spectora.com",
     "https://10.1.2.3", "https://169.254.169.254"],
)
def test_an_address_that_is_not_allowed_is_refused_and_nothing_is_saved(
    admin_client, company, base_url
):
    response = admin_client.post(
        reverse("spectora:connection"), {"base_url": base_url, "api_key": "typed-key-98765"}
    )

    assert response.status_code == 200
    assert "Nothing was saved" in response.content.decode()
    assert "field--error" in response.content.decode()
    assert not SpectoraConnection.objects.filter(company=company).exists()


def test_http_to_the_sandbox_is_refused_outside_demo_mode(admin_client, company, sandbox, settings):
    settings.ATTIK_DEMO_MODE = False

    response = connect(admin_client, sandbox)

    assert response.status_code == 200
    assert "Use https://" in response.content.decode()
    assert not SpectoraConnection.objects.filter(company=company).exists()


def test_a_new_connection_needs_an_api_key(admin_client, company, sandbox):
    response = connect(admin_client, sandbox, api_key="")

    assert response.status_code == 200
    assert "Enter the API key from Spectora" in response.content.decode()
    assert not SpectoraConnection.objects.filter(company=company).exists()


def test_an_empty_key_keeps_the_saved_one(admin_client, spectora):
    response = connect(admin_client, spectora.sandbox, api_key="", rate_limit_per_second=7)

    assert toasts(response) == [f"Saved the Spectora connection. {CONNECTED_5}"]
    spectora.connection.refresh_from_db()
    assert spectora.connection.api_key == "sandbox-key"
    assert spectora.connection.rate_limit_per_second == 7


def test_a_new_address_needs_the_key_typed_again(admin_client, spectora, settings):
    settings.ATTIK_DEMO_MODE = True
    response = admin_client.post(
        reverse("spectora:connection"), {"base_url": "https://attacker.example.com", "api_key": ""}
    )

    assert response.status_code == 200
    assert "Enter the API key again" in response.content.decode()
    spectora.connection.refresh_from_db()
    assert spectora.connection.base_url == spectora.sandbox.url


def test_a_webhook_secret_must_look_like_one(admin_client, spectora):
    response = connect(admin_client, spectora.sandbox, webhook_secret="hunter2")

    assert response.status_code == 200
    assert "starts with whsec_" in response.content.decode()
    assert "hunter2" not in response.content.decode()


def test_a_new_webhook_secret_replaces_the_old_one_and_keeps_it_for_rotation(
    admin_client, spectora
):
    old = spectora.sandbox.webhook_secret
    connect(admin_client, spectora.sandbox, webhook_secret="whsec_bmV3LXNlY3JldC1ieXRlcw==")

    spectora.connection.refresh_from_db()
    assert spectora.connection.webhook_secrets == ["whsec_bmV3LXNlY3JldC1ieXRlcw==", old]


def test_the_key_is_shown_only_as_its_last_four_characters_on_every_page(admin_client, spectora):
    for name in PAGES:
        page = html(admin_client, name)
        assert "sandbox-key" not in page
        assert spectora.sandbox.webhook_secret not in page
        assert spectora.connection.api_key_encrypted not in page
    page = html(admin_client, "spectora:connection")
    assert "…-key" in page
    assert 'type="password" name="api_key"' in page
    assert 'type="password" name="webhook_secret"' in page
    for field in ("api_key", "webhook_secret"):
        tag = page.split(f'name="{field}"')[1].split(">")[0]
        assert "value=" not in tag


def test_a_key_typed_into_a_form_that_fails_is_not_shown_back(admin_client, company):
    response = admin_client.post(
        reverse("spectora:connection"),
        {"base_url": "http://connect.spectora.com", "api_key": "typed-secret-4242",
         "webhook_secret": "whsec_dHlwZWQtc2VjcmV0"},
    )

    page = response.content.decode()
    assert "typed-secret-4242" not in page
    assert "whsec_dHlwZWQtc2VjcmV0" not in page


def test_the_key_is_never_logged_or_put_in_the_activity_feed(
    admin_client, company, sandbox, caplog
):
    caplog.set_level(logging.DEBUG)

    connect(admin_client, sandbox, api_key="sandbox-key")
    admin_client.post(reverse("spectora:connection_test"))
    connect(admin_client, sandbox, api_key="wrong-key-0000")

    assert "sandbox-key" not in caplog.text
    assert "wrong-key-0000" not in caplog.text
    events = ActivityEvent.objects.filter(company=company)
    assert events.filter(verb="spectora_connection_saved").count() == 2
    for event in events:
        assert "sandbox-key" not in event.message + str(event.data)
        assert "wrong-key-0000" not in event.message + str(event.data)


def test_disconnect_forgets_the_key_and_the_secret(admin_client, spectora):
    response = admin_client.post(reverse("spectora:connection_disconnect"))

    assert response.status_code == 302
    assert toasts(response)[0].startswith("Disconnected from Spectora.")
    spectora.connection.refresh_from_db()
    assert spectora.connection.state == ConnectionState.DISCONNECTED
    assert spectora.connection.api_key == ""
    assert spectora.connection.webhook_secrets == []
    assert not spectora.connection.is_connected
    assert "Not connected" in html(admin_client, "spectora:connection")


def test_the_connection_page_without_a_connection_invites_to_connect(admin_client):
    page = html(admin_client, "spectora:connection")

    assert "not connected to Spectora yet" in page
    assert "https://connect.spectora.com" in page
    assert "Test connection" not in page


def test_reading_a_page_changes_nothing_and_actions_refuse_get(admin_client, spectora):
    for name in ("spectora:connection_test", "spectora:connection_disconnect",
                 "spectora:staff_link", "spectora:staff_unlink", "spectora:staff_create"):
        assert admin_client.get(reverse(name)).status_code == 405
    spectora.connection.refresh_from_db()
    assert spectora.connection.is_connected


def test_posts_need_a_csrf_token(admin_user, spectora):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)

    response = strict.post(reverse("spectora:connection_disconnect"))

    assert response.status_code == 403
    spectora.connection.refresh_from_db()
    assert spectora.connection.is_connected


# -- Staff ----------------------------------------------------------------------------------


def test_the_staff_page_lists_spectoras_five_inspectors_beside_attik_employees(
    admin_client, spectora
):
    page = html(admin_client, "spectora:staff")

    for n, name in enumerate(
        ["Maria Lopez", "James Carter", "Priya Shah", "Tom Becker", "Dana Whitfield"], start=1
    ):
        assert f"insp-{n}" in page
        assert name in page
    for employee in spectora.inspectors:
        assert employee.name in page
    assert "Spectora inspectors (5)" in page
    assert "Attik employees not linked to Spectora (1)" in page
    assert spectora.unlinked.name in page
    assert 'name="inspector_id" value="insp-5"' in page
    assert "Create employee" in page
    assert page.count(">Unlink</button>") == 4


def test_linking_an_inspector_to_an_unlinked_employee(admin_client, spectora, admin_user):
    response = admin_client.post(
        reverse("spectora:staff_link"),
        {"inspector_id": "insp-5", "employee": spectora.unlinked.pk},
    )

    assert response.status_code == 302
    assert response.url == reverse("spectora:staff")
    assert toasts(response)[0] == (
        f"Linked {spectora.unlinked.name} to Spectora inspector "
        "Dana Whitfield (dana.whitfield@example.com)."
    )
    spectora.unlinked.refresh_from_db()
    assert spectora.unlinked.spectora_inspector_id == "insp-5"
    event = ActivityEvent.objects.get(verb="spectora_staff_linked")
    assert event.actor == admin_user
    assert "Attik employees not linked to Spectora (0)" in html(admin_client, "spectora:staff")


def test_an_inspector_already_linked_cannot_be_linked_twice(admin_client, spectora):
    response = admin_client.post(
        reverse("spectora:staff_link"),
        {"inspector_id": "insp-1", "employee": spectora.unlinked.pk},
    )

    assert toasts(response)[0].startswith("Nothing changed. Spectora inspector insp-1 is already")
    spectora.unlinked.refresh_from_db()
    assert spectora.unlinked.spectora_inspector_id is None


def test_an_inspector_spectora_does_not_list_cannot_be_linked(admin_client, spectora):
    response = admin_client.post(
        reverse("spectora:staff_link"),
        {"inspector_id": "insp-99", "employee": spectora.unlinked.pk},
    )

    assert "Spectora does not list that inspector" in toasts(response)[0]
    spectora.unlinked.refresh_from_db()
    assert spectora.unlinked.spectora_inspector_id is None


def test_unlinking_an_employee(admin_client, spectora):
    employee = spectora.inspectors[0]

    response = admin_client.post(reverse("spectora:staff_unlink"), {"employee": employee.pk})

    assert toasts(response) == [f"Unlinked {employee.name} from Spectora."]
    employee.refresh_from_db()
    assert employee.spectora_inspector_id is None
    assert ActivityEvent.objects.filter(verb="spectora_staff_unlinked").count() == 1
    assert "Attik employees not linked to Spectora (2)" in html(admin_client, "spectora:staff")


def test_creating_an_employee_from_an_inspector(admin_client, spectora, company):
    response = admin_client.post(reverse("spectora:staff_create"), {"inspector_id": "insp-5"})

    created = Employee.objects.get(company=company, spectora_inspector_id="insp-5")
    assert created.name == "Dana Whitfield"
    assert created.email == "dana.whitfield@example.com"
    assert toasts(response) == [
        "Created employee Dana Whitfield, linked to Spectora inspector insp-5."
    ]
    again = admin_client.post(reverse("spectora:staff_create"), {"inspector_id": "insp-5"})
    assert "already linked to Dana Whitfield" in toasts(again)[-1]
    assert Employee.objects.filter(company=company, name="Dana Whitfield").count() == 1


def test_an_employee_linked_to_an_inspector_spectora_no_longer_lists_is_flagged(
    admin_client, spectora, company
):
    EmployeeFactory(company=company, name="Gone Inspector", spectora_inspector_id="insp-42")

    page = html(admin_client, "spectora:staff")

    assert "Linked to an inspector Spectora no longer lists (1)" in page
    assert "insp-42 not found" in page


def test_without_a_connection_the_staff_page_explains_and_links_to_the_connection_page(
    admin_client, company
):
    EmployeeFactory(company=company, name="Pat Local")

    page = html(admin_client, "spectora:staff")

    assert "not connected to Spectora yet" in page
    assert f'href="{reverse("spectora:connection")}"' in page
    assert "Pat Local" in page


def test_when_spectora_refuses_the_key_the_staff_page_explains(admin_client, spectora):
    spectora.connection.set_api_key("revoked-key-1234")
    spectora.connection.save()

    page = html(admin_client, "spectora:staff")

    assert "could not load Spectora&#x27;s inspectors" in page
    assert "(401)" in page
    assert f'href="{reverse("spectora:connection")}"' in page


def test_linking_while_spectora_is_unreachable_changes_nothing(admin_client, spectora):
    spectora.connection.base_url = "http://127.0.0.1:9"
    spectora.connection.save()

    response = admin_client.post(
        reverse("spectora:staff_link"),
        {"inspector_id": "insp-5", "employee": spectora.unlinked.pk},
    )

    assert response.status_code == 302
    assert "Could not reach Spectora at http://127.0.0.1:9" in toasts(response)[0]
    spectora.unlinked.refresh_from_db()
    assert spectora.unlinked.spectora_inspector_id is None
    page = html(admin_client, "spectora:staff")
    assert "Could not reach Spectora" in page


def test_a_saved_sandbox_address_is_not_called_once_demo_mode_is_off(
    admin_client, spectora, settings
):
    settings.ATTIK_DEMO_MODE = False

    page = html(admin_client, "spectora:staff")

    assert "Attik will not call the saved address." in page
    assert spectora.requests_log() == []
    assert not setup.connection_test(spectora.connection).ok
    assert spectora.requests_log() == []


# -- Services -------------------------------------------------------------------------------


def mapping_post(form_page: str, **changes) -> dict:
    """Every select on the page with its current value, then ``changes``."""
    import re

    data = {}
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form_page, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', body)
        data[name] = chosen.group(1) if chosen else ""
    data.update(changes)
    return data


def test_the_services_page_offers_spectoras_services_and_templates_and_marks_unmapped(
    admin_client, spectora
):
    page = html(admin_client, "spectora:services")

    for n in range(1, 9):
        assert f'value="svc-{n}"' in page
    for n in range(1, 5):
        assert f'value="tpl-{n}"' in page
    assert "Radon Test (add-on, $150.00)" in page
    assert spectora.unmapped.name in page
    assert page.count("chip--missing") == 1
    data = mapping_post(page)
    assert data[f"service_{spectora.services[0].pk}"] == "svc-1"
    assert data[f"service_{spectora.unmapped.pk}"] == ""


def test_saving_maps_a_service_and_a_report_type(admin_client, spectora, company, admin_user):
    report_type = ReportTypeFactory(company=company, name="Radon report")
    spectora.unmapped.report_types.add(report_type)
    page = html(admin_client, "spectora:services")
    assert page.count("chip--missing") == 2

    response = admin_client.post(
        reverse("spectora:services"),
        mapping_post(page, **{f"service_{spectora.unmapped.pk}": "svc-5",
                              f"report_type_{report_type.pk}": "tpl-2"}),
    )

    assert response.status_code == 302
    assert toasts(response) == ["Saved the service mapping: 2 changes."]
    spectora.unmapped.refresh_from_db()
    report_type.refresh_from_db()
    assert spectora.unmapped.spectora_service_id == "svc-5"
    assert report_type.spectora_template_id == "tpl-2"
    for service in spectora.services:
        before = service.spectora_service_id
        service.refresh_from_db()
        assert service.spectora_service_id == before
    verbs = set(ActivityEvent.objects.filter(actor=admin_user).values_list("verb", flat=True))
    assert verbs == {"spectora_service_mapped", "spectora_report_type_mapped"}
    assert "chip--missing" not in html(admin_client, "spectora:services")


def test_saving_an_unchanged_page_changes_nothing(admin_client, spectora):
    page = html(admin_client, "spectora:services")

    response = admin_client.post(reverse("spectora:services"), mapping_post(page))

    assert toasts(response) == ["Nothing to save: the mapping was already like this."]
    assert not ActivityEvent.objects.exists()


def test_choosing_not_mapped_unmaps_and_a_missing_select_changes_nothing(admin_client, spectora):
    first, second = spectora.services[:2]

    admin_client.post(reverse("spectora:services"), {f"service_{first.pk}": ""})

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.spectora_service_id is None
    assert second.spectora_service_id == "svc-2"


def test_a_service_id_spectora_does_not_list_is_refused(admin_client, spectora):
    response = admin_client.post(
        reverse("spectora:services"), {f"service_{spectora.unmapped.pk}": "svc-99"}
    )

    assert response.status_code == 200
    assert "Nothing was saved" in response.content.decode()
    spectora.unmapped.refresh_from_db()
    assert spectora.unmapped.spectora_service_id is None


def test_without_a_connection_the_services_page_explains_and_links_to_the_connection_page(
    admin_client, company
):
    ServiceFactory(company=company, name="Full home")

    page = html(admin_client, "spectora:services")

    assert "not connected to Spectora yet" in page
    assert f'href="{reverse("spectora:connection")}"' in page
    assert "Full home" in page
    response = admin_client.post(reverse("spectora:services"), {})
    assert response.status_code == 302
    assert toasts(response)[0].startswith("Nothing was saved.")


def test_service_map_also_maps_the_services_own_report_types(spectora, company):
    service = spectora.services[0]
    report_type = service.report_types.get()

    changed = setup.service_map(service, "svc-2", {report_type.pk: None})

    assert changed == 2
    service.refresh_from_db()
    report_type.refresh_from_db()
    assert service.spectora_service_id == "svc-2"
    assert report_type.spectora_template_id is None
    with pytest.raises(ValidationFailed):
        setup.service_map(service, "svc-2", {ReportTypeFactory(company=company).pk: "tpl-1"})


# -- Roles ----------------------------------------------------------------------------------


@pytest.fixture(params=["office_user", "scheduler_user"])
def non_admin_client(request, client):
    client.force_login(request.getfixturevalue(request.param))
    return client


@pytest.mark.parametrize("name", PAGES)
def test_office_staff_and_schedulers_get_403_on_every_page(non_admin_client, name):
    response = non_admin_client.get(reverse(name))

    assert response.status_code == 403
    assert "Only administrators can set up Spectora" in response.content.decode()


@pytest.mark.parametrize("name", POSTS)
def test_office_staff_and_schedulers_get_403_on_every_post_and_nothing_changes(
    non_admin_client, spectora, name
):
    response = non_admin_client.post(
        reverse(name),
        {"base_url": "https://connect.spectora.com", "api_key": "new-key-5555",
         "inspector_id": "insp-5", "employee": spectora.inspectors[0].pk,
         f"service_{spectora.unmapped.pk}": "svc-5"},
    )

    assert response.status_code == 403
    spectora.connection.refresh_from_db()
    assert spectora.connection.is_connected
    assert spectora.connection.api_key == "sandbox-key"
    assert Employee.objects.filter(spectora_inspector_id__isnull=False).count() == 4
    spectora.unmapped.refresh_from_db()
    assert spectora.unmapped.spectora_service_id is None
    assert not ActivityEvent.objects.exists()


@pytest.mark.parametrize("name", PAGES + POSTS)
def test_signed_out_visitors_are_sent_to_the_login_page(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# -- Tenancy --------------------------------------------------------------------------------


def test_another_companys_employee_cannot_be_linked(admin_client, spectora, other_company):
    theirs = EmployeeFactory(company=other_company)

    response = admin_client.post(
        reverse("spectora:staff_link"), {"inspector_id": "insp-5", "employee": theirs.pk}
    )

    assert response.status_code == 302
    assert toasts(response)[0].startswith("Nothing changed.")
    theirs.refresh_from_db()
    assert theirs.spectora_inspector_id is None


def test_another_companys_employee_cannot_be_unlinked(admin_client, spectora, other_company):
    theirs = EmployeeFactory(company=other_company, spectora_inspector_id="insp-1")

    response = admin_client.post(reverse("spectora:staff_unlink"), {"employee": theirs.pk})

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.spectora_inspector_id == "insp-1"


def test_another_companys_service_and_report_type_cannot_be_mapped(
    admin_client, spectora, other_company
):
    service = ServiceFactory(company=other_company)
    report_type = ReportTypeFactory(company=other_company)

    response = admin_client.post(
        reverse("spectora:services"),
        {f"service_{service.pk}": "svc-1", f"report_type_{report_type.pk}": "tpl-1"},
    )

    assert response.status_code == 302
    service.refresh_from_db()
    report_type.refresh_from_db()
    assert service.spectora_service_id is None
    assert report_type.spectora_template_id is None
    assert not ActivityEvent.objects.filter(company=other_company).exists()
    with pytest.raises(ValidationFailed):
        setup.mapping_save(spectora.connection.company, services={service.pk: "svc-1"},
                           report_types={}, user=None)
    service.refresh_from_db()
    assert service.spectora_service_id is None


def test_each_admin_sees_only_their_own_companys_connection(client, spectora, other_admin):
    client.force_login(other_admin)

    page = html(client, "spectora:connection")

    assert spectora.sandbox.url not in page
    assert "…-key" not in page
    assert "not connected to Spectora yet" in page
    staff_page = html(client, "spectora:staff")
    assert spectora.inspectors[0].name not in staff_page
