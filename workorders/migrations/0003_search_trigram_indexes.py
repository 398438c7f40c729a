"""Trigram (pg_trgm) GIN indexes for the list's search, on PostgreSQL only.

The search matches ``address``, ``client_name`` and ``client_email`` with
``icontains``, which Django writes on PostgreSQL as ``UPPER("col"::text) LIKE
UPPER('%text%')``: a leading wildcard no b-tree can serve, so every search read
the company's whole table (145-220 ms at 100,000 workorders). A GIN index with
``gin_trgm_ops`` on that same expression, ``UPPER(col::text)``, serves the LIKE
(an index on the bare column would not be used by ``icontains``).

SQLite has neither GIN nor pg_trgm: there the migration does nothing. The
indexes are not in the models' Meta (a GinIndex there would be created on SQLite
too), so Django's migration state does not know them; this file owns them.
Built CONCURRENTLY (no write lock on a large table), hence ``atomic = False``.
"""

from django.db import migrations

# (index name, column) for each searched column of workorders_workorder.
INDEXES = [
    ("workorder_address_trgm", "address"),
    ("workorder_client_name_trgm", "client_name"),
    ("workorder_client_email_trgm", "client_email"),
]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {quote(name)} ON "
            f"{quote('workorders_workorder')} USING gin ((UPPER({quote(column)}::text)) "
            "gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _column in INDEXES:
        schema_editor.execute(
            f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")
    # The extension stays: other objects (or other apps) may use it.


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workorders", "0002_bounds_and_idempotency_keys"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, atomic=False, elidable=False),
    ]
