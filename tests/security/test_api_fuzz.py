"""Fuzz every API operation from its own OpenAPI schema (schemathesis): never a 500."""

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings

from attik.wsgi import application
from tests.factories import EmployeeFactory, ServiceFactory, WorkorderFactory, member
from workorders import tokens
from workorders.models import Role


def operations():
    document = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(document)
    return {f"{op.method.upper()} {op.path}": op
            for op in (result.ok() for result in schema.get_all_operations())}


OPERATIONS = operations()


def test_the_fuzz_covers_every_api_operation():
    assert len(OPERATIONS) >= 12
    assert "POST /api/v1/workorders/{id}/spectora/sync/" in OPERATIONS


@pytest.fixture
def wsgi_in_test_transaction():
    """Keep the test's database connection open across WSGI calls, as Django's test
    client does (the handler otherwise closes it at the end of each request)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.parametrize("label", sorted(OPERATIONS))
@pytest.mark.usefixtures("queued")  # no broker: nothing is sent to workers
def test_no_api_operation_answers_500(label, company, other_company, monkeypatch,
                                      wsgi_in_test_transaction):
    for owner in (company, other_company):
        WorkorderFactory.create_batch(2, company=owner)
        EmployeeFactory(company=owner)
        ServiceFactory(company=owner)
    _, token = tokens.token_issue(member(company, Role.ADMIN))
    operation = OPERATIONS[label]

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def fuzz(case):
        response = case.call(app=application, headers={"Authorization": f"Token {token}"})
        assert response.status_code < 500, (label, case.formatted_path, response.text[:500])

    fuzz()
