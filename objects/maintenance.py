"""Housekeeping for the object storage (service layer): orphan blobs, expired upload sessions,
and a consistency check of rows against blobs. Used by objstore_gc and objstore_check.

A blob is referenced by a live ``Object``, by an ``ObjectVersion`` (a noncurrent or soft-deleted
generation, whose bytes are as precious as a live one's until it is purged), or by an unfinished
upload session; the one definition is ``retirement.unreferenced``."""

import base64
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import google_crc32c
from django.db import connection, transaction
from django.utils import timezone

from . import retirement, services, uploads
from .backends import FileSystemBlobs, blobs
from .models import Object, ObjectData, ObjectVersion, UploadSession

_BATCH = 1000


@dataclass
class GcReport:
    expired_sessions: int = 0
    finished_sessions: int = 0
    orphan_blobs: list[str] = field(default_factory=list)
    kept_young: int = 0
    empty_directories: int = 0
    retired_swept: int = 0


def _unreferenced(keys: list[str]) -> set[str]:
    """The keys that no row refers to (``retirement.unreferenced``: live objects, noncurrent
    and soft-deleted versions, unfinished uploads and the parts of a cloud upload still in
    progress), read in one statement so that a blob moving between tables is never missed."""
    return set(retirement.unreferenced(keys, session_parts=True))


def _batches(items: Iterator[tuple[str, datetime]]) -> Iterator[list[tuple[str, datetime]]]:
    batch: list[tuple[str, datetime]] = []
    for item in items:
        batch.append(item)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def collect_garbage(*, grace: timedelta, dry_run: bool = False) -> GcReport:
    """Cancel expired resumable sessions, forget finished ones, and delete blobs that no object
    or live session references and that are older than ``grace`` (a write in progress has
    its blob before its row: the grace period keeps it). Then delete the retired blobs that
    are due, and on local disk the directories left empty."""
    report = GcReport()
    started = time.time()
    now = timezone.now()
    for session in UploadSession.objects.filter(
        completed_generation__isnull=True, expires__lt=now
    ).iterator():
        report.expired_sessions += 1
        if not dry_run:
            uploads.session_cancel(session=session)
    finished = UploadSession.objects.filter(completed_generation__isnull=False, expires__lt=now)
    report.finished_sessions = finished.count()
    if not dry_run:
        finished.delete()

    cutoff = now - grace
    store = blobs()
    touched: dict[str, int] = {}  # directory -> its mtime (ns) right after our last change
    for batch in _batches(store.keys()):
        orphans = _unreferenced([key for key, _ in batch])
        for key, modified in batch:
            if key not in orphans:
                continue
            if modified > cutoff:
                report.kept_young += 1
                continue
            report.orphan_blobs.append(key)
            if not dry_run:
                store.delete(key)
                if isinstance(store, FileSystemBlobs):
                    _remember_mtime(touched, os.path.dirname(store.storage.path(key)))
    if not dry_run:
        report.retired_swept = retirement.sweep_retired()
        if isinstance(store, FileSystemBlobs):
            report.empty_directories = remove_empty_directories(
                Path(store.storage.location), started=started, touched=touched
            )
    return report


def _remember_mtime(touched: dict[str, int], directory: str) -> None:
    try:
        touched[directory] = os.stat(directory).st_mtime_ns
    except OSError:
        pass


def remove_empty_directories(
    root: Path, *, started: float, touched: dict[str, int] | None = None
) -> int:
    """Remove the empty directories under ``root`` (never ``root``), deepest first; returns
    how many went.

    rmdir only removes an empty directory, so a directory that got a file meanwhile stays.
    What rmdir cannot tell is a directory an upload has *just made* and is about to create its
    blob in (FileSystemBlobs makes the directory, then the file): removing it then would fail
    that upload. So a directory goes only if nobody changed it since this run began: its mtime
    is older than ``started``, or is still the one it had right after this run's own last
    change in it (``touched``: the orphans it deleted, the directories it removed).
    """
    touched = dict(touched or {})
    started_ns = int(started * 1_000_000_000)
    removed = 0
    for directory, _, _ in os.walk(root, topdown=False):
        if Path(directory) == root:
            continue
        try:
            mtime = os.stat(directory).st_mtime_ns
        except OSError:
            continue
        if mtime >= started_ns and touched.get(directory) != mtime:
            continue
        try:
            os.rmdir(directory)
        except OSError:  # not empty (any more), or gone: leave it
            continue
        removed += 1
        _remember_mtime(touched, os.path.dirname(directory))
    return removed


def describe_object(
    bucket_id: str, name: str, *, generation: int | None = None, state: str = "live"
) -> str:
    """An object as messages name it: ``bucket/name``, and which generation for one that is
    not live (noncurrent or soft-deleted)."""
    where = f"{bucket_id}/{name}"
    if state == "live":
        return where
    label = dict(ObjectVersion.STATES).get(state, state)
    return f"{where} (generation {generation}, {label})"


@dataclass
class Problem:
    bucket_id: str
    name: str
    blob_key: str
    problem: str
    generation: int | None = None
    state: str = "live"  # or ObjectVersion.NONCURRENT / ObjectVersion.SOFT_DELETED

    @property
    def where(self) -> str:
        return describe_object(
            self.bucket_id, self.name, generation=self.generation, state=self.state
        )


def check_objects(*, verify_hashes: bool = False) -> Iterator[Problem]:
    """Every object, live, noncurrent or soft-deleted, whose blob is missing, of the wrong
    size, or (with ``verify_hashes``) whose bytes do not match the stored MD5/CRC32C. Changes
    nothing.

    A blob that cannot be read is a problem of its object, not the end of the check. Database
    errors (a damaged database) are left to the caller: no row after one can be trusted."""
    store = blobs()
    for model in (Object, ObjectVersion):
        rows = model.objects.select_related("bucket").order_by("pk")
        for row in rows.iterator(chunk_size=_BATCH):
            try:
                problem = _check_one(store, row, verify_hashes)
            except Exception as exc:
                problem = f"could not read the blob: {exc!r}"
            if problem == _MISSING and _replaced_meanwhile(row):
                continue  # a writer replaced, deleted or purged it while we looked: not a problem
            if problem:
                yield Problem(
                    row.bucket.bucket_id,
                    row.name,
                    row.blob_key,
                    problem,
                    generation=row.generation,
                    state=row.state,
                )


_MISSING = "blob is missing"


def _check_one(store, obj: ObjectData, verify_hashes: bool) -> str | None:
    try:
        size = store.size(obj.blob_key)
    except FileNotFoundError:
        return _MISSING
    if size != obj.size:
        return f"blob has {size} bytes, the object {obj.size}"
    if not verify_hashes:
        return None
    md5, crc = hashlib.md5(usedforsecurity=False), google_crc32c.Checksum()
    try:
        handle = services.object_open(obj)
    except services.BlobMissing:
        return _MISSING
    try:
        while data := handle.read(services.CHUNK_SIZE):
            md5.update(data)
            crc.update(data)
    finally:
        handle.close()
    if obj.md5_hash and base64.b64encode(md5.digest()).decode() != obj.md5_hash:
        return "MD5 does not match"
    if base64.b64encode(crc.digest()).decode() != obj.crc32c:
        return "CRC32C does not match"
    return None


def _replaced_meanwhile(row: ObjectData) -> bool:
    """Whether the row no longer refers to the blob it had: replaced or deleted (a live one),
    purged, or restored as the live object (a version: its blob went with it)."""
    return not type(row).objects.filter(pk=row.pk, blob_key=row.blob_key).exists()


def sqlite_quick_check() -> str | None:
    """On SQLite, ``PRAGMA quick_check``'s verdict ('ok' or its complaints in one line); None
    on other databases. Raises DatabaseError when the file cannot be read at all."""
    if connection.vendor != "sqlite":
        return None
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA quick_check(20)")
        rows = cursor.fetchall()
    return "; ".join(str(row[0]) for row in rows) or "no answer"


def forget_broken(problem: Problem) -> None:
    """Remove the row of an object whose bytes are gone or wrong (objstore_check --delete):
    whichever row holds the blob now, live or not (a delete or restore since the check may
    have moved it), and then the blob."""
    with transaction.atomic():
        Object.objects.filter(blob_key=problem.blob_key).delete()
        ObjectVersion.objects.filter(blob_key=problem.blob_key).delete()
    services.delete_blobs([problem.blob_key])
