"""Idempotency-Key on POST /api/v1/workorders/ (pen test, item 7).

The same key with the same body answers the first workorder again; with a different body
it is 422 ``idempotency_key_reused`` and nothing is booked; a key over 255 characters is
400; a key is kept 24 hours, after which it may be used again.
"""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import EmployeeFactory, ServiceFactory, member
from workorders import services
from workorders.models import IdempotencyKey, Role, Workorder

pytestmark = pytest.mark.django_db
URL = "/api/v1/workorders/"


@pytest.fixture
def api(office_user):
    client = APIClient()
    client.force_authenticate(office_user)
    return client


@pytest.fixture
def body(company):
    employee = EmployeeFactory(company=company)
    service = ServiceFactory(company=company, price_cents=40000)
    return {
        "scheduled_at": (timezone.now() + timedelta(days=2)).replace(microsecond=0).isoformat(),
        "duration_minutes": 120,
        "address": "1 Oak St",
        "client_name": "Casey Nguyen",
        "assignees": [{"employee": employee.pk, "primary": True}],
        "line_items": [{"service": service.pk, "quantity": 1}],
    }


def post(api, body, key):
    return api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_answers_the_first_workorder(api, body):
    first = post(api, body, "k-1")
    again = post(api, body, "k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["number"] == first.json()["number"]
    assert Workorder.objects.count() == 1


def test_the_same_body_written_differently_is_the_same_body(api, body):
    first = post(api, body, "k-1")
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = api.post(URL, reordered, content_type="application/json",
                     HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize("change", [
    {"address": "2 Other Road"},
    {"client_name": "Someone Else"},
    {"line_items": []},
    {"address": ""},  # even an invalid second body: the key is what was reused
])
def test_the_same_key_with_another_body_is_422_and_books_nothing(api, body, change):
    first = post(api, body, "k-1")
    second = post(api, {**body, **change}, "k-1")
    assert second.status_code == 422, second.content
    assert second.json()["code"] == "idempotency_key_reused"
    assert Workorder.objects.count() == 1
    workorder = Workorder.objects.get()
    assert (workorder.pk, workorder.address, workorder.client_name) == (
        first.json()["id"], "1 Oak St", "Casey Nguyen",
    )


def test_a_key_over_255_characters_is_400_and_books_nothing(api, body):
    response = post(api, body, "k" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert Workorder.objects.count() == 0 and IdempotencyKey.objects.count() == 0


@pytest.mark.parametrize("length", [200, 255])
def test_a_long_key_is_kept_whole(api, body, length):
    key = "x" * (length - 1) + "y"
    first = post(api, body, key)
    assert first.status_code == 201
    assert IdempotencyKey.objects.get().key == key
    # A key that shares its first 64 characters is another key.
    other = post(api, {**body, "address": "9 Other Way"}, "x" * (length - 1) + "z")
    assert other.status_code == 201
    assert Workorder.objects.count() == 2


def test_a_key_is_kept_24_hours_then_may_be_reused(api, body):
    first = post(api, body, "k-1")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=50))
    assert post(api, {**body, "address": "2 Other Road"}, "k-1").status_code == 422

    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    reused = post(api, {**body, "address": "2 Other Road"}, "k-1")
    assert reused.status_code == 201
    assert reused.json()["id"] != first.json()["id"]
    assert Workorder.objects.count() == 2
    assert IdempotencyKey.objects.get().workorder_id == reused.json()["id"]


def test_keys_belong_to_one_company(api, body, other_company):
    post(api, body, "shared-key")
    theirs = APIClient()
    theirs.force_authenticate(member(other_company, Role.OFFICE_STAFF))
    employee = EmployeeFactory(company=other_company)
    service = ServiceFactory(company=other_company)
    other_body = {**body, "assignees": [{"employee": employee.pk}],
                  "line_items": [{"service": service.pk}]}
    response = post(theirs, other_body, "shared-key")
    assert response.status_code == 201
    assert Workorder.objects.filter(company=other_company).count() == 1


def test_two_racing_requests_with_one_key_book_one_workorder(api, body, monkeypatch):
    """The second request read before the first committed: the unique key decides."""
    first = post(api, body, "k-1")
    real = services.idempotent_replay
    blind = {"left": 2}  # the view's and the service's early look both miss the row

    def late_reader(company, idempotency):
        if blind["left"]:
            blind["left"] -= 1
            return None
        return real(company, idempotency)

    monkeypatch.setattr(services, "idempotent_replay", late_reader)
    again = post(api, body, "k-1")
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    blind["left"] = 2
    assert post(api, {**body, "address": "2 Other"}, "k-1").status_code == 422
    assert Workorder.objects.count() == 1


def test_without_a_key_every_post_books(api, body):
    assert post(api, body, "").status_code == 201
    assert api.post(URL, body, format="json").status_code == 201
    assert Workorder.objects.count() == 2
