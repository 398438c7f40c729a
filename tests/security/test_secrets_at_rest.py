"""Pen-test item 9: secrets at rest can be rotated, and an unreadable one says so.

``ATTIK_ENCRYPTION_KEY`` is a comma-separated list (the first encrypts, all
decrypt); ``rotate_encryption_key`` re-encrypts every stored secret with the first;
a secret no key decrypts is an error with a person's message, never "".
"""

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from spectora_integration import crypto
from spectora_integration.models import RunState, SpectoraConnection
from spectora_integration.setup import services as setup
from spectora_integration.sync import runs
from tests.spectora_integration.test_sync import book, drain
from tests.spectora_integration.test_webhooks import signed_headers

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
MESSAGE = ("The stored Spectora API key cannot be decrypted with ATTIK_ENCRYPTION_KEY; "
           "an admin must enter it again.")


@pytest.fixture
def old_key_connection(settings, company):
    settings.ATTIK_ENCRYPTION_KEY = OLD
    connection = SpectoraConnection(company=company, base_url="https://connect.spectora.com")
    connection.set_api_key("the-api-key-1234")
    connection.set_webhook_secret("whsec_b2xkLXNlY3JldA==")
    connection.set_webhook_secret("whsec_bmV3LXNlY3JldA==")
    connection.save()
    return connection


def stored(connection):
    connection.refresh_from_db()
    return (connection.api_key_encrypted, connection.webhook_secret_encrypted,
            connection.previous_webhook_secret_encrypted)


@pytest.mark.django_db
def test_a_key_list_encrypts_with_the_first_and_decrypts_with_all(settings, old_key_connection):
    settings.ATTIK_ENCRYPTION_KEY = f"{NEW}, {OLD}"
    connection = SpectoraConnection.objects.get(pk=old_key_connection.pk)
    assert connection.api_key == "the-api-key-1234"
    token = crypto.encrypt("fresh")
    assert Fernet(NEW.encode()).decrypt(token.encode()) == b"fresh"


@pytest.mark.django_db
def test_rotate_encryption_key_reencrypts_every_secret_with_the_first_key(settings,
                                                                         old_key_connection):
    before = stored(old_key_connection)
    settings.ATTIK_ENCRYPTION_KEY = f"{NEW},{OLD}"
    call_command("rotate_encryption_key", stdout=open("/dev/null", "w"))  # noqa: SIM115
    after = stored(old_key_connection)
    assert all(a and a != b for a, b in zip(after, before, strict=True))
    new_only = Fernet(NEW.encode())
    assert [new_only.decrypt(t.encode()).decode() for t in after] == [
        "the-api-key-1234", "whsec_bmV3LXNlY3JldA==", "whsec_b2xkLXNlY3JldA==",
    ]
    settings.ATTIK_ENCRYPTION_KEY = NEW  # the old key can now be dropped
    connection = SpectoraConnection.objects.get(pk=old_key_connection.pk)
    assert connection.api_key == "the-api-key-1234"
    assert connection.webhook_secrets == ["whsec_bmV3LXNlY3JldA==", "whsec_b2xkLXNlY3JldA=="]


@pytest.mark.django_db
def test_rotation_reports_a_secret_no_key_decrypts_and_rotates_the_rest(settings, company,
                                                                       other_company,
                                                                       old_key_connection):
    settings.ATTIK_ENCRYPTION_KEY = Fernet.generate_key().decode()
    lost = SpectoraConnection(company=other_company, base_url="https://connect.spectora.com")
    lost.set_api_key("other-key-5678")
    lost.save()
    settings.ATTIK_ENCRYPTION_KEY = f"{NEW},{OLD}"
    with pytest.raises(CommandError, match="cannot be decrypted") as raised:
        call_command("rotate_encryption_key", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert str(other_company) in str(raised.value)
    assert "other-key-5678" not in str(raised.value)
    settings.ATTIK_ENCRYPTION_KEY = NEW
    assert SpectoraConnection.objects.get(pk=old_key_connection.pk).api_key == "the-api-key-1234"


@pytest.mark.django_db
def test_an_unreadable_secret_raises_a_persons_message_not_an_empty_string(settings,
                                                                          old_key_connection):
    settings.ATTIK_ENCRYPTION_KEY = NEW
    connection = SpectoraConnection.objects.get(pk=old_key_connection.pk)
    with pytest.raises(crypto.SecretUnreadable) as raised:
        connection.api_key  # noqa: B018
    assert raised.value.message == MESSAGE
    with pytest.raises(crypto.SecretUnreadable, match="webhook secret"):
        connection.webhook_secrets  # noqa: B018
    assert setup.connection_test(connection).message == MESSAGE


@pytest.mark.django_db
@pytest.mark.usefixtures("queued")  # no broker: the test runs the sync itself
def test_a_sync_with_an_unreadable_key_fails_with_that_message_and_sends_nothing(
        settings, spectora, admin_user):
    wo = book(spectora)
    settings.ATTIK_ENCRYPTION_KEY = NEW  # the key the connection was saved with is gone
    runs.sync_request(wo, admin_user)
    run = drain(wo)
    assert run.state == RunState.FAILED
    assert run.reason == MESSAGE
    assert run.reason_code == "secret_unreadable"
    assert spectora.requests_log() == []
    link = wo.spectora_link
    link.refresh_from_db()
    assert link.last_error == MESSAGE


@pytest.mark.django_db
def test_the_connection_page_tells_the_admin(settings, old_key_connection, admin_user):
    settings.ATTIK_ENCRYPTION_KEY = NEW
    client = Client()
    client.force_login(admin_user)
    response = client.post(reverse("spectora:connection_test"), follow=True)
    assert response.status_code == 200
    assert MESSAGE in response.content.decode()


@pytest.mark.django_db
def test_a_webhook_whose_secret_is_unreadable_is_refused_and_logged(settings, old_key_connection,
                                                                   caplog):
    settings.ATTIK_ENCRYPTION_KEY = NEW
    body = b'{"type": "inspection.updated", "data": {"id": "insp-1"}}'
    response = Client().post(
        f"/api/spectora/webhooks/{old_key_connection.pk}/", body,
        content_type="application/json",
        **{f"HTTP_{k.upper().replace('-', '_')}": v
           for k, v in signed_headers("whsec_bmV3LXNlY3JldA==", body).items()},
    )
    assert response.status_code == 401
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("Spectora webhook secret cannot be decrypted" in r.getMessage() for r in errors)
