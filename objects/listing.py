"""Listing by prefix and delimiter with index range scans (the hot path of the pane and API).

Rows are read in name order from the (bucket, name) index, ``lower <= name < upper``. When a row
has the delimiter after the prefix, its folder is emitted once and the scan *seeks* past the whole
subtree (to ``successor(folder)``), so a folder holding a million names costs one query, and a
page never loads more rows than it shows plus one small batch.
"""

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime

from django.conf import settings
from django.db import connection

from buckets.models import Bucket
from objstore_site.db import ALIAS, fetch_values

from .glob import compile_glob
from .models import Object, ObjectVersion
from .names import successor

MAX_RESULTS = 1000
_FIRST_BATCH = 128
_AFTER_SEEK = 4
_MAX_BATCH = 1024


class InvalidPageToken(ValueError):
    pass


@dataclass
class ListPage:
    objects: list["ListedObject"] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    next_page_token: str | None = None


def _encode_token(kind: str, name: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{name}".encode()).decode("ascii")


def _decode_token(token: str, kinds: frozenset[str] = frozenset({"o", "p"})) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidPageToken("The page token is not valid.") from None
    kind, sep, name = raw.partition(":")
    if not sep or kind not in kinds or "\x00" in name:
        raise InvalidPageToken("The page token is not valid.")
    return kind, name


def _without_nul(bound: str) -> str:
    """The same bound for names, which never hold NUL (names.py), without the NUL that
    PostgreSQL cannot store or compare: from the first NUL on, ``a\0b`` sorts exactly like
    ``a\1`` among such names (as a lower bound inclusive, as an upper bound exclusive)."""
    cut = bound.find("\x00")
    return bound if cut < 0 else bound[:cut] + "\x01"


@dataclass
class _Scope:
    """What both listings make of their common arguments: the page size, the glob, and the
    names in range (from ``start``, inclusive, to ``upper``, exclusive; None: no bound)."""

    max_results: int
    matches: Callable[[str], bool] | None
    start: str
    upper: str | None

    @classmethod
    def of(
        cls, prefix: str, start_offset: str, end_offset: str, match_glob: str, max_results: int
    ) -> "_Scope | None":
        """None when no name can be in range (a prefix with a NUL, which no name holds).
        Raises objects.glob.InvalidGlob."""
        matches = compile_glob(match_glob) if match_glob else None
        if "\x00" in prefix:
            return None
        start_offset, end_offset = _without_nul(start_offset), _without_nul(end_offset)
        upper = successor(prefix) if prefix else None
        if end_offset and (upper is None or end_offset < upper):
            upper = end_offset
        start = max(prefix, start_offset)
        return cls(max(1, min(max_results, MAX_RESULTS)), matches, start, upper)


@dataclass
class _Bound:
    name: str
    inclusive: bool

    def raise_to(self, name: str, inclusive: bool) -> None:
        if name > self.name or (name == self.name and not inclusive):
            self.name, self.inclusive = name, inclusive


def objects_list(
    *,
    bucket: Bucket,
    prefix: str = "",
    delimiter: str = "",
    start_offset: str = "",
    end_offset: str = "",
    match_glob: str = "",
    max_results: int = MAX_RESULTS,
    page_token: str = "",
    include_trailing_delimiter: bool = False,
) -> ListPage:
    """One page of a bucket's names in bytewise order, with GCS's listing semantics.

    ``max_results`` counts objects and prefixes together; ``next_page_token`` is set only when
    more names remain. With ``include_trailing_delimiter`` an object named exactly like a
    folder (``photos/``) is returned as an item too. Raises InvalidPageToken or
    objects.glob.InvalidGlob on bad input.
    """
    if (scope := _Scope.of(prefix, start_offset, end_offset, match_glob, max_results)) is None:
        return ListPage()
    max_results, matches, upper = scope.max_results, scope.matches, scope.upper
    lower = _Bound(scope.start, inclusive=True)
    if page_token:
        kind, last = _decode_token(page_token)
        if kind == "o":
            lower.raise_to(last, inclusive=False)
        else:
            after_folder = successor(last)
            if after_folder is None:
                return ListPage()
            lower.raise_to(after_folder, inclusive=True)

    if not delimiter and matches is None:
        return _plain_page(bucket, lower, upper, max_results)

    page = ListPage()
    names = _NameScanner(bucket, upper)
    # A glob that matches little may scan much of the bucket for one page: past the budget,
    # the page ends early with a token to go on from (GCS also returns short pages).
    deadline = time.monotonic() + settings.OBJSTORE_LIST_BUDGET_MS / 1000
    emitted: list[str] = []  # object names, in order; their rows are read once, at the end
    last_emitted: tuple[str, str] | None = None
    batch = min(max_results + 1, _FIRST_BATCH)

    while True:
        rows = names.scan(lower, batch)
        if not rows:
            break
        seeked = False
        for name in rows:
            if len(emitted) + len(page.prefixes) == max_results:
                # A full page and at least one more name in range: hand out a cursor.
                assert last_emitted is not None
                page.next_page_token = _encode_token(*last_emitted)
                page.objects = _rows(bucket, emitted)
                return page
            rest = name[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            if matches is not None and not matches(name):
                lower.raise_to(name, inclusive=False)
                continue
            if cut >= 0:
                folder = prefix + rest[: cut + len(delimiter)]
                if include_trailing_delimiter and name == folder:
                    emitted.append(name)  # GCS lists the "folder/" object as well
                page.prefixes.append(folder)
                last_emitted = ("p", folder)
                after_folder = successor(folder)
                if after_folder is None:
                    page.objects = _rows(bucket, emitted)
                    return page
                lower.raise_to(after_folder, inclusive=True)
                seeked = True
                break
            emitted.append(name)
            last_emitted = ("o", name)
            lower.raise_to(name, inclusive=False)
        if time.monotonic() > deadline:
            page.next_page_token = (
                _encode_token(*last_emitted)
                if lower.inclusive and last_emitted is not None
                else _encode_token("o", lower.name)
            )
            page.objects = _rows(bucket, emitted)
            return page
        if seeked:
            # Past a folder: the next name may well be another folder, so look at few rows.
            batch = _AFTER_SEEK
        elif len(rows) < batch:
            break
        else:
            batch = min(batch * 4, _MAX_BATCH)
    page.objects = _rows(bucket, emitted)
    return page


def _plain_page(bucket: Bucket, lower: _Bound, upper: str | None, max_results: int) -> ListPage:
    """Without a delimiter or a glob every name in range is an item: one range query reads the
    page (and one row more, to know whether another page follows)."""
    where = _where(f"{_NAME} {'>=' if lower.inclusive else '>'} %s")
    params: list = [bucket.pk, lower.name]
    if upper is not None:
        where += f" AND {_NAME} < %s"
        params.append(upper)
    rows = fetch_values(
        Object, _LISTED_FIELDS, f"{where} ORDER BY {_NAME} LIMIT %s", [*params, max_results + 1]
    )
    page = ListPage(objects=[ListedObject(bucket, *row) for row in rows[:max_results]])
    if len(rows) > max_results:
        page.next_page_token = _encode_token("o", page.objects[-1].name)
    return page


def _where(condition: str) -> str:
    """``WHERE`` the row is in the bucket (the first parameter) ``AND condition``."""
    bucket_column = connection.ops.quote_name(Object._meta.get_field("bucket").column)
    return f"WHERE {ALIAS}.{bucket_column} = %s AND {condition}"


class _NameScanner:
    """Reads names only (no model instances) from the (bucket, name) index, by raw SQL: a
    listing with many folders issues one small query per folder, so each must be cheap."""

    def __init__(self, bucket: Bucket, upper: str | None) -> None:
        table = connection.ops.quote_name(Object._meta.db_table)
        name = connection.ops.quote_name("name")
        bucket_column = connection.ops.quote_name(Object._meta.get_field("bucket").column)
        bound = f" AND {name} < %s" if upper is not None else ""
        self._sql = {
            inclusive: (
                f"SELECT {name} FROM {table} WHERE {bucket_column} = %s AND {name} "
                f"{'>=' if inclusive else '>'} %s{bound} ORDER BY {name} LIMIT %s"
            )
            for inclusive in (True, False)
        }
        self._fixed = [bucket.pk]
        self._upper = [upper] if upper is not None else []

    def scan(self, lower: _Bound, limit: int) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                self._sql[lower.inclusive], [*self._fixed, lower.name, *self._upper, limit]
            )
            return [row[0] for row in cursor.fetchall()]


@dataclass(slots=True)
class ListedObject:
    """An object as a listing shows it: its metadata, read without building model instances
    (a page of 1,000 spent a third of its time in Model.__init__)."""

    bucket: Bucket
    name: str
    size: int
    content_type: str
    content_encoding: str
    cache_control: str
    md5_hash: str
    crc32c: str
    generation: int
    metageneration: int
    metadata: dict
    component_count: int | None
    created: datetime
    updated: datetime
    custom_time: datetime | None = None
    # Set on noncurrent and soft-deleted generations only (versions_list).
    time_deleted: datetime | None = None
    soft_delete_time: datetime | None = None
    hard_delete_time: datetime | None = None
    # Set by the pane's folder pages (objects.browse), whose cursors need them.
    name_key: str | None = None
    pk: int | None = None

    @property
    def basename(self) -> str:
        stripped = self.name.rstrip("/")
        return stripped.rsplit("/", 1)[-1] or self.name


_VERSION_FIELDS = [f.name for f in fields(ListedObject) if f.name != "bucket"]
_LISTED_FIELDS = tuple(_VERSION_FIELDS[: _VERSION_FIELDS.index("time_deleted")])
_NAME = f"{ALIAS}.name"  # "name" is no keyword to quote on any backend objstore supports


def _rows(bucket: Bucket, names: list[str]) -> list[ListedObject]:
    if not names:
        return []
    where = _where(f"{_NAME} IN ({', '.join(['%s'] * len(names))})")
    rows = fetch_values(Object, _LISTED_FIELDS, where, [bucket.pk, *names])
    found = {row[0]: ListedObject(bucket, *row) for row in rows}
    # A name deleted between the scan and this read is simply not listed.
    return [found[name] for name in names if name in found]


def versions_list(
    *,
    bucket: Bucket,
    prefix: str = "",
    delimiter: str = "",
    start_offset: str = "",
    end_offset: str = "",
    match_glob: str = "",
    max_results: int = MAX_RESULTS,
    page_token: str = "",
    include_trailing_delimiter: bool = False,
    soft_deleted: bool = False,
) -> ListPage:
    """GCS's ``versions=true`` listing (every live and noncurrent generation) or, with
    ``soft_deleted``, its ``softDeleted=true`` listing (soft-deleted generations only): by name,
    then generation, oldest first, with the same prefix, delimiter, offset and glob semantics
    as objects_list. Plain listings never come here, so they never read these rows."""
    if (scope := _Scope.of(prefix, start_offset, end_offset, match_glob, max_results)) is None:
        return ListPage()
    max_results, matches, upper = scope.max_results, scope.matches, scope.upper
    after = (scope.start, -1)  # the scan's cursor: rows after (name, generation)
    if page_token:
        kind, value = _decode_token(page_token, frozenset({"g", "p"}))
        if kind == "p":
            after_folder = successor(value)
            if after_folder is None:
                return ListPage()
            after = max(after, (after_folder, -1))
        else:
            generation, sep, name = value.partition(":")
            if not sep or not generation.isdigit():
                raise InvalidPageToken("The page token is not valid.")
            after = max(after, (name, int(generation)))

    scanner = _GenerationScanner(bucket, upper, soft_deleted)
    page = ListPage()
    emitted: list[tuple[str, int]] = []
    last_token: str | None = None
    deadline = time.monotonic() + settings.OBJSTORE_LIST_BUDGET_MS / 1000
    batch = min(max_results + 1, _FIRST_BATCH)
    while True:
        rows = scanner.scan(after, batch)
        if not rows:
            break
        seeked = False
        for name, generation in rows:
            if len(emitted) + len(page.prefixes) == max_results:
                page.next_page_token = last_token
                page.objects = scanner.rows(emitted)
                return page
            after = (name, generation)
            if matches is not None and not matches(name):
                continue
            rest = name[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            if cut >= 0:
                folder = prefix + rest[: cut + len(delimiter)]
                if include_trailing_delimiter and name == folder:
                    emitted.append((name, generation))
                page.prefixes.append(folder)
                last_token = _encode_token("p", folder)
                after_folder = successor(folder)
                if after_folder is None:
                    page.objects = scanner.rows(emitted)
                    return page
                after = (after_folder, -1)
                seeked = True
                break
            emitted.append((name, generation))
            last_token = _encode_token("g", f"{generation}:{name}")
        if time.monotonic() > deadline:
            page.next_page_token = _encode_token("g", f"{after[1]}:{after[0]}")
            page.objects = scanner.rows(emitted)
            return page
        if seeked:
            batch = _AFTER_SEEK
        elif len(rows) < batch:
            break
        else:
            batch = min(batch * 4, _MAX_BATCH)
    page.objects = scanner.rows(emitted)
    return page


class _GenerationScanner:
    """(name, generation) pairs in order from the live table and the noncurrent rows together
    (UNION ALL of two index range scans), or from the soft-deleted rows alone."""

    def __init__(self, bucket: Bucket, upper: str | None, soft_deleted: bool) -> None:
        quote = connection.ops.quote_name
        self._bucket = bucket
        self._upper = upper
        self._state = ObjectVersion.SOFT_DELETED if soft_deleted else ObjectVersion.NONCURRENT
        versions = quote(ObjectVersion._meta.db_table)
        bound = f" AND {quote('name')} < %s" if upper is not None else ""
        keyset = (
            f"{quote('bucket_id')} = %s AND ({quote('name')} > %s OR ({quote('name')} = %s"
            f" AND {quote('generation')} > %s)){bound}"
        )
        version_select = (
            f"SELECT {quote('name')}, {quote('generation')} FROM {versions}"
            f" WHERE {quote('state')} = %s AND {keyset}"
        )
        if soft_deleted:
            self._sql = f"{version_select} ORDER BY 1, 2 LIMIT %s"
            self._parts = 1
        else:
            live = quote(Object._meta.db_table)
            self._sql = (
                f"SELECT n, g FROM (SELECT {quote('name')} AS n, {quote('generation')} AS g"
                f" FROM {live} WHERE {keyset} UNION ALL {version_select}) AS generations"
                f" ORDER BY 1, 2 LIMIT %s"
            )
            self._parts = 2
        self.soft_deleted = soft_deleted

    def scan(self, after: tuple[str, int], limit: int) -> list[tuple[str, int]]:
        name, generation = after
        keyset = [self._bucket.pk, name, name, generation]
        if self._upper is not None:
            keyset.append(self._upper)
        params = [self._state, *keyset] if self._parts == 1 else [*keyset, self._state, *keyset]
        with connection.cursor() as cursor:
            cursor.execute(self._sql, [*params, limit])
            return [(row[0], row[1]) for row in cursor.fetchall()]

    def rows(self, wanted: list[tuple[str, int]]) -> list[ListedObject]:
        if not wanted:
            return []
        names = {name for name, _ in wanted}
        found: dict[tuple[str, int], ListedObject] = {}
        versions = ObjectVersion.objects.filter(
            bucket=self._bucket, state=self._state, name__in=names
        ).values_list(*_VERSION_FIELDS)
        for row in versions:
            item = ListedObject(self._bucket, *row)
            found[(item.name, item.generation)] = item
        if not self.soft_deleted:
            live = Object.objects.filter(bucket=self._bucket, name__in=names)
            for row in live.values_list(*_LISTED_FIELDS):
                item = ListedObject(self._bucket, *row)
                found[(item.name, item.generation)] = item
        return [found[key] for key in wanted if key in found]
