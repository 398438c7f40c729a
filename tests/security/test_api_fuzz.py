"""Fuzz every API operation from its own OpenAPI schema (schemathesis): never a 500.

Two passes: hypothesis draws random cases; schemathesis's coverage phase walks the
schema's boundaries (``minimum``/``maximum``, ``maxLength``, ``maxItems`` and one past
each, which the serializers take from ``workorders.services``' bounds).
"""

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from attik.wsgi import application
from tests.factories import EmployeeFactory, ServiceFactory, WorkorderFactory, member
from workorders import tokens
from workorders.models import Role


def load_schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(document)


SCHEMA = load_schema()
OPERATIONS = {f"{op.method.upper()} {op.path}": op
              for op in (result.ok() for result in SCHEMA.get_all_operations())}


def boundary_cases(operation):
    """The coverage phase's cases: each bound, and one step past it, valid and invalid."""
    config = SCHEMA.config.generation_for(operation=operation, phase="coverage")
    return SCHEMA.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=config,
    )


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


def test_the_schema_carries_the_services_bounds():
    from workorders import services

    request = SCHEMA.raw_schema["components"]["schemas"]
    workorder, line_item = request["WorkorderRequest"], request["LineItemRequest"]
    assert workorder["properties"]["notes"]["maxLength"] == services.NOTES_MAX_LENGTH
    assert workorder["properties"]["line_items"]["maxItems"] == services.LINE_ITEMS_MAX
    assert workorder["properties"]["assignees"]["maxItems"] == services.ASSIGNEES_MAX
    assert workorder["properties"]["duration_minutes"]["maximum"] == services.DURATION_MAX
    assert line_item["properties"]["quantity"]["maximum"] == services.QUANTITY_MAX
    assert line_item["properties"]["price_cents"]["maximum"] == services.PRICE_CENTS_MAX


@pytest.fixture
def admin_token(company, other_company):
    for owner in (company, other_company):
        WorkorderFactory.create_batch(2, company=owner)
        EmployeeFactory(company=owner)
        ServiceFactory(company=owner)
    _, token = tokens.token_issue(member(company, Role.ADMIN))
    return token


@pytest.mark.django_db
@pytest.mark.parametrize("label", sorted(OPERATIONS))
@pytest.mark.usefixtures("queued")  # no broker: nothing is sent to workers
def test_no_api_operation_answers_500_on_its_boundaries(label, admin_token,
                                                        wsgi_in_test_transaction):
    seen = 0
    for case in boundary_cases(OPERATIONS[label]):
        response = case.call(app=application, headers={"Authorization": f"Token {admin_token}"})
        assert response.status_code < 500, (label, case.formatted_path, case.body,
                                             response.text[:500])
        seen += 1
    assert seen


@pytest.mark.django_db
@pytest.mark.parametrize("label", sorted(OPERATIONS))
@pytest.mark.usefixtures("queued")  # no broker: nothing is sent to workers
def test_no_api_operation_answers_500(label, admin_token, wsgi_in_test_transaction):
    token = admin_token
    operation = OPERATIONS[label]

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def fuzz(case):
        response = case.call(app=application, headers={"Authorization": f"Token {token}"})
        assert response.status_code < 500, (label, case.formatted_path, response.text[:500])

    fuzz()
