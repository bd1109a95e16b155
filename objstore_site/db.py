"""One-row reads and writes for the hot paths of the API.

Every API call looks up its token, its bucket and usually one object, each by a unique key.
Building and compiling those queries through the ORM costs 0.2-0.4 ms apiece on a small
machine (measured: ``Object.objects.get(bucket=..., name=...)`` 208 us), more than the database
takes to answer, and ``Model.objects.raw()`` still spends ~70 us mapping columns. Here the
SELECT and the column converters are worked out once per connection and model, and each lookup
is one execute plus ``Model.from_db``, the way the ORM itself builds instances (~20 us). The
instances are ordinary model instances: same field values, same converters, ``save()`` works.
``insert_row`` and ``delete_row`` do the same for the one INSERT of a new object and the one
DELETE of an object (``Model.save()`` ~180 us, ``Model.delete()`` ~250 us with its collector).
They send no model signals; objstore connects none to these models.
"""

from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)
J = TypeVar("J", bound=Model)

# The table aliases the SQL of fetch_row's and fetch_pair's callers refers to.
ALIAS, JOINED = "r", "j"


class _Plan:
    """A model's columns as ``alias`` in a SELECT, their converters, and its INSERT/DELETE."""

    def __init__(self, model: type[Model], alias: str, connection: BaseDatabaseWrapper) -> None:
        self.model = model
        fields = model._meta.concrete_fields
        quote = connection.ops.quote_name
        table, pk = quote(model._meta.db_table), model._meta.pk
        self.attnames = [field.attname for field in fields]
        self.width = len(fields)
        self.pk_position = fields.index(pk)
        self.columns = ", ".join(f"{alias}.{quote(field.column)}" for field in fields)
        self.source = f" FROM {table} {alias} "
        self.converters = []
        for position, field in enumerate(fields):
            column = field.get_col(alias)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                self.converters.append((position, found, column))
        self.statements: dict[str, str] = {}
        self.insert_fields = [field for field in fields if field is not pk]
        self.insert = (
            f"INSERT INTO {table} ({', '.join(quote(f.column) for f in self.insert_fields)})"
            f" VALUES ({', '.join(['%s'] * len(self.insert_fields))})"
        )
        self.returning = connection.features.can_return_columns_from_insert
        if self.returning:
            self.insert += f" RETURNING {quote(pk.column)}"
        self.delete = f"DELETE FROM {table} WHERE {quote(pk.column)} = %s"

    def instance(self, values: list[Any], connection: BaseDatabaseWrapper) -> Model:
        for position, converters, column in self.converters:
            value = values[position]
            for convert in converters:
                value = convert(value, column, connection)
            values[position] = value
        return self.model.from_db(connection.alias, self.attnames, values)


def _plan(model: type[Model], connection: BaseDatabaseWrapper, alias: str = ALIAS) -> _Plan:
    # Per connection (each thread has its own): converters are bound to their connection.
    plans = connection.__dict__.setdefault("_objstore_row_plans", {})
    plan = plans.get((model, alias))
    if plan is None:
        plan = plans[(model, alias)] = _Plan(model, alias, connection)
    return plan


def _fetch(connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> list[Any] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else list(row)


def fetch_row(model: type[M], tail: str, params: list[Any]) -> M | None:
    """The first row of ``SELECT <every column of model> FROM <its table> r <tail>``."""
    connection = connections[DEFAULT_DB_ALIAS]
    plan = _plan(model, connection)
    row = _fetch(connection, f"SELECT {plan.columns}{plan.source}{tail}", params)
    return None if row is None else plan.instance(row, connection)


def fetch_pair(
    model: type[M], joined: type[J], tail: str, params: list[Any]
) -> tuple[M, J | None] | None:
    """Like fetch_row, with the columns of ``joined`` (as ``j``, which ``tail`` LEFT JOINs)
    too: the row's ``model`` and ``joined`` instances, the latter None when nothing joined."""
    connection = connections[DEFAULT_DB_ALIAS]
    first, second = _plan(model, connection), _plan(joined, connection, JOINED)
    sql = f"SELECT {first.columns}, {second.columns}{first.source}{tail}"
    row = _fetch(connection, sql, params)
    if row is None:
        return None
    rest = row[first.width :]
    other = None if rest[second.pk_position] is None else second.instance(rest, connection)
    return first.instance(row[: first.width], connection), other


def get_row(model: type[M], /, *, for_update: bool = False, **columns: Any) -> M | None:
    """The row of ``model`` whose database columns equal ``columns`` (a unique key), or None.

    ``for_update`` locks the row until the transaction ends, as ``select_for_update()`` does.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    if for_update and connection.get_autocommit():
        raise TransactionManagementError("get_row(for_update=True) needs a transaction.")
    plan = _plan(model, connection)
    key = f"{for_update}:{','.join(columns)}"
    tail = plan.statements.get(key)
    if tail is None:
        quote = connection.ops.quote_name
        tail = "WHERE " + " AND ".join(f"{ALIAS}.{quote(column)} = %s" for column in columns)
        if for_update and connection.features.has_select_for_update:
            tail += " FOR UPDATE"  # SQLite has none: its transactions lock the whole database
        plan.statements[key] = tail
    return fetch_row(model, tail, list(columns.values()))


def insert_row(instance: Model) -> None:
    """INSERT the new ``instance`` (its primary key unset) and give it its primary key."""
    connection = connections[DEFAULT_DB_ALIAS]
    model = type(instance)
    plan = _plan(model, connection)
    values = [
        field.get_db_prep_save(field.pre_save(instance, True), connection)
        for field in plan.insert_fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(plan.insert, values)
        if plan.returning:
            pk = cursor.fetchone()[0]
        else:
            meta = model._meta
            pk = connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column)
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


def delete_row(model: type[Model], pk: Any) -> int:
    """DELETE one row by primary key, for models no other row refers to; returns the count."""
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.cursor() as cursor:
        cursor.execute(_plan(model, connection).delete, [pk])
        return cursor.rowcount
