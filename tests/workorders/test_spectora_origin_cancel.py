"""A job booked in Spectora is cancelled in Spectora; Attik follows and never cancels it itself."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import WorkorderFactory
from workorders import services
from workorders.errors import NotAllowed
from workorders.models import Origin, WorkorderStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def from_spectora(company):
    return WorkorderFactory(company=company, origin=Origin.SPECTORA)


def test_the_service_refuses_with_the_reason(from_spectora, office_user):
    with pytest.raises(NotAllowed) as refused:
        services.workorder_cancel(from_spectora, user=office_user, reason="Client called")
    assert refused.value.code == "spectora_origin"
    assert "cancel it in Spectora" in refused.value.message
    from_spectora.refresh_from_db()
    assert from_spectora.status != WorkorderStatus.CANCELLED


def test_the_api_answers_409_spectora_origin(from_spectora, office_user):
    api = APIClient()
    api.force_authenticate(office_user)
    response = api.post(f"/api/v1/workorders/{from_spectora.pk}/cancel/",
                        {"reason": "Client called"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "spectora_origin"
    from_spectora.refresh_from_db()
    assert from_spectora.status != WorkorderStatus.CANCELLED


def test_the_menu_withholds_cancel_with_the_reason(office_client, from_spectora):
    page = office_client.get(reverse("workorders:detail", args=[from_spectora.pk])).content
    assert b"Cancel it in Spectora; Attik follows" in page
    assert reverse("workorders:cancel", args=[from_spectora.pk]).encode() not in page


def test_the_cancel_page_sends_the_person_back_with_the_reason(office_client, from_spectora):
    url = reverse("workorders:cancel", args=[from_spectora.pk])
    for response in (office_client.get(url), office_client.post(url, {"reason": "x"})):
        assert response.status_code == 302
        toasts = [str(m) for m in get_messages(response.wsgi_request)]
        assert any("cancel it in Spectora; Attik follows" in t for t in toasts)
    from_spectora.refresh_from_db()
    assert from_spectora.status != WorkorderStatus.CANCELLED
