"""Housekeeping for the object storage (service layer): orphan blobs, expired upload sessions,
and a consistency check of rows against blobs. Used by objstore_gc and objstore_check."""

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import google_crc32c
from django.utils import timezone

from . import services, uploads
from .backends import blobs
from .models import Object, UploadSession

_BATCH = 1000


@dataclass
class GcReport:
    expired_sessions: int = 0
    finished_sessions: int = 0
    orphan_blobs: list[str] = field(default_factory=list)
    kept_young: int = 0


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
    its blob before its row: the grace period keeps it)."""
    report = GcReport()
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
    return report


@dataclass
class Problem:
    bucket_id: str
    name: str
    blob_key: str
    problem: str


def check_objects(*, verify_hashes: bool = False) -> Iterator[Problem]:
    """Every object whose blob is missing, of the wrong size, or (with ``verify_hashes``) whose
    bytes do not match the stored MD5/CRC32C. Changes nothing."""
    store = blobs()
    rows = Object.objects.select_related("bucket").order_by("pk")
    for obj in rows.iterator(chunk_size=_BATCH):
        try:
            size = store.size(obj.blob_key)
        except FileNotFoundError:
            yield Problem(obj.bucket.bucket_id, obj.name, obj.blob_key, "blob is missing")
            continue
        if size != obj.size:
            yield Problem(
                obj.bucket.bucket_id,
                obj.name,
                obj.blob_key,
                f"blob has {size} bytes, the object {obj.size}",
            )
            continue
        if verify_hashes:
            md5, crc = hashlib.md5(usedforsecurity=False), google_crc32c.Checksum()
            handle = services.object_open(obj)
            try:
                while data := handle.read(services.CHUNK_SIZE):
                    md5.update(data)
                    crc.update(data)
            finally:
                handle.close()
            if obj.md5_hash and base64.b64encode(md5.digest()).decode() != obj.md5_hash:
                yield Problem(obj.bucket.bucket_id, obj.name, obj.blob_key, "MD5 does not match")
            elif base64.b64encode(crc.digest()).decode() != obj.crc32c:
                yield Problem(obj.bucket.bucket_id, obj.name, obj.blob_key, "CRC32C does not match")


def forget_broken(problem: Problem) -> None:
    """Remove the row of an object whose bytes are gone or wrong (objstore_check --delete)."""
    Object.objects.filter(blob_key=problem.blob_key).delete()
    services.delete_blobs([problem.blob_key])
