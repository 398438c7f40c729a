"""Pen-test item 10: API tokens are stored hashed, expire, can be revoked, and the
token endpoint is locked out like the sign-in page; the API schema and docs need
a signed-in user outside demo mode.

``POST /api/v1/auth/token/`` → ``{"token"}`` and ``Authorization: Token <key>``
(the shapes in /api/schema/) keep their shapes.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import PASSWORD
from workorders import tokens

TOKEN_URL = "/api/v1/auth/token/"


def sign_in(user, password=PASSWORD):
    return APIClient().post(TOKEN_URL, {"username": user.username, "password": password},
                            format="json")


def with_token(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.mark.django_db
def test_a_token_works_with_the_token_header_and_only_its_hash_is_stored(office_user):
    response = sign_in(office_user)
    assert response.status_code == 200
    token = response.json()["token"]
    assert with_token(token).get("/api/v1/workorders/").status_code == 200
    stored = repr(list(AuthToken.objects.values()))
    assert token not in stored
    assert token[len("attik_"):] not in stored
    assert AuthToken.objects.get(user=office_user).digest != token
    assert with_token(token + "x").get("/api/v1/workorders/").status_code == 401


@pytest.mark.django_db
def test_a_token_expires(settings, office_user):
    response = sign_in(office_user)
    token, expiry = response.json()["token"], response.json()["expiry"]
    assert expiry is not None
    row = AuthToken.objects.get(user=office_user)
    assert timezone.now() + timedelta(hours=23) < row.expiry <= timezone.now() + timedelta(hours=24)
    AuthToken.objects.filter(pk=row.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    assert with_token(token).get("/api/v1/workorders/").status_code == 401


@pytest.mark.django_db
def test_a_user_revokes_a_token_or_all_of_them(office_user):
    first, second, third = (sign_in(office_user).json()["token"] for _ in range(3))
    assert with_token(first).post("/api/v1/auth/token/revoke/").status_code == 204
    assert with_token(first).get("/api/v1/workorders/").status_code == 401
    assert with_token(second).get("/api/v1/workorders/").status_code == 200
    assert with_token(second).post("/api/v1/auth/token/revoke-all/").status_code == 204
    assert with_token(second).get("/api/v1/workorders/").status_code == 401
    assert with_token(third).get("/api/v1/workorders/").status_code == 401
    assert not AuthToken.objects.filter(user=office_user).exists()


@pytest.mark.django_db
def test_issuing_a_token_clears_the_users_expired_ones(office_user):
    old, _ = tokens.token_issue(office_user)
    AuthToken.objects.filter(pk=old.pk).update(expiry=timezone.now() - timedelta(hours=1))
    sign_in(office_user)
    assert AuthToken.objects.filter(user=office_user).count() == 1
    assert not AuthToken.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
def test_a_locked_out_sign_in_on_the_token_endpoint_answers_429(settings, office_user):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    assert sign_in(office_user, "wrong").status_code == 400
    for _ in range(2):
        sign_in(office_user, "wrong")
    locked = sign_in(office_user)
    assert locked.status_code == 429
    assert "token" not in locked.content.decode()
    assert not AuthToken.objects.filter(user=office_user).exists()


@pytest.mark.django_db
def test_the_api_schema_and_docs_need_a_signed_in_user_outside_demo_mode(settings, office_user,
                                                                         client):
    settings.ATTIK_DEMO_MODE = False
    anonymous = APIClient()
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    docs = client.get("/api/docs/")
    assert docs.status_code == 302
    assert docs["Location"].startswith("/login/")
    token = sign_in(office_user).json()["token"]
    assert with_token(token).get("/api/schema/").status_code == 200
    client.force_login(office_user)
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.django_db
def test_the_demo_keeps_its_api_docs_public(settings, client):
    settings.ATTIK_DEMO_MODE = True
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200
