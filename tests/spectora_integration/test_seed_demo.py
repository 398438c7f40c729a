import pytest
from django.core.management import call_command

from workorders.models import Company, Employee, Membership, Service, Workorder

pytestmark = pytest.mark.django_db


def counts():
    return [m.objects.count() for m in (Company, Membership, Employee, Service, Workorder)]


def test_the_demo_seed_is_idempotent_and_has_both_cases():
    call_command("seed_demo", workorders=12)
    first = counts()
    call_command("seed_demo", workorders=12)
    assert counts() == first
    acme = Company.objects.get(slug="acme")
    assert Employee.objects.filter(company=acme, spectora_inspector_id__isnull=True).count() == 1
    assert Service.objects.filter(company=acme, spectora_service_id__isnull=True).count() == 1
    assert set(Membership.objects.values_list("user__username", "role")) == {
        ("admin", "admin"), ("office", "office_staff"), ("scheduler", "scheduler"),
        ("other-admin", "admin"),
    }
    assert acme.spectora_connection.is_connected
    assert not hasattr(Company.objects.get(slug="other"), "spectora_connection")
    statuses = set(Workorder.objects.filter(company=acme).values_list("status", flat=True))
    assert statuses == {"unconfirmed", "confirmed", "cancelled"}


def test_the_seed_keeps_a_demo_seeded_with_other_inspector_names():
    call_command("seed_demo", workorders=3)
    Employee.objects.filter(spectora_inspector_id="insp-1").update(name="Renamed Person")
    call_command("seed_demo", workorders=3)
    assert Employee.objects.filter(spectora_inspector_id="insp-1").count() == 1
