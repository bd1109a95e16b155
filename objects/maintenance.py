"""Housekeeping for the object storage (service layer): orphan blobs, expired upload sessions,
and a consistency check of rows against blobs. Used by objstore_gc and objstore_check."""

import base64
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import google_crc32c
from django.db import connection
from django.utils import timezone

from . import retirement, services, uploads
from .backends import FileSystemBlobs, blobs
from .models import Object, UploadSession

_BATCH = 1000


@dataclass
class GcReport:
    expired_sessions: int = 0
    finished_sessions: int = 0
    orphan_blobs: list[str] = field(default_factory=list)
    kept_young: int = 0
    empty_directories: int = 0
    retired_swept: int = 0


def _session_base(key: str) -> str:
    return key.split(".part-", 1)[0]


def _unreferenced(keys: list[str]) -> set[str]:
    used = set(Object.objects.filter(blob_key__in=keys).values_list("blob_key", flat=True))
    bases = {_session_base(key) for key in keys}
    used_bases = set(
        UploadSession.objects.filter(
            blob_key__in=bases, completed_generation__isnull=True
        ).values_list("blob_key", flat=True)
    )
    return {key for key in keys if key not in used and _session_base(key) not in used_bases}


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


@dataclass
class Problem:
    bucket_id: str
    name: str
    blob_key: str
    problem: str


def check_objects(*, verify_hashes: bool = False) -> Iterator[Problem]:
    """Every object whose blob is missing, of the wrong size, or (with ``verify_hashes``) whose
    bytes do not match the stored MD5/CRC32C. Changes nothing.

    A blob that cannot be read is a problem of its object, not the end of the check. Database
    errors (a damaged database) are left to the caller: no row after one can be trusted."""
    store = blobs()
    rows = Object.objects.select_related("bucket").order_by("pk")
    for obj in rows.iterator(chunk_size=_BATCH):
        try:
            problem = _check_one(store, obj, verify_hashes)
        except Exception as exc:
            problem = f"could not read the blob: {exc!r}"
        if problem == _MISSING and _replaced_meanwhile(obj):
            continue  # a writer replaced or deleted the object while we looked: not a problem
        if problem:
            yield Problem(obj.bucket.bucket_id, obj.name, obj.blob_key, problem)


_MISSING = "blob is missing"


def _check_one(store, obj: Object, verify_hashes: bool) -> str | None:
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


def _replaced_meanwhile(obj: Object) -> bool:
    return not Object.objects.filter(pk=obj.pk, blob_key=obj.blob_key).exists()


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
    """Remove the row of an object whose bytes are gone or wrong (objstore_check --delete)."""
    Object.objects.filter(blob_key=problem.blob_key).delete()
    services.delete_blobs([problem.blob_key])
