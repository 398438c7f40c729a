"""factory_boy factories for every model the tests build."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from workorders.models import (
    Assignment,
    Company,
    Employee,
    LineItem,
    Membership,
    ReportType,
    Role,
    Service,
    ServiceKind,
    Workorder,
)

PASSWORD = "test-password"


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    company = factory.SubFactory(CompanyFactory)
    role = Role.OFFICE_STAFF


def member(company, role=Role.OFFICE_STAFF, **user_kwargs):
    """A user of ``company`` with ``role`` (admins also get into the Django admin)."""
    user_kwargs.setdefault("is_staff", role == Role.ADMIN)
    user = UserFactory(**user_kwargs)
    MembershipFactory(user=user, company=company, role=role)
    return user


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Employee

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Inspector {n}")
    email = factory.LazyAttribute(lambda e: f"{e.name.lower().replace(' ', '.')}@example.com")


class ReportTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReportType

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Report {n}")


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Service {n}")
    kind = ServiceKind.PRIMARY
    price_cents = 45000


class WorkorderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workorder

    company = factory.SubFactory(CompanyFactory)
    number = factory.Sequence(lambda n: 5000 + n)
    scheduled_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=2))
    duration_minutes = 120
    address = factory.Sequence(lambda n: f"{100 + n} Main St, Springfield")
    client_name = factory.Sequence(lambda n: f"Client {n}")
    client_email = factory.LazyAttribute(
        lambda w: f"{w.client_name.lower().replace(' ', '.')}@example.com"
    )


class AssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Assignment

    workorder = factory.SubFactory(WorkorderFactory)
    employee = factory.SubFactory(
        EmployeeFactory, company=factory.SelfAttribute("..workorder.company")
    )
    primary = True


class LineItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LineItem

    workorder = factory.SubFactory(WorkorderFactory)
    service = factory.SubFactory(
        ServiceFactory, company=factory.SelfAttribute("..workorder.company")
    )
    price_cents = factory.LazyAttribute(lambda li: li.service.price_cents)
    quantity = 1
