"""A trigram index on lower(name) for the pane's Find, on PostgreSQL when pg_trgm can be had.

pg_trgm is a trusted extension since PostgreSQL 13: a database owner may create it. Where it
cannot be created (no rights, an older server, the extension not installed), this migration
prints a notice and goes on: Find then scans names in order (objects/find.py), slower on big
buckets but right. ``manage.py migrate objects 0007`` then ``migrate`` tries again. Building the
index on an existing table holds off writes to it meanwhile (~10 s per million objects).
SQLite gets no index (objects/find.py says why).
"""

import sys

from django.db import migrations, transaction
from django.db.utils import DatabaseError

INDEX = "objects_object_name_trgm"


def create_index(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("objects", "Object")._meta.db_table)
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {INDEX} ON {table} "
                f'USING gin (lower(name COLLATE "default") gin_trgm_ops)'
            )
    except DatabaseError as exc:
        print(
            f"\n  objects.0008: no trigram index for Find ({str(exc).strip()}); Find will scan "
            "names instead. Ask for pg_trgm, then migrate objects 0007 and migrate again.",
            file=sys.stderr,
        )


def drop_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("objects", "0007_share_links")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
