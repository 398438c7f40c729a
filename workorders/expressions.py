"""Query expressions the selectors share."""

from __future__ import annotations

from django.db.models import BooleanField, F, Func, Subquery


class PkInSubquery(Func):
    """``pk IN (subquery)``; on PostgreSQL ``pk = ANY(ARRAY(subquery))``.

    The same rows either way. The difference is the plan when the condition is one
    arm of an OR (the list's search: address, client, email, inspector, service):
    PostgreSQL runs ``IN (subquery)`` as a filter on every row, so the whole OR
    becomes a scan of the company's workorders (about 200 ms at 100,000), while
    ``ANY(ARRAY(...))`` is computed once (an InitPlan) and serves as an index
    condition on the primary key, so the OR becomes a BitmapOr of the trigram
    indexes and the pk index (about 6 ms). SQLite keeps ``IN``.
    """

    conditional = True
    output_field = BooleanField()
    template = "%(expressions)s"
    arg_joiner = " IN "

    def __init__(self, queryset, column: str = "pk"):
        super().__init__(F(column), Subquery(queryset))

    def as_postgresql(self, compiler, connection, **extra_context):
        column, subquery = self.get_source_expressions()
        column_sql, column_params = compiler.compile(column)
        subquery_sql, subquery_params = compiler.compile(subquery)
        return (f"{column_sql} = ANY(ARRAY{subquery_sql})",
                (*column_params, *subquery_params))
