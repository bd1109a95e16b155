"""Find: a bucket's live names by substring (case-insensitive) or by GCS ``matchGlob``.

Every result is decided in Python (``Query.matches``): ``needle in fold(name)`` for text, the
RE2 automaton of ``objects.glob`` for a glob. The database only narrows the candidates, with a
LIKE pattern that every result is sure to satisfy (a superset), in three ways:

- **A trigram index** (PostgreSQL with ``pg_trgm``, migration 0008): ``lower(name)`` is indexed,
  so a query with three literal characters in a row reads its candidates from the index. When
  there are at most ``CANDIDATES`` of them (across all buckets) they are all read, checked and
  sorted: the page is exact whatever the bucket's size.
- **One unordered statement** on PostgreSQL for what the index cannot serve (fewer than three
  literal characters, or no ``pg_trgm``): the planner may scan the table in parallel, and at
  most ``CANDIDATES`` are read, within the budget (``SET LOCAL statement_timeout``), then
  checked and sorted as above.
- **A scan in name order** otherwise (SQLite; PostgreSQL for very common queries, or when the
  unordered statement ran out of time). One statement reads the (bucket, name) index from the
  cursor on and returns the rows its LIKE lets through, plus a *marker* row every
  ~``MARK_EVERY`` rows (chosen by a cheap hash), at most ``MARKS`` of them: so each statement
  reads a bounded stretch of the index (~260,000 rows), and the last row it returns says how
  far it got. Statements follow
  one another until the page is full, the range ends or ``OBJSTORE_FIND_BUDGET_MS`` has passed;
  then the page is *partial* and says where to go on from ("Keep searching").

Why no index on SQLite: its only substring index, an FTS5 trigram table kept by triggers,
measured ~200 us more CPU on every insert and delete (~36 us without), on the upload path that
issue 14 is trying to make cheaper. A scan reads ~3-4 million names a second there.
"""

import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import OperationalError, connection, transaction

from buckets.models import Bucket

from .glob import MAX_GLOB_LENGTH, InvalidGlob, compile_glob
from .listing import ListedObject, _rows
from .models import Object
from .names import successor

PAGE = 50
MAX_QUERY_LENGTH = MAX_GLOB_LENGTH
CANDIDATES = 20_000
MARK_EVERY = 4096
MARKS = 64
TRIGRAM_INDEX = "objects_object_name_trgm"
MODES = ("contains", "glob")
_GLOB_SPECIAL = "*?[{"


class InvalidQuery(ValueError):
    pass


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _squeeze(parts: list[str]) -> str:
    """Join LIKE pieces, with no two ``%`` in a row."""
    out: list[str] = []
    for part in parts:
        if part == "%" and out and out[-1] == "%":
            continue
        out.append(part)
    return "".join(out)


# The characters whose lower() is longer than themselves ("İ" is "i" + U+0307) or ASCII while
# they are not (the Kelvin sign is "k"): fold() leaves them as they are, so that a search's
# LIKE patterns (ASCII folded by the database, "_" for any other character) find every match.
_UNFOLDED = frozenset(
    c for c in map(chr, range(0x80, 0x10000)) if len(c.lower()) != 1 or c.lower().isascii()
)


def fold(text: str) -> str:
    """``text`` in lower case, each character on its own and of the same kind: what *Name
    contains* compares."""
    if text.isascii() or _UNFOLDED.isdisjoint(text):
        return text.lower()
    return "".join(c if c in _UNFOLDED else c.lower() for c in text)


def _trigram_pattern(lowered: str, ascii_flags: list[bool]) -> str | None:
    """The ``lower(name) LIKE`` pattern for the trigram index, from the query's characters
    (lowered; flags say which are ASCII literals): only those are kept, anything else is "%"
    (the database's lower() of other characters need not be Python's, nor of the same length).
    None without three ASCII literals in a row, which the index could not use."""
    parts, run, longest = ["%"], 0, 0
    for char, literal in zip(lowered, ascii_flags, strict=True):
        if literal:
            parts.append(_like_escape(char))
            run += 1
            longest = max(longest, run)
        else:
            parts.append("%")
            run = 0
    parts.append("%")
    return _squeeze(parts) if longest >= 3 else None


@dataclass
class Query:
    """What a search asks, compiled: the check, the name range and the LIKE patterns."""

    text: str
    mode: str
    matches: object  # Callable[[str], bool]
    start: str = ""  # the names in range: start <= name < upper (None: no bound)
    upper: str | None = None
    # A pattern every result satisfies under the scan's LIKE (ILIKE on PostgreSQL for text).
    like: str = "%"
    # The same for ``lower(name) LIKE``, when it holds three literal characters in a row.
    trigram: str | None = None
    # An ASCII text without letters (digits, punctuation) is looked for as it is, by
    # instr()/strpos(): ~25 % faster than LIKE on SQLite.
    exact: str | None = None

    @classmethod
    def parse(cls, text: str, mode: str = "contains") -> "Query":
        if mode not in MODES:
            raise InvalidQuery("Choose “contains” or “glob”.")
        if not text:
            raise InvalidQuery("Type part of a name to find.")
        if len(text) > MAX_QUERY_LENGTH:
            raise InvalidQuery(f"A search is at most {MAX_QUERY_LENGTH} characters.")
        if "\x00" in text:
            raise InvalidQuery("No name holds a NUL character.")
        if mode == "contains":
            return cls._contains(text)
        return cls._glob(text)

    @classmethod
    def _contains(cls, text: str) -> "Query":
        needle = fold(text)
        # Each non-ASCII character becomes "_" (any one character): the databases fold case for
        # ASCII only in this column's collation, and "_" lets every case of the others through
        # (fold() keeps every character's length and ASCII-ness, so this is exact).
        body = "".join(_like_escape(c) if c.isascii() else "_" for c in text)
        return cls(
            text,
            "contains",
            lambda name: needle in fold(name),
            like=f"%{body}%",
            trigram=_trigram_pattern(needle, [c.isascii() for c in needle]),
            # An ASCII text without letters is looked for as it is.
            exact=text if text.isascii() and text.lower() == text == text.upper() else None,
        )

    @classmethod
    def _glob(cls, text: str) -> "Query":
        try:
            regex = compile_glob(text)
        except InvalidGlob as exc:
            raise InvalidQuery(str(exc)) from None
        parts, prefix, i, in_prefix = [], [], 0, True
        lowered: list[str] = []  # the pattern for lower(name): literals lowered, "" for a wildcard
        literal_flags: list[bool] = []
        while i < len(text):
            char = text[i]
            if char == "\\" and i + 1 < len(text):
                literal = text[i + 1]
                i += 2
            elif char in _GLOB_SPECIAL:
                in_prefix = False
                lowered.append("")
                literal_flags.append(False)
                if char == "?" or char == "[":
                    parts.append("_")
                    if char == "[":  # the class's first character may be "]" itself
                        first = i + 2 if text.startswith("[!", i) else i + 1
                        i = text.find("]", first + 1)
                    i += 1
                elif char == "{":
                    parts.append("%")
                    depth = 0
                    while i < len(text):
                        if text[i] == "\\":
                            i += 1
                        elif text[i] == "{":
                            depth += 1
                        elif text[i] == "}":
                            depth -= 1
                            if depth == 0:
                                break
                        i += 1
                    i += 1
                else:  # "*", "**", or "**/" (which may match no segment at all: no "/")
                    parts.append("%")
                    i += 3 if text.startswith("**/", i) else 2 if text.startswith("**", i) else 1
                continue
            else:
                literal = char
                i += 1
            if in_prefix:
                prefix.append(literal)
            parts.append(_like_escape(literal))
            lowered.append(literal.lower() if literal.isascii() else "")
            literal_flags.append(literal.isascii())
        like = _squeeze(parts)
        start = "".join(prefix)
        return cls(
            text,
            "glob",
            regex,
            start=start,
            upper=successor(start) if start else None,
            like=like,
            trigram=_trigram_pattern("".join(c or "\x00" for c in lowered), literal_flags),
        )


@dataclass
class FindPage:
    objects: list[ListedObject] = field(default_factory=list)
    # Where the next page starts (exclusive), or None when nothing is left.
    after: str | None = None
    # The budget ran out before the page filled: ``after`` is how far the search got.
    partial: bool = False


def objects_find(
    *, bucket: Bucket, query: Query, after: str = "", page: int | None = None
) -> FindPage:
    """One page (``PAGE`` names unless told) of the bucket's names that match ``query``, in
    bytewise order, after ``after``."""
    page = page or PAGE
    if after and query.upper is not None and after >= query.upper:
        return FindPage()
    lower, inclusive = (after, False) if after > query.start else (query.start, True)
    deadline = time.monotonic() + settings.OBJSTORE_FIND_BUDGET_MS / 1000
    if connection.vendor == "postgresql":
        if query.trigram is not None and _has_trigram_index():
            found = _from_trigrams(bucket, query, lower, inclusive, page)
        else:
            found = _unordered(bucket, query, lower, inclusive, page, deadline)
        if found is not None:
            return found
    return _scan(bucket, query, lower, inclusive, page, deadline)


def _finish(bucket: Bucket, names: list[str], page: int, partial_at: str | None = None) -> FindPage:
    if len(names) > page:
        return FindPage(_rows(bucket, names[:page]), after=names[page - 1])
    if partial_at is not None:
        return FindPage(_rows(bucket, names), after=partial_at, partial=True)
    return FindPage(_rows(bucket, names))


def _table_and_columns() -> tuple[str, str, str]:
    quote = connection.ops.quote_name
    return (
        quote(Object._meta.db_table),
        quote(Object._meta.get_field("bucket").column),
        quote("name"),
    )


def _test(query: Query, name: str) -> tuple[str, str]:
    """The SQL condition (and its parameter) that lets every result of ``query`` through."""
    postgres = connection.vendor == "postgresql"
    if query.exact is not None:
        return f"{'strpos' if postgres else 'instr'}({name}, %s) > 0", query.exact
    like = "ILIKE" if postgres and query.mode == "contains" else "LIKE"
    return f"{name} {like} %s ESCAPE '\\'", query.like


def _scan(
    bucket: Bucket, query: Query, lower: str, inclusive: bool, page: int, deadline: float
) -> FindPage:
    table, bucket_column, name = _table_and_columns()
    postgres = connection.vendor == "postgresql"
    # A marker is a row ~1 in MARK_EVERY, chosen by something the index already holds.
    marker = (
        f"hashtext({name}) & {MARK_EVERY - 1} = 0" if postgres else f"rowid %% {MARK_EVERY} = 0"
    )
    test, pattern = _test(query, name)
    bound = f" AND {name} < %s" if query.upper is not None else ""
    sql = {
        inclusive: (
            f"SELECT {name} FROM {table} WHERE {bucket_column} = %s "
            f"AND {name} {'>=' if inclusive else '>'} %s{bound} "
            f"AND ({test} OR {marker}) ORDER BY {name} LIMIT %s"
        )
        for inclusive in (True, False)
    }
    upper = [query.upper] if query.upper is not None else []
    hits: list[str] = []
    with connection.cursor() as cursor:
        while True:
            limit = page + 1 - len(hits) + MARKS
            cursor.execute(sql[inclusive], [bucket.pk, lower, *upper, pattern, limit])
            rows = [row[0] for row in cursor.fetchall()]
            for found in rows:
                if query.matches(found):
                    hits.append(found)
                    if len(hits) > page:
                        return _finish(bucket, hits, page)
            if len(rows) < limit:
                return _finish(bucket, hits, page)
            lower, inclusive = rows[-1], False
            if time.monotonic() > deadline:
                return _finish(bucket, hits, page, partial_at=lower)


def _from_trigrams(
    bucket: Bucket, query: Query, lower: str, inclusive: bool, page: int
) -> FindPage | None:
    """The exact page from the trigram index, or None when it holds more than CANDIDATES
    candidates (a common query: the scan finds its results quickly)."""
    table, bucket_column, name = _table_and_columns()
    # MATERIALIZED, and the bucket tested outside: the inner query can only use the trigram
    # index (or stop early), never walk the (bucket, name) index filtering every row.
    sql = (
        f"WITH candidates AS MATERIALIZED (SELECT {bucket_column} AS bucket, {name} AS name "
        f'FROM {table} WHERE lower({name} COLLATE "default") LIKE %s LIMIT %s) '
        f"SELECT name, bucket = %s FROM candidates"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [query.trigram, CANDIDATES + 1, bucket.pk])
        rows = cursor.fetchall()
    if len(rows) > CANDIDATES:  # counted across buckets: the LIMIT was
        return None
    return _sorted_page(bucket, query, lower, inclusive, page, [row[0] for row in rows if row[1]])


def _unordered(
    bucket: Bucket, query: Query, lower: str, inclusive: bool, page: int, deadline: float
) -> FindPage | None:
    """PostgreSQL, for what the trigram index cannot serve (fewer than three literal characters,
    or no pg_trgm): the candidates by one statement without ORDER BY, which the planner may run
    as a parallel sequential scan (a 1,000,000-name bucket in ~170 ms here, where walking the
    name index costs ~300 ms, and ~1.5 s before a VACUUM has marked its pages all-visible).
    None when there are more than CANDIDATES (the ordered scan then fills the page quickly) or
    the budget runs out first (it then goes on with what is left, none)."""
    table, bucket_column, name = _table_and_columns()
    test, pattern = _test(query, name)
    bound = f" AND {name} < %s" if query.upper is not None else ""
    sql = (
        f"WITH candidates AS MATERIALIZED (SELECT {name} AS name FROM {table} "
        f"WHERE {bucket_column} = %s AND {name} {'>=' if inclusive else '>'} %s{bound} "
        f"AND {test} LIMIT %s) SELECT name FROM candidates"
    )
    upper = [query.upper] if query.upper is not None else []
    budget_ms = int((deadline - time.monotonic()) * 1000)
    if budget_ms <= 0:
        return None
    try:
        # The timeout is the transaction's (or savepoint's), set back once the statement is done
        # (when the request runs in a transaction of its own, the rest of it runs without).
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('statement_timeout'), "
                "set_config('statement_timeout', %s, true)",
                [str(budget_ms)],
            )
            before = cursor.fetchone()[0]
            cursor.execute(sql, [bucket.pk, lower, *upper, pattern, CANDIDATES + 1])
            rows = cursor.fetchall()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [before])
    except OperationalError:  # the statement timeout: canceled, the savepoint rolled back
        return None
    return _sorted_page(bucket, query, lower, inclusive, page, [row[0] for row in rows])


def _sorted_page(
    bucket: Bucket, query: Query, lower: str, inclusive: bool, page: int, candidates: list[str]
) -> FindPage | None:
    """The exact page from every candidate there is, or None when they are over CANDIDATES."""
    if len(candidates) > CANDIDATES:
        return None
    upper = query.upper
    names = sorted(
        found
        for found in candidates
        if (found > lower or (inclusive and found == lower))
        and (upper is None or found < upper)
        and query.matches(found)
    )
    return _finish(bucket, names, page)


_trigram_index: dict[str, bool] = {}


def _has_trigram_index() -> bool:
    """Whether migration 0008 could make the trigram index (PostgreSQL with pg_trgm)."""
    if connection.vendor != "postgresql":
        return False
    key = connection.settings_dict["NAME"]
    if key not in _trigram_index:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [TRIGRAM_INDEX])
            _trigram_index[key] = cursor.fetchone() is not None
    return _trigram_index[key]
