"""PkInSubquery: the same rows as ``pk__in``, written for PostgreSQL's index use."""

from __future__ import annotations

from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper
from django.db.models import Q

from tests.factories import AssignmentFactory, EmployeeFactory, WorkorderFactory
from workorders import selectors
from workorders.expressions import PkInSubquery
from workorders.models import Assignment, Workorder


def test_same_rows_as_pk_in_alone_and_inside_an_or(company):
    alice = EmployeeFactory(company=company, name="Alice Inspector")
    bob = EmployeeFactory(company=company, name="Bob Inspector")
    by_alice = WorkorderFactory(company=company, client_name="Someone")
    by_bob = WorkorderFactory(company=company, client_name="Other")
    named = WorkorderFactory(company=company, client_name="Alice Client")
    AssignmentFactory(workorder=by_alice, employee=alice)
    AssignmentFactory(workorder=by_bob, employee=bob)
    AssignmentFactory(workorder=named, employee=bob)
    inspected = Assignment.objects.filter(employee__name__icontains="alice").values(
        "workorder_id")
    ours = Workorder.objects.filter(Q(PkInSubquery(inspected)))
    django = Workorder.objects.filter(pk__in=inspected)
    assert set(ours) == set(django) == {by_alice}
    either = Q(client_name__icontains="alice") | Q(PkInSubquery(inspected))
    assert set(Workorder.objects.filter(either)) == {by_alice, named}
    assert {wo.pk for wo in selectors.workorder_list(company, search="alice")} == {
        by_alice.pk, named.pk}


def test_postgresql_gets_any_array_and_sqlite_in(company):
    inspected = Assignment.objects.filter(employee__name__icontains="x").values("workorder_id")
    qs = Workorder.objects.filter(Q(client_name="x") | Q(PkInSubquery(inspected)))
    postgres = PostgresWrapper({**connection.settings_dict, "ENGINE":
                                "django.db.backends.postgresql", "OPTIONS": {}}, alias="pg")
    sql, _ = qs.query.get_compiler(connection=postgres).as_sql()
    assert '"workorders_workorder"."id" = ANY(ARRAY(SELECT' in sql
    assert " IN (SELECT" not in sql
    if connection.vendor == "sqlite":
        sql, _ = qs.query.get_compiler(connection=connection).as_sql()
        assert '"workorders_workorder"."id" IN (SELECT' in sql
