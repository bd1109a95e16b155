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
They send no model signals (not even ``pre_init``/``post_init``, ~10 us an instance);
objstore connects none to these models.

The statements run on the driver's own cursor, the SQL already in the driver's parameter style,
inside Django's error translation: Django's cursor wrapper and SQLite's per-execute rewrite of
``%s`` into ``?`` cost ~40 us a query. Whenever Django is asked to see the queries
(``connection.queries_logged``: DEBUG, ``CaptureQueriesContext``) or a deployment wraps them
(``connection.execute_wrapper``), they go through Django's cursor as any other query.
"""

import re
from typing import Any, TypeVar

import orjson
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import JSONField, Model
from django.db.models.base import ModelState
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
        self.columns, self.converters = _select(fields, alias, connection)
        self.source = f" FROM {table} {alias} "
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
        for position, convert, column in self.converters:
            values[position] = convert(values[position], column, connection)
        # What Model.from_db() makes of a full row, without __init__'s walk over the fields
        # and its two signals: every concrete field's value, a state saying "from this
        # database, not new".
        instance = self.model.__new__(self.model)
        instance.__dict__.update(zip(self.attnames, values, strict=True))
        state = instance._state = ModelState()
        state.adding, state.db = False, connection.alias
        return instance


def _plan(model: type[Model], connection: BaseDatabaseWrapper, alias: str = ALIAS) -> _Plan:
    # Per connection (each thread has its own): converters are bound to their connection.
    plans = connection.__dict__.setdefault("_objstore_row_plans", {})
    plan = plans.get((model, alias))
    if plan is None:
        plan = plans[(model, alias)] = _Plan(model, alias, connection)
    return plan


_QMARK = re.compile(r"(?<!%)%s")  # as Django's SQLite backend rewrites its placeholders
_driver_sql: dict[tuple[str, str], str] = {}
_DRIVER_SQL_KEPT = 2048


def _run(connection: BaseDatabaseWrapper, sql: str, params: list[Any], fetch: str) -> Any:
    """Execute one statement. ``fetch``: "one" (the first row), "all" (every row) or "count"
    (the cursor's rowcount and lastrowid)."""
    if connection.queries_logged or connection.execute_wrappers:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return _result(cursor, fetch)
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    key = (connection.vendor, sql)
    driver_sql = _driver_sql.get(key)
    if driver_sql is None:
        driver_sql = sql
        if connection.vendor == "sqlite":
            driver_sql = _QMARK.sub("?", sql).replace("%%", "%")
        if len(_driver_sql) < _DRIVER_SQL_KEPT:  # statements vary only with IN lists' lengths
            _driver_sql[key] = driver_sql
    with connection.wrap_database_errors:
        # SQLite's: sqlite3's own (Django's subclass would rewrite the placeholders again).
        # Others': the backend's own cursor, set up as Django sets it up (PostgreSQL's zone).
        sqlite = connection.vendor == "sqlite"
        cursor = connection.connection.cursor() if sqlite else connection.create_cursor()
        try:
            cursor.execute(driver_sql, params)
            return _result(cursor, fetch)
        finally:
            cursor.close()


def _result(cursor: Any, fetch: str) -> Any:
    if fetch == "one":
        return cursor.fetchone()
    if fetch == "all":
        return cursor.fetchall()
    return cursor.rowcount, getattr(cursor, "lastrowid", None)  # psycopg's has no lastrowid


def _fetch(connection: BaseDatabaseWrapper, sql: str, params: list[Any]) -> list[Any] | None:
    row = _run(connection, sql, params, "one")
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


def fetch_values(
    model: type[Model], attnames: tuple[str, ...], tail: str, params: list[Any]
) -> list:
    """Every row of ``SELECT <the attnames' columns> FROM <model's table> r <tail>``, each a
    list of values converted as the ORM's ``values_list()`` converts them, without building a
    query (a listing's ORM query costs ~1 ms to compile and convert for 100 rows)."""
    connection = connections[DEFAULT_DB_ALIAS]
    shapes = connection.__dict__.setdefault("_objstore_value_shapes", {})
    shape = shapes.get((model, attnames))
    if shape is None:
        shape = shapes[(model, attnames)] = _Values(model, attnames, connection)
    rows = _run(connection, f"SELECT {shape.columns}{shape.source}{tail}", params, "all")
    converters = shape.converters
    if not converters:
        return [list(row) for row in rows]
    converted = []
    for row in rows:
        values = list(row)
        for position, convert, column in converters:
            values[position] = convert(values[position], column, connection)
        converted.append(values)
    return converted


class _Values:
    """The columns of ``attnames`` as ``r`` in a SELECT, and their converters."""

    def __init__(
        self, model: type[Model], attnames: tuple[str, ...], connection: BaseDatabaseWrapper
    ) -> None:
        by_attname = {field.attname: field for field in model._meta.concrete_fields}
        fields = [by_attname[attname] for attname in attnames]
        self.columns, self.converters = _select(fields, ALIAS, connection)
        self.source = f" FROM {connection.ops.quote_name(model._meta.db_table)} {ALIAS} "


def _select(fields: list, alias: str, connection: BaseDatabaseWrapper) -> tuple[str, list]:
    """The columns of ``fields`` (as ``alias``) for a SELECT, and the conversions the ORM
    would apply to them: (position, converter, column) for each field that has any."""
    quote = connection.ops.quote_name
    columns = ", ".join(f"{alias}.{quote(field.column)}" for field in fields)
    converters = []
    for position, field in enumerate(fields):
        column = field.get_col(alias)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if isinstance(field, JSONField) and field.decoder is None:
            found = [_json_value if step == field.from_db_value else step for step in found]
        if found:
            converters.append((position, _chained(found), column))
    return columns, converters


def _json_value(value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
    """``JSONField.from_db_value`` for a whole column with the default decoder, by orjson
    (0.25 us a row instead of 2.2; a listing converts each row's metadata). Text orjson would
    read differently (integers past 64 bits, which it turns into floats) or refuses (NaN) goes
    through Django's own conversion."""
    if isinstance(value, str) and not _LONG_NUMBER.search(value):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    return expression.field.from_db_value(value, expression, connection)


_LONG_NUMBER = re.compile(r"\d{19}")  # 2**63 has 19 digits


def _chained(converters: list) -> Any:
    if len(converters) == 1:
        return converters[0]

    def convert(value: Any, expression: Any, connection: BaseDatabaseWrapper) -> Any:
        for step in converters:
            value = step(value, expression, connection)
        return value

    return convert


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


def fetch_first(sql: str, params: list[Any]) -> tuple | None:
    """The first row of a hot path's SELECT (in Django's parameter style), as the driver gives
    it (no conversion: for plain text and number columns), or None."""
    return _run(connections[DEFAULT_DB_ALIAS], sql, params, "one")


def execute(sql: str, params: list[Any]) -> int:
    """Run one statement of a hot path (in Django's parameter style); its row count."""
    return _run(connections[DEFAULT_DB_ALIAS], sql, params, "count")[0]


def insert_row(instance: Model) -> None:
    """INSERT the new ``instance`` (its primary key unset) and give it its primary key."""
    connection = connections[DEFAULT_DB_ALIAS]
    model = type(instance)
    plan = _plan(model, connection)
    values = [
        field.get_db_prep_save(field.pre_save(instance, True), connection)
        for field in plan.insert_fields
    ]
    if plan.returning:
        pk = _run(connection, plan.insert, values, "one")[0]
    else:  # the DB-API's lastrowid, which is what Django's own last_insert_id() reads
        pk = _run(connection, plan.insert, values, "count")[1]
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias


def delete_row(model: type[Model], pk: Any) -> int:
    """DELETE one row by primary key, for models no other row refers to; returns the count."""
    connection = connections[DEFAULT_DB_ALIAS]
    return _run(connection, _plan(model, connection).delete, [pk], "count")[0]
