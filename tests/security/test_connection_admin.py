"""Pen-test item 2: the Django admin must not change the Spectora connection.

The admin once saved ``base_url=http://127.0.0.2:8799`` with state ``connected``
and the next sync sent the API key there. The connection changes only through
the setup pages (``setup/services.py::connection_save``); the admin shows it.
"""

import pytest
from django.test import Client

from spectora_integration.models import ConnectionState, SpectoraConnection
from tests.factories import UserFactory, member
from workorders.models import Role

CHANGE = "/admin/spectora_integration/spectoraconnection/{}/change/"
ADD = "/admin/spectora_integration/spectoraconnection/add/"
DELETE = "/admin/spectora_integration/spectoraconnection/{}/delete/"
LIST = "/admin/spectora_integration/spectoraconnection/"


@pytest.fixture
def connection(company):
    connection = SpectoraConnection(
        company=company, base_url="https://connect.spectora.com",
        state=ConnectionState.CONNECTED, rate_limit_per_second=10,
    )
    connection.set_api_key("the-real-api-key-1234")
    connection.set_webhook_secret("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    connection.save()
    return connection


def snapshot(connection):
    connection.refresh_from_db()
    return {
        f.attname: getattr(connection, f.attname)
        for f in SpectoraConnection._meta.concrete_fields
    }


@pytest.fixture(params=["superuser", "company_admin"])
def admin_client(request, company):
    if request.param == "superuser":
        user = UserFactory(is_staff=True, is_superuser=True)
    else:
        user = member(company, Role.ADMIN, username="acme-admin-site")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_an_admin_post_of_a_changed_address_changes_nothing(admin_client, connection, company):
    before = snapshot(connection)
    response = admin_client.post(CHANGE.format(connection.pk), {
        "company": company.pk,
        "base_url": "http://127.0.0.2:8799",
        "state": "connected",
        "rate_limit_per_second": 1000000,
        "_save": "Save",
    })
    assert response.status_code in (302, 403)  # 302 only to the read-only view
    assert snapshot(connection) == before
    response = admin_client.post(CHANGE.format(connection.pk), {
        "base_url": "http://169.254.169.254/latest", "state": "connected",
    })
    assert snapshot(connection) == before


@pytest.mark.django_db
def test_the_admin_can_neither_add_nor_delete_a_connection(admin_client, connection, company):
    before = snapshot(connection)
    assert admin_client.get(ADD).status_code == 403
    assert admin_client.post(ADD, {
        "company": company.pk, "base_url": "http://169.254.169.254/latest",
        "state": "connected", "rate_limit_per_second": 5,
    }).status_code == 403
    assert admin_client.post(DELETE.format(connection.pk), {"post": "yes"}).status_code == 403
    assert admin_client.post(LIST, {
        "action": "delete_selected", "_selected_action": [connection.pk], "post": "yes",
    }).status_code in (200, 302)
    assert SpectoraConnection.objects.count() == 1
    assert snapshot(connection) == before


@pytest.mark.django_db
def test_the_admin_shows_the_connection_read_only_without_its_secrets(admin_client, connection):
    page = admin_client.get(CHANGE.format(connection.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="base_url"' not in html
    assert 'name="state"' not in html
    assert 'name="rate_limit_per_second"' not in html
    assert "https://connect.spectora.com" in html
    assert "…1234" in html
    for secret in ("the-real-api-key-1234", connection.api_key_encrypted,
                   connection.webhook_secret_encrypted, "c2VjcmV0LXNlY3JldC1zZWNyZXQ="):
        assert secret not in html
    assert "/spectora/connection/" in html  # where to change it
