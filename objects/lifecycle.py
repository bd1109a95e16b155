"""GCS Object Lifecycle Management: a bucket's rules (validated as GCS validates them, stored
exactly as sent) and the runner that applies them.

One pass over a bucket, in this order, each batch its own transaction in the service layer, so
that a pass can be killed at any moment and simply run again:

1. soft-deleted generations whose hardDeleteTime has passed are purged with their blobs. First,
   so that what this pass soft-deletes keeps its whole retention even when ``now`` is moved on;
2. ``AbortIncompleteMultipartUpload`` rules cancel unfinished resumable uploads;
3. ``Delete`` rules that can match noncurrent generations delete them (soft-deleted or gone,
   per the bucket's policy);
4. ``Delete`` rules that can match live objects delete them as any delete does (noncurrent if
   the bucket versions its objects, else soft-deleted or gone). Last, so that an object this
   pass made noncurrent is judged as such only by the next pass: GCS acts on an object once
   a day at most.

Rows are read in keyset-paginated batches of ``BATCH`` with the rules' conditions as SQL where
they can be (a prefix is a range of the name index, age a bound on ``created``, isLive picks
the table); Python then decides each row exactly. A row is deleted only if it is still the
generation (and metageneration) that was judged (``services.Seen``).

Budget: a pass holds one batch of rows and at most ``MAX_ITEMS`` listed items in memory,
whatever the bucket's size; rules are capped at ``MAX_RULES`` and each list condition at
``MAX_LIST`` entries, and the SQL prefilter is dropped (Python alone decides) rather than grow
past ``_MAX_SQL_TERMS`` terms.
"""

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from django.db import OperationalError
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from buckets.models import Bucket

from . import services, uploads
from .models import Object, ObjectVersion, UploadSession
from .names import successor

logger = logging.getLogger(__name__)

DELETE = "Delete"
SET_STORAGE_CLASS = "SetStorageClass"
ABORT_UPLOADS = "AbortIncompleteMultipartUpload"

MAX_RULES = 100  # GCS's limit per bucket
MAX_LIST = 1000  # entries in one matchesPrefix / matchesSuffix / matchesStorageClass
MAX_STRING = 1024  # an object name's longest
MAX_INT32 = 2**31 - 1  # GCS's integer conditions are int32
BATCH = 1000
MAX_ITEMS = 1000  # what a dry run lists; beyond it only counted
_MAX_SQL_TERMS = 200  # SQLite parses a chain of OR terms recursively (its depth limit: 1000)

STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "NEARLINE",
        "COLDLINE",
        "ARCHIVE",
        "MULTI_REGIONAL",
        "REGIONAL",
        "DURABLE_REDUCED_AVAILABILITY",
    }
)
# Every object here is STANDARD (objects.api.resources reports it so).
OUR_STORAGE_CLASS = "STANDARD"

_DAYS, _COUNT, _DATE, _BOOL, _STRINGS, _CLASSES = "days", "count", "date", "bool", "str", "cls"
CONDITIONS: dict[str, str] = {
    "age": _DAYS,
    "createdBefore": _DATE,
    "customTimeBefore": _DATE,
    "daysSinceCustomTime": _DAYS,
    "daysSinceNoncurrentTime": _DAYS,
    "noncurrentTimeBefore": _DATE,
    "isLive": _BOOL,
    "numNewerVersions": _COUNT,
    "matchesPrefix": _STRINGS,
    "matchesSuffix": _STRINGS,
    "matchesStorageClass": _CLASSES,
}
_ABORT_CONDITIONS = frozenset({"age", "matchesPrefix", "matchesSuffix"})
# Conditions only a noncurrent generation can meet.
_NONCURRENT_ONLY = frozenset(
    {"daysSinceNoncurrentTime", "noncurrentTimeBefore", "numNewerVersions"}
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class InvalidLifecycle(ValueError):
    """A lifecycle configuration GCS would refuse; the message names the rule and field."""


# ---- validation -------------------------------------------------------------------------------


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_condition(where: str, kind: str, value: object) -> None:
    if kind in (_DAYS, _COUNT):
        # bool is an int in Python, but true is not a number of days in JSON.
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT32:
            unit = "days" if kind == _DAYS else "versions"
            raise InvalidLifecycle(
                f"{where} must be a whole number of {unit}, 0 or more, not {_short(value)}."
            )
    elif kind == _DATE:
        try:
            if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            raise InvalidLifecycle(
                f'{where} must be a date such as "2024-01-31", not {_short(value)}.'
            ) from None
    elif kind == _BOOL:
        if not isinstance(value, bool):
            raise InvalidLifecycle(f"{where} must be true or false, not {_short(value)}.")
    else:
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            raise InvalidLifecycle(
                f"{where} must be a list of 1 to {MAX_LIST} strings, not {_short(value)}."
            )
        for entry in value:
            if not isinstance(entry, str) or len(entry) > MAX_STRING or "\x00" in entry:
                raise InvalidLifecycle(
                    f"{where} holds {_short(entry)}: each entry must be a string of at most "
                    f"{MAX_STRING} characters, without NUL."
                )
            if kind == _CLASSES and entry not in STORAGE_CLASSES:
                raise InvalidLifecycle(f"{where} holds an unknown storage class {_short(entry)}.")


def _check_rule(index: int, rule: object) -> None:
    where = f"lifecycle.rule[{index}]"
    if not isinstance(rule, dict):
        raise InvalidLifecycle(f"{where} must be an object with an action and a condition.")
    if unknown := set(rule) - {"action", "condition"}:
        raise InvalidLifecycle(f"{where} has an unknown field {_short(sorted(unknown)[0])}.")
    action = rule.get("action")
    if not isinstance(action, dict) or "type" not in action:
        raise InvalidLifecycle(f'{where}.action must be an object with a "type".')
    kind = action["type"]
    if kind not in (DELETE, SET_STORAGE_CLASS, ABORT_UPLOADS):
        raise InvalidLifecycle(
            f"{where}.action.type {_short(kind)} is not one of {DELETE}, {SET_STORAGE_CLASS}, "
            f"{ABORT_UPLOADS}."
        )
    allowed = {"type", "storageClass"} if kind == SET_STORAGE_CLASS else {"type"}
    if unknown := set(action) - allowed:
        raise InvalidLifecycle(f"{where}.action has an unknown field {_short(sorted(unknown)[0])}.")
    if kind == SET_STORAGE_CLASS and action.get("storageClass") not in STORAGE_CLASSES:
        raise InvalidLifecycle(
            f"{where}.action.storageClass must be one of {', '.join(sorted(STORAGE_CLASSES))}, "
            f"not {_short(action.get('storageClass'))}."
        )
    condition = rule.get("condition")
    if not isinstance(condition, dict) or not condition:
        raise InvalidLifecycle(f"{where}.condition must be an object with at least one condition.")
    for name, value in condition.items():
        if name not in CONDITIONS:
            raise InvalidLifecycle(f"{where}.condition has an unknown condition {_short(name)}.")
        if kind == ABORT_UPLOADS and name not in _ABORT_CONDITIONS:
            raise InvalidLifecycle(
                f"{where}.condition.{name} cannot be used with {ABORT_UPLOADS}, which takes only "
                "age, matchesPrefix and matchesSuffix."
            )
        _check_condition(f"{where}.condition.{name}", CONDITIONS[name], value)


def validate_rules(value: object) -> list[dict]:
    """GCS's ``lifecycle.rule`` list (None: no rules), checked as GCS checks it and returned
    exactly as sent, so that it round-trips unchanged. Raises InvalidLifecycle."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidLifecycle("lifecycle.rule must be a list of rules.")
    if len(value) > MAX_RULES:
        raise InvalidLifecycle(
            f"lifecycle.rule holds {len(value)} rules; a bucket may have at most {MAX_RULES}."
        )
    for index, rule in enumerate(value):
        _check_rule(index, rule)
    return value


# ---- plain English ----------------------------------------------------------------------------


def _either(values: list[str]) -> str:
    quoted = [f'"{value}"' for value in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count:,} days"


def describe_rule(rule: dict) -> str:
    """A validated rule in plain English, for the pane (plain text: the template escapes it).

    >>> describe_rule({"action": {"type": "Delete"}, "condition": {"age": 30}})
    'Delete files 30 days after they are created'
    """
    action = rule["action"]
    condition = rule["condition"]
    kind = action["type"]
    noncurrent = condition.get("isLive") is False or bool(_NONCURRENT_ONLY & set(condition))
    subject = "old versions" if noncurrent else "files"
    if kind == ABORT_UPLOADS:
        text = "Abort unfinished uploads"
    elif kind == SET_STORAGE_CLASS:
        text = f"Move {subject}"
    elif condition.get("isLive") is True:
        text = "Delete live files"
    else:
        text = f"Delete {subject}"
    if prefixes := condition.get("matchesPrefix"):
        text += f" under {_either(prefixes)}"
    if suffixes := condition.get("matchesSuffix"):
        text += f" ending in {_either(suffixes)}"
    if classes := condition.get("matchesStorageClass"):
        text += f" of storage class {' or '.join(classes)}"
    if kind == SET_STORAGE_CLASS:
        text += f" to {action['storageClass']}"

    limits = []
    if before := condition.get("createdBefore"):
        limits.append(f"created before {before}")
    if before := condition.get("customTimeBefore"):
        limits.append(f"with a custom time before {before}")
    if before := condition.get("noncurrentTimeBefore"):
        limits.append(f"replaced before {before}")
    if limits:
        text += " " + " and ".join(limits)

    when = []
    if (age := condition.get("age")) is not None:
        if kind == ABORT_UPLOADS:
            when.append(f"after {_days(age)}" if age else "whatever their age")
        else:
            when.append(f"{_days(age)} after they are created" if age else "whatever their age")
    if (days := condition.get("daysSinceCustomTime")) is not None:
        when.append(f"{_days(days)} after their custom time")
    if (days := condition.get("daysSinceNoncurrentTime")) is not None:
        when.append(f"{_days(days)} after they become old versions")
    if newer := condition.get("numNewerVersions"):  # 0: every old version, said already
        if newer == 1:
            when.append("once a newer version exists")
        else:
            when.append(f"when {newer} newer versions exist (the newest {newer} versions are kept)")
    if when:
        text += ("," if limits else "") + " " + " and ".join(when)
    if kind == SET_STORAGE_CLASS:
        text += " (no effect in objstore: one storage class)"
    return text


# ---- rules, compiled against a moment ---------------------------------------------------------


def _days_before(now: datetime, days: int) -> datetime | None:
    """``now`` minus ``days``; None when that is before year 1 (nothing is that old)."""
    try:
        return now - timedelta(days=days)
    except OverflowError:
        return None


def _midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC)


class _Row(NamedTuple):
    pk: int
    name: str
    generation: int
    metageneration: int
    size: int
    # Read only when a rule needs them (each costs a datetime conversion per row).
    created: datetime | None = None
    custom_time: datetime | None = None
    time_deleted: datetime | None = None


_ALWAYS = ("pk", "name", "generation", "metageneration", "size")
_TIMES = ("created", "custom_time", "time_deleted")  # in _Row's order, after _ALWAYS


def _columns(rules: list["_Rule"]) -> tuple[str, ...]:
    """The columns ``rules`` need, in _Row's order: the time columns up to the last needed."""
    needed = [
        any(rule.created_at_most or rule.created_before for rule in rules),
        any(rule.custom_at_most or rule.custom_before for rule in rules),
        any(rule.noncurrent_at_most or rule.noncurrent_before for rule in rules),
    ]
    last = max((index + 1 for index, need in enumerate(needed) if need), default=0)
    return _ALWAYS + _TIMES[:last]


@dataclass(frozen=True)
class _Rule:
    """One rule, its time conditions turned into bounds for this pass's ``now``."""

    index: int
    action: str
    description: str
    never: bool = False  # a condition no object here can meet
    created_at_most: datetime | None = None
    created_before: datetime | None = None
    custom_at_most: datetime | None = None
    custom_before: datetime | None = None
    noncurrent_at_most: datetime | None = None
    noncurrent_before: datetime | None = None
    is_live: bool | None = None
    newer_at_least: int | None = None
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()

    @property
    def for_live(self) -> bool:
        return (
            self.action == DELETE
            and not self.never
            and self.is_live is not False
            and self.noncurrent_at_most is None
            and self.noncurrent_before is None
            # A live object has no newer version; numNewerVersions is for old versions only.
            and self.newer_at_least is None
        )

    @property
    def for_noncurrent(self) -> bool:
        return self.action == DELETE and not self.never and self.is_live is not True

    def matches_name(self, name: str) -> bool:
        return (not self.prefixes or name.startswith(self.prefixes)) and (
            not self.suffixes or name.endswith(self.suffixes)
        )

    def matches(self, row: _Row, newer: int = 0) -> bool:
        if not self.matches_name(row.name):
            return False
        if self.created_at_most is not None and row.created > self.created_at_most:
            return False
        if self.created_before is not None and row.created >= self.created_before:
            return False
        if self.custom_at_most is not None or self.custom_before is not None:
            if row.custom_time is None:
                return False
            if self.custom_at_most is not None and row.custom_time > self.custom_at_most:
                return False
            if self.custom_before is not None and row.custom_time >= self.custom_before:
                return False
        if self.noncurrent_at_most is not None or self.noncurrent_before is not None:
            if row.time_deleted is None:
                return False
            if self.noncurrent_at_most is not None and row.time_deleted > self.noncurrent_at_most:
                return False
            if self.noncurrent_before is not None and row.time_deleted >= self.noncurrent_before:
                return False
        return self.newer_at_least is None or newer >= self.newer_at_least

    def name_q(self) -> tuple[Q, int] | None:
        """The name conditions as SQL (a superset: SQLite's LIKE ignores ASCII case), with how
        many terms that is; None when there are none."""
        where, terms = Q(), 0
        if self.prefixes:
            ranges = Q()
            for prefix in self.prefixes:
                span = Q(name__gte=prefix)
                if (upper := successor(prefix)) is not None:
                    span &= Q(name__lt=upper)
                ranges |= span
            where &= ranges
            terms += 2 * len(self.prefixes)
        if self.suffixes:
            ends = Q()
            for suffix in self.suffixes:
                ends |= Q(name__endswith=suffix)
            where &= ends
            terms += len(self.suffixes)
        return (where, terms) if terms else None

    def time_q(self) -> tuple[Q, int] | None:
        bounds = {
            "created__lte": self.created_at_most,
            "created__lt": self.created_before,
            "custom_time__lte": self.custom_at_most,
            "custom_time__lt": self.custom_before,
            "time_deleted__lte": self.noncurrent_at_most,
            "time_deleted__lt": self.noncurrent_before,
        }
        found = {lookup: bound for lookup, bound in bounds.items() if bound is not None}
        return (Q(**found), len(found)) if found else None


def _compile(index: int, rule: dict, now: datetime) -> _Rule:
    condition = rule["condition"]
    found: dict[str, Any] = {}
    never = False
    for name, lookup in (
        ("age", "created_at_most"),
        ("daysSinceCustomTime", "custom_at_most"),
        ("daysSinceNoncurrentTime", "noncurrent_at_most"),
    ):
        if name in condition:
            found[lookup] = _days_before(now, condition[name])
            never = never or found[lookup] is None
    for name, lookup in (
        ("createdBefore", "created_before"),
        ("customTimeBefore", "custom_before"),
        ("noncurrentTimeBefore", "noncurrent_before"),
    ):
        if name in condition:
            found[lookup] = _midnight(condition[name])
    if "matchesStorageClass" in condition:
        never = never or OUR_STORAGE_CLASS not in condition["matchesStorageClass"]
    return _Rule(
        index=index,
        action=rule["action"]["type"],
        description=describe_rule(rule),
        never=never,
        is_live=condition.get("isLive"),
        newer_at_least=condition.get("numNewerVersions"),
        prefixes=tuple(condition.get("matchesPrefix", ())),
        suffixes=tuple(condition.get("matchesSuffix", ())),
        **found,
    )


def _prefilter(rules: list[_Rule], *, counting_newer: bool) -> Q | None:
    """Rows any of ``rules`` may match, as SQL; None to read every row. With
    ``counting_newer`` a rule that counts newer versions keeps only its name conditions: it
    must see every generation of the names it covers to count them."""
    where: Q | None = Q()
    terms = 0
    for rule in rules:
        parts = [rule.name_q()]
        if not (counting_newer and rule.newer_at_least is not None):
            parts.append(rule.time_q())
        present = [part for part in parts if part is not None]
        if not present:
            where = None  # this rule may match any row
            break
        branch = Q()
        for q, count in present:
            branch &= q
            terms += count
        where |= branch
    if terms > _MAX_SQL_TERMS:
        where = None
    span = _name_span(rules)
    if span is None:
        return where
    return span if where is None else span & where


def _name_span(rules: list[_Rule]) -> Q | None:
    """When every rule has prefixes, the one name range that holds them all: an index range
    the database can scan (it cannot use the ranges of an OR of prefixes)."""
    if not rules or not all(rule.prefixes for rule in rules):
        return None
    prefixes = [prefix for rule in rules for prefix in rule.prefixes]
    span = Q(name__gte=min(prefixes))
    uppers = [successor(prefix) for prefix in prefixes]
    if None not in uppers:
        span &= Q(name__lt=max(upper for upper in uppers if upper is not None))
    return span


# ---- the report -------------------------------------------------------------------------------

LIVE, NONCURRENT, SOFT_DELETED, UPLOAD = "live", "noncurrent", "soft-deleted", "upload"


@dataclass(frozen=True)
class LifecycleItem:
    """Something a pass deletes (listed by dry runs)."""

    bucket_id: str
    name: str
    generation: int | None  # None for an upload
    kind: str  # LIVE, NONCURRENT, SOFT_DELETED or UPLOAD
    size: int
    rule: int | None  # index in the bucket's rules; None: its soft delete retention ended
    reason: str


@dataclass
class BucketResult:
    bucket_id: str
    live_deleted: int = 0
    noncurrent_deleted: int = 0
    purged: int = 0
    sessions_aborted: int = 0
    bytes: int = 0  # what everything above held
    examined: int = 0  # rows read and judged against the rules
    error: str = ""

    @property
    def changed(self) -> int:
        return self.live_deleted + self.noncurrent_deleted + self.purged + self.sessions_aborted


@dataclass
class LifecycleReport:
    dry_run: bool
    buckets: list[BucketResult] = field(default_factory=list)
    items: list[LifecycleItem] = field(default_factory=list)  # the first MAX_ITEMS (dry run)
    total_items: int = 0
    # The pass ended early (asked to stop, or a preview's limit was reached): the counts are
    # lower bounds.
    stopped: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class Progress:
    bucket_id: str
    phase: str
    examined: int
    deleted: int


class _Stop(Exception):
    pass


# ---- the runner -------------------------------------------------------------------------------


def buckets_due(now: datetime | None = None) -> list[Bucket]:
    """Every bucket that has lifecycle rules or soft-deleted objects past their retention."""
    now = now or timezone.now()
    expired = set(
        ObjectVersion.objects.filter(state=ObjectVersion.SOFT_DELETED, hard_delete_time__lte=now)
        .order_by()  # the model's ordering would make DISTINCT one row per name
        .values_list("bucket_id", flat=True)
        .distinct()
    )
    return [
        bucket
        for bucket in Bucket.objects.order_by("pk").iterator()
        if bucket.lifecycle_rules or bucket.pk in expired
    ]


def run(
    *,
    buckets: Iterable[Bucket] | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> LifecycleReport:
    """One lifecycle pass over ``buckets`` (default: ``buckets_due()``). ``now`` is the moment
    the rules are judged against; ``on_progress`` is called after every batch; ``stop``, once
    set, ends the pass between two batches. With ``dry_run`` nothing changes and the report
    lists what would go (the first MAX_ITEMS, and how many in all)."""
    return _Pass(dry_run=dry_run, now=now, on_progress=on_progress, stop=stop).run(buckets)


def preview(bucket: Bucket, limit: int = 50, *, now: datetime | None = None) -> LifecycleReport:
    """What the next pass would delete in ``bucket``: a dry run that stops once it has found
    more than ``limit`` items (``report.stopped`` then says there are more)."""
    lifecycle = _Pass(dry_run=True, now=now, item_limit=limit, stop_when_full=True)
    return lifecycle.run([bucket])


class _Pass:
    def __init__(
        self,
        *,
        dry_run: bool,
        now: datetime | None,
        on_progress: Callable[[Progress], None] | None = None,
        stop: threading.Event | None = None,
        item_limit: int | None = None,
        stop_when_full: bool = False,
    ) -> None:
        self.now = now or timezone.now()
        self.report = LifecycleReport(dry_run=dry_run)
        self.on_progress = on_progress
        self.stop = stop
        self.item_limit = MAX_ITEMS if item_limit is None else item_limit
        self.stop_when_full = stop_when_full

    def run(self, buckets: Iterable[Bucket] | None) -> LifecycleReport:
        started = time.monotonic()
        chosen = buckets_due(self.now) if buckets is None else list(buckets)
        try:
            for bucket in chosen:
                fresh = Bucket.objects.filter(pk=bucket.pk).first()  # its current policy
                if fresh is not None:
                    self._bucket(fresh)
        except _Stop:
            self.report.stopped = True
        self.report.seconds = time.monotonic() - started
        return self.report

    # -- bookkeeping

    def _checkpoint(self, result: BucketResult, phase: str) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(result.bucket_id, phase, result.examined, result.changed))
        if self.stop is not None and self.stop.is_set():
            raise _Stop

    def _list(self, item: LifecycleItem) -> None:
        self.report.total_items += 1
        if len(self.report.items) < self.item_limit:
            self.report.items.append(item)
        elif self.stop_when_full:
            raise _Stop

    # -- one bucket

    def _bucket(self, bucket: Bucket) -> None:
        result = BucketResult(bucket.bucket_id)
        self.report.buckets.append(result)
        rules: list[_Rule] = []
        try:
            rules = [
                _compile(index, rule, self.now)
                for index, rule in enumerate(validate_rules(bucket.lifecycle_rules))
            ]
        except (InvalidLifecycle, KeyError, TypeError) as exc:
            # Stored before validation existed, or by hand: purge still runs, rules do not.
            result.error = f"rules not applied: {exc}"
        live = [rule for rule in rules if rule.for_live]
        noncurrent = [rule for rule in rules if rule.for_noncurrent]
        aborts = [rule for rule in rules if rule.action == ABORT_UPLOADS and not rule.never]
        if self.report.dry_run:
            # Nothing changes, so the order is free: what rules delete is listed first.
            self._live(bucket, live, result)
            self._noncurrent(bucket, noncurrent, result)
            self._sessions(bucket, aborts, result)
            self._purge(bucket, result)
        else:
            self._purge(bucket, result)
            self._sessions(bucket, aborts, result)
            self._noncurrent(bucket, noncurrent, result)
            self._live(bucket, live, result)

    def _purge(self, bucket: Bucket, result: BucketResult) -> None:
        expired = ObjectVersion.objects.filter(
            bucket=bucket, state=ObjectVersion.SOFT_DELETED, hard_delete_time__lte=self.now
        )
        totals = expired.aggregate(count=Count("pk"), size=Sum("size"))
        if not totals["count"]:
            return
        if self.report.dry_run:
            result.purged += totals["count"]
            result.bytes += totals["size"] or 0
            room = max(0, self.item_limit - len(self.report.items))
            listed = 0
            # One row past the room, so that a preview knows there is more and stops.
            for name, generation, size in expired.order_by("hard_delete_time", "pk").values_list(
                "name", "generation", "size"
            )[: room + 1]:
                reason = "soft delete retention ended"
                self._list(
                    LifecycleItem(
                        bucket.bucket_id, name, generation, SOFT_DELETED, size, None, reason
                    )
                )
                listed += 1
            self.report.total_items += totals["count"] - listed  # counted, not read
            return
        while True:
            purged = services.versions_purge_expired(bucket=bucket, now=self.now, limit=BATCH)
            result.purged += purged.count
            result.bytes += purged.size
            self._checkpoint(result, "purging soft-deleted")
            if purged.count < BATCH:
                return

    def _sessions(self, bucket: Bucket, rules: list[_Rule], result: BucketResult) -> None:
        if not rules:
            return
        after = 0
        while True:
            batch = list(
                UploadSession.objects.filter(
                    bucket=bucket, completed_generation__isnull=True, pk__gt=after
                ).order_by("pk")[:BATCH]
            )
            if not batch:
                return
            after = batch[-1].pk
            for session in batch:
                result.examined += 1
                row = _Row(session.pk, session.name, 0, 0, session.received, session.created, None)
                rule = next((rule for rule in rules if rule.matches(row)), None)
                if rule is None:
                    continue
                if self.report.dry_run:
                    self._list(
                        LifecycleItem(
                            bucket.bucket_id,
                            session.name,
                            None,
                            UPLOAD,
                            session.received,
                            rule.index,
                            rule.description,
                        )
                    )
                else:
                    uploads.session_cancel(session=session)
                result.sessions_aborted += 1
                result.bytes += session.received
            self._checkpoint(result, "aborting uploads")

    def _noncurrent(self, bucket: Bucket, rules: list[_Rule], result: BucketResult) -> None:
        if not rules:
            return
        counting = any(rule.newer_at_least is not None for rule in rules)
        rows = ObjectVersion.objects.filter(bucket=bucket, state=ObjectVersion.NONCURRENT)
        if (where := _prefilter(rules, counting_newer=counting)) is not None:
            rows = rows.filter(where)
        # Newest first within a name, so that a row's place in its name's run is how many
        # noncurrent generations are newer than it (soft-deleted ones are not read: they never
        # count). The whole pass is one backward scan of the version_listing index.
        rows = rows.order_by("-name", "-generation")
        current_name, newer_noncurrent = None, 0
        for batch in _keyset(rows, _columns(rules), by_generation=True):
            live: dict[str, int] = {}
            if counting:
                names = {row.name for row in batch}
                live = dict(
                    Object.objects.filter(bucket=bucket, name__in=names)
                    .order_by()  # the model's ordering joins the bucket table
                    .values_list("name", "generation")
                )
            matched: list[tuple[_Row, _Rule]] = []
            for row in batch:
                result.examined += 1
                if row.name != current_name:
                    current_name, newer_noncurrent = row.name, 0
                newer = newer_noncurrent + int(live.get(row.name, 0) > row.generation)
                newer_noncurrent += 1
                rule = next((rule for rule in rules if rule.matches(row, newer)), None)
                if rule is not None:
                    matched.append((row, rule))
            deleted = self._act(bucket, matched, NONCURRENT)
            result.noncurrent_deleted += deleted[0]
            result.bytes += deleted[1]
            self._checkpoint(result, "old versions")

    def _live(self, bucket: Bucket, rules: list[_Rule], result: BucketResult) -> None:
        if not rules:
            return
        rows = Object.objects.filter(bucket=bucket)
        if (where := _prefilter(rules, counting_newer=False)) is not None:
            rows = rows.filter(where)
        for batch in _keyset(rows.order_by("name"), _columns(rules), by_generation=False):
            matched = []
            for row in batch:
                result.examined += 1
                rule = next((rule for rule in rules if rule.matches(row)), None)
                if rule is not None:
                    matched.append((row, rule))
            deleted = self._act(bucket, matched, LIVE)
            result.live_deleted += deleted[0]
            result.bytes += deleted[1]
            self._checkpoint(result, "live objects")

    def _act(self, bucket: Bucket, matched: list[tuple[_Row, _Rule]], kind: str) -> tuple[int, int]:
        """Delete (or in a dry run list) the matched rows; returns how many went and their
        bytes. A row changed since it was read stays (the service layer skips it)."""
        if not matched:
            return 0, 0
        if self.report.dry_run:
            for row, rule in matched:
                self._list(
                    LifecycleItem(
                        bucket.bucket_id,
                        row.name,
                        row.generation,
                        kind,
                        row.size,
                        rule.index,
                        rule.description,
                    )
                )
            return len(matched), sum(row.size for row, _ in matched)
        seen = [services.Seen(row.pk, row.generation, row.metageneration) for row, _ in matched]
        act = services.objects_retire_batch if kind == LIVE else services.versions_delete_batch
        for attempt in range(3):
            try:
                gone = act(bucket=bucket, rows=seen)
                return gone.count, gone.size
            except OperationalError:
                # A deadlock or a busy database rolled the batch back whole: nothing of it
                # happened, so it is safe to try again; past that, the next pass will.
                if attempt == 2:
                    logger.warning("lifecycle batch in %s skipped", bucket.bucket_id, exc_info=True)
                    return 0, 0
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")


def _keyset(
    rows: QuerySet, columns: tuple[str, ...], *, by_generation: bool
) -> Iterator[list[_Row]]:
    """``rows`` (ordered by name, or by name and generation descending) in batches of BATCH,
    each batch one query that starts after the last row of the one before."""
    after: _Row | None = None
    while True:
        page = rows
        if after is not None:
            if by_generation:
                page = page.filter(
                    Q(name__lt=after.name) | Q(name=after.name, generation__lt=after.generation),
                    name__lte=after.name,
                )
            else:
                page = page.filter(name__gt=after.name)
        batch = [_Row(*values) for values in page.values_list(*columns)[:BATCH]]
        if not batch:
            return
        yield batch
        if len(batch) < BATCH:
            return
        after = batch[-1]
