"""The one service layer for every object read and write.

The pane, the admin and the management commands call these functions; none of them touches the
object Storage or a blob key. Writes follow one pattern, which is what keeps stored objects whole:

1. stream the new bytes to a fresh blob key, computing size, MD5 and CRC32C on the way;
2. in one short transaction, check preconditions and point the object row at the new blob;
3. after commit, delete the blob the row pointed at before.

A request that dies in step 1 leaves only an unreferenced blob and the previous object intact;
no reader ever sees a half-written object.
"""

import base64
import copy
import errno
import hashlib
import io
import logging
import mimetypes
import os
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import IO, NamedTuple, Protocol, TypeVar

import google_crc32c
from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from buckets import quotas
from buckets.models import Bucket
from buckets.quotas import QuotaExceeded
from buckets.services import merge_map
from objstore_site import db
from objstore_site.db import delete_row, get_row, insert_row

from . import retirement
from .backends import UPLOAD_CHUNK, blobs
from .listing import ListPage, objects_list, versions_list
from .models import Object, ObjectData, ObjectVersion
from .names import InvalidObjectName, successor, validate_object_name

__all__ = [
    "ChecksumMismatch",
    "ExpectedChecksums",
    "ObjectAttributes",
    "commit_blob",
    "object_compose",
    "object_copy",
    "InsufficientStorage",
    "InvalidObjectName",
    "ListPage",
    "BlobMissing",
    "ObjectNotFound",
    "ObjectTooLarge",
    "PreconditionFailed",
    "QuotaExceeded",
    "UploadInterrupted",
    "Preconditions",
    "bucket_delete",
    "bucket_stats",
    "folder_create",
    "folder_delete",
    "object_delete",
    "object_get",
    "object_open",
    "object_read",
    "object_patch",
    "object_upload",
    "objects_count_under",
    "objects_list",
    "deleted_restore",
    "object_restore",
    "objects_retire_batch",
    "versions_delete_batch",
    "versions_purge_expired",
    "object_versions",
    "version_purge",
    "versions_list",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHUNK_SIZE = 1024 * 1024
_DELETE_BATCH = 500


class ObjectNotFound(Exception):
    def __init__(self, bucket: Bucket, name: str) -> None:
        super().__init__(f"No such object: {bucket.bucket_id}/{name}")
        self.bucket = bucket
        self.name = name


class ObjectTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The object is larger than the limit of {limit} bytes.")
        self.limit = limit


class UploadInterrupted(Exception):
    """The client's bytes stopped coming (it disconnected, or its body broke off)."""


DISK_FULL = (
    "The server is out of storage space: uploads are refused until space is freed "
    "(deleting objects still works)."
)


class InsufficientStorage(Exception):
    def __init__(self, message: str = DISK_FULL) -> None:
        super().__init__(message)


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC from a write, or SQLite's "database or disk is full"."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "disk is full" in str(exc) or "No space left" in str(exc)


_watched: tuple[object, list[str]] | None = None


def _watched_directories() -> list[str]:
    """The filesystems a write fills: the blobs' (on local disk) and SQLite's. Worked out once
    per configured storage (~50 us otherwise, a tenth of a small upload's service time)."""
    global _watched
    from django.core.files.storage import storages
    from django.db import connection

    storage = storages["objstore"]
    if _watched is not None and _watched[0] is storage:
        return _watched[1]
    found = []
    path = blobs().local_path("")
    if path is not None:
        found.append(str(path))
    if connection.vendor == "sqlite":
        found.append(str(settings.DATA_DIR))
    _watched = (storage, found)
    return found


def check_free_space(incoming: int = 0) -> None:
    """Refuse a write that would leave less than OBJSTORE_MIN_FREE_BYTES free, so that deletes
    (which SQLite needs a little room for) always work and the service recovers by itself once
    space is freed. A statvfs per filesystem: ~2 us."""
    reserve = settings.OBJSTORE_MIN_FREE_BYTES
    if reserve <= 0:
        return
    for directory in _watched_directories():
        try:
            stat = os.statvfs(directory)
        except FileNotFoundError:
            continue
        if stat.f_bavail * stat.f_frsize - incoming < reserve:
            raise InsufficientStorage


class PreconditionFailed(Exception):
    def __init__(self) -> None:
        super().__init__("At least one of the pre-conditions you specified did not hold.")


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Preconditions:
    """GCS's generation preconditions; ``if_generation_match=0`` means "only if absent"."""

    if_generation_match: int | None = None
    if_generation_not_match: int | None = None
    if_metageneration_match: int | None = None
    if_metageneration_not_match: int | None = None

    def check(self, current: Object | None) -> None:
        generation = current.generation if current else 0
        if self.if_generation_match is not None and generation != self.if_generation_match:
            raise PreconditionFailed
        if self.if_generation_not_match is not None and generation == self.if_generation_not_match:
            raise PreconditionFailed
        if self.if_metageneration_match is not None or self.if_metageneration_not_match is not None:
            if current is None:
                raise PreconditionFailed
            if (
                self.if_metageneration_match is not None
                and current.metageneration != self.if_metageneration_match
            ):
                raise PreconditionFailed
            if current.metageneration == self.if_metageneration_not_match:
                raise PreconditionFailed


def new_blob_key(bucket: Bucket) -> str:
    # Two hex characters of fan-out keep directories small on local disk.
    token = secrets.token_hex(16)
    return f"{bucket.bucket_id}/{token[:2]}/{token}"


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class _BackgroundMd5:
    """MD5 of a stream, computed in a thread of its own once the stream proves large.

    MD5 is the costliest step of an upload (about a third of a 256 MiB upload's time, by
    py-spy); hashlib releases the GIL while it hashes, so a second thread overlaps it with
    reading the socket and writing the blob. At most ``_QUEUED`` chunk waits in memory (with
    the one being hashed and the one being read, three UPLOAD_CHUNKs per upload at most).
    """

    _QUEUED = 1

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None

    def update(self, data: bytes) -> None:
        if self._queue is None:
            if len(data) < CHUNK_SIZE:  # small objects: a thread would cost more than it saves
                self._md5.update(data)
                return
            self._queue = queue.Queue(self._QUEUED)
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        self._queue.put(data)

    def _run(self) -> None:
        assert self._queue is not None
        while (data := self._queue.get()) is not None:
            self._md5.update(data)

    def digest(self) -> bytes:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._queue = None
        return self._md5.digest()


class HashingReader(File):
    """Feeds a source stream to Storage.save in bounded chunks while hashing and counting it."""

    def __init__(self, source: Readable, limit: int) -> None:
        super().__init__(None, name="blob")
        self._source = source
        self._limit = limit
        self.md5 = _BackgroundMd5()
        self.crc32c = google_crc32c.Checksum()
        self.size = 0

    def tell(self) -> int:
        return self.size  # how far the stream has been read (google-resumable-media asks)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False  # boto3 then streams it as a non-seekable multipart upload

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._source.read(UPLOAD_CHUNK if size is None or size < 0 else size)
        except OSError as exc:
            # Not an OSError any more: cloud clients would take it for their own network error
            # and retry reading a client that is gone.
            raise UploadInterrupted(str(exc) or type(exc).__name__) from exc
        if data:
            self.size += len(data)
            if self.size > self._limit:
                raise ObjectTooLarge(self._limit)
            self.md5.update(data)
            self.crc32c.update(data)
        return data

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        while data := self.read(chunk_size or UPLOAD_CHUNK):
            yield data

    def multiple_chunks(self, chunk_size: int | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


def write_blob(
    bucket: Bucket, source: Readable, declared_size: int = 0
) -> tuple[str, HashingReader]:
    """Stream ``source`` to a new blob. On any failure the partial blob is removed."""
    check_free_space(declared_size)
    key = new_blob_key(bucket)
    reader = HashingReader(source, settings.OBJSTORE_MAX_OBJECT_SIZE)
    try:
        blobs().write(key, reader)
    except FileExistsError:
        raise  # the key holds someone else's bytes: leave them be
    except OSError as exc:
        delete_blobs([key])
        if is_disk_full(exc):
            raise InsufficientStorage from exc
        raise
    except BaseException:
        delete_blobs([key])
        raise
    finally:
        reader.md5.digest()  # the last bytes are hashed and the hashing thread has ended
    return key, reader


def delete_blobs(keys: Iterable[str]) -> None:
    """Delete blobs that no row has ever referred to (a write that failed before its commit)."""
    retirement.delete_now(keys)


def delete_blobs_after_commit(keys: list[str]) -> None:
    """Blobs the current transaction stops referring to: deleted (or retired) once it commits."""
    retirement.release_after_commit(keys)


def delete_unreferenced_blobs_after_commit(keys: list[str]) -> None:
    """As delete_blobs_after_commit, but only the keys that no row refers to (checked now)."""
    retirement.release_unreferenced_after_commit(keys)


def delete_unreferenced_blobs(keys: list[str]) -> None:
    with transaction.atomic():
        delete_unreferenced_blobs_after_commit(keys)


def _next_generation(current: Object | None) -> int:
    # Microseconds since the epoch, as GCS does, but strictly increasing per name.
    now = time.time_ns() // 1000
    return max(now, current.generation + 1) if current else now


def guess_content_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


class ChecksumMismatch(Exception):
    def __init__(self, kind: str, provided: str, calculated: str) -> None:
        super().__init__(
            f'Provided {kind} "{provided}" doesn\'t match calculated {kind} "{calculated}".'
        )


@dataclass(frozen=True)
class ObjectAttributes:
    """What a write sets besides the bytes: GCS's writable object metadata (validated)."""

    content_type: str | None = None
    content_encoding: str = ""
    cache_control: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    custom_time: datetime | None = None

    def __post_init__(self) -> None:
        validate_header_fields(
            content_type=self.content_type,
            content_encoding=self.content_encoding,
            cache_control=self.cache_control,
        )
        validate_metadata(self.metadata)


class InvalidAttribute(ValueError):
    """A metadata field GCS would refuse: the wrong type, too long, or with control characters."""


# Each becomes an HTTP header of every download: a string of printable characters, of at most
# the column's length.
HEADER_FIELD_LIMITS = {"content_type": 255, "content_encoding": 64, "cache_control": 255}
_API_NAMES = {
    "content_type": "contentType",
    "content_encoding": "contentEncoding",
    "cache_control": "cacheControl",
}
# GCS's limit on custom metadata: 8 KiB of keys and values together.
METADATA_LIMIT = 8 * 1024


def validate_header_fields(**fields: object) -> None:
    for name, value in fields.items():
        if value is None or value == "":
            continue
        label = _API_NAMES.get(name, name)
        if not isinstance(value, str):
            raise InvalidAttribute(f"{label} must be a string.")
        if len(value) > HEADER_FIELD_LIMITS[name]:
            raise InvalidAttribute(
                f"{label} is longer than {HEADER_FIELD_LIMITS[name]} characters."
            )
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value) or not value.isascii():
            raise InvalidAttribute(f"{label} may hold only printable ASCII characters.")


def validate_metadata(metadata: dict) -> None:
    size = 0
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidAttribute("Custom metadata keys must be non-empty strings.")
        if "\x00" in key or "\x00" in str(value):
            raise InvalidAttribute("Custom metadata must not contain NUL characters.")
        size += len(key.encode()) + len(str(value).encode())
    if size > METADATA_LIMIT:
        raise InvalidAttribute(f"Custom metadata is larger than {METADATA_LIMIT} bytes.")


@dataclass(frozen=True)
class ExpectedChecksums:
    """Checksums a client sent with its bytes (base64, as GCS spells them): verified."""

    md5_hash: str | None = None
    crc32c: str | None = None

    def verify(self, *, md5_hash: str, crc32c: str) -> None:
        if self.crc32c is not None and self.crc32c != crc32c:
            raise ChecksumMismatch("CRC32C", self.crc32c, crc32c)
        if self.md5_hash is not None and self.md5_hash != md5_hash:
            raise ChecksumMismatch("MD5", self.md5_hash, md5_hash)


def object_upload(
    *,
    bucket: Bucket,
    name: str,
    stream: Readable,
    content_type: str | None = None,
    attributes: ObjectAttributes | None = None,
    preconditions: Preconditions = Preconditions(),
    expected: ExpectedChecksums = ExpectedChecksums(),
    size_hint: int = 0,
) -> Object:
    """Store ``stream`` as ``name``, replacing any object of that name atomically.

    Nothing is stored when the name is invalid, the stream is too large or breaks off, the
    checksums the client sent do not match, a precondition fails, or the disk is nearly full
    (``size_hint``: the bytes announced, to refuse at once what cannot fit).
    """
    validate_object_name(name)
    attributes = attributes or ObjectAttributes(content_type=content_type)
    quotas.check_bytes(bucket, size_hint)  # before streaming what could not be kept anyway
    key, reader = write_blob(bucket, stream, size_hint)
    try:
        md5_hash, crc32c = _b64(reader.md5.digest()), _b64(reader.crc32c.digest())
        expected.verify(md5_hash=md5_hash, crc32c=crc32c)
        return commit_blob(
            bucket=bucket,
            name=name,
            key=key,
            size=reader.size,
            md5_hash=md5_hash,
            crc32c=crc32c,
            attributes=attributes,
            preconditions=preconditions,
        )
    except BaseException:
        delete_blobs([key])
        raise


def _find(bucket: Bucket, name: str, *, for_update: bool = False) -> Object | None:
    if "\x00" in name:  # no object has one (names.py), and PostgreSQL cannot even compare it
        return None
    obj = get_row(Object, bucket_id=bucket.pk, name=name, for_update=for_update)
    if obj is not None:
        obj.bucket = bucket  # spares a query for obj.bucket
    return obj


def _current(bucket: Bucket, name: str) -> Object | None:
    """The object of that name, locked until the transaction ends (writers call this first)."""
    return _find(bucket, name, for_update=True)


def _retry_insert_race(operation: Callable[[], T]) -> T:
    """Run ``operation`` in a transaction, again (up to three times) when it lost a race to
    create the same name (another writer inserted it between our read and our insert)."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                return operation()
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def commit_blob(
    *,
    bucket: Bucket,
    name: str,
    key: str,
    size: int,
    md5_hash: str,
    crc32c: str,
    attributes: ObjectAttributes,
    preconditions: Preconditions,
    component_count: int | None = None,
    counted_bytes: int = 0,
) -> Object:
    """Point ``name`` at the fully written blob ``key`` in one transaction (step 2 of a write).

    The previous blob of that name is deleted after commit. On failure the caller still owns
    ``key`` and must delete it. Quotas are checked here, for every kind of write;
    ``counted_bytes`` of the new bytes already count against the owner's quota (a resumable
    session's).
    """

    def commit() -> Object:
        current = _current(bucket, name)
        preconditions.check(current)
        if current is None:
            quotas.check_new_object(bucket)
        freed = current.size if current and not keeps_retired(bucket) else 0
        quotas.check_bytes(bucket, size - freed - counted_bytes)
        now = timezone.now()
        obj = current or Object(bucket=bucket, name=name)
        old_key = current.blob_key if current else None
        # The same key when a retried finish of a resumable upload commits its own blob
        # again: that blob is the object's, whatever the old row said.
        retired = copy.copy(current) if current and old_key != key else None
        obj.generation = _next_generation(current)
        obj.metageneration = 1
        obj.size = size
        obj.md5_hash = md5_hash
        obj.crc32c = crc32c
        obj.content_type = attributes.content_type or guess_content_type(name)
        obj.content_encoding = attributes.content_encoding
        obj.cache_control = attributes.cache_control
        obj.metadata = attributes.metadata
        obj.component_count = component_count
        obj.custom_time = attributes.custom_time
        obj.blob_key = key
        obj.created = now  # every generation is a new object to GCS
        obj.updated = now
        if retired is not None:
            retire(bucket, [retired], now)
        if current is None:
            insert_row(obj)
        else:
            obj.save()
        return obj

    return _retry_insert_race(commit)


def object_get(
    *, bucket: Bucket, name: str, generation: int | None = None, soft_deleted: bool = False
) -> Object | ObjectVersion:
    """The live object, or with ``generation`` that generation whether live or noncurrent;
    with ``soft_deleted`` the soft-deleted generation (which must be named). ObjectNotFound
    when there is none, as GCS answers for a generation that no longer exists."""
    if soft_deleted:
        found = _version(bucket, name, generation, ObjectVersion.SOFT_DELETED)
        if found is None:
            raise ObjectNotFound(bucket, name)
        return found
    obj = _find(bucket, name)
    if obj is not None and (generation is None or obj.generation == generation):
        return obj
    if generation is not None:
        version = _version(bucket, name, generation, ObjectVersion.NONCURRENT)
        if version is not None:
            return version
    raise ObjectNotFound(bucket, name)


def _version(
    bucket: Bucket,
    name: str,
    generation: int | None,
    state: str,
    *,
    for_update: bool = False,
) -> ObjectVersion | None:
    if generation is None or "\x00" in name:
        return None
    version = get_row(
        ObjectVersion,
        bucket_id=bucket.pk,
        name=name,
        generation=generation,
        for_update=for_update,
    )
    if version is None or version.state != state:
        return None
    version.bucket = bucket
    return version


class BlobMissing(Exception):
    """The object row's blob is gone: the object was replaced or deleted after the row was read
    (read the row again), or, if it persists, its bytes were lost (``objstore_check``)."""

    def __init__(self, obj: Object) -> None:
        super().__init__(f"The bytes of {obj.bucket.bucket_id}/{obj.name} are missing.")
        self.obj = obj


# How often a reader reads the row again when a writer replaced the object under it.
READ_ATTEMPTS = 5


def object_open(obj: ObjectData, start: int = 0) -> IO[bytes]:
    """Open the object's bytes for streaming, from byte ``start``. The caller closes it.

    On local disk this is a real file (so gunicorn can sendfile it); on GCS and S3 a reader
    that fetches bounded ranges. Raises BlobMissing when a writer replaced or deleted the
    object since its row was read: callers read the row again (see object_read).
    """
    try:
        return blobs().open(obj.blob_key, start)
    except FileNotFoundError:
        raise BlobMissing(obj) from None


def retry_if_replaced(operation: Callable[[], T]) -> T:
    """Run ``operation``, which reads rows and then their blobs, again (from the rows) when a
    writer replaced or deleted an object in between; BlobMissing if it keeps happening."""
    for attempt in range(READ_ATTEMPTS):
        try:
            return operation()
        except BlobMissing:
            if attempt == READ_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def object_read(
    *, bucket: Bucket, name: str, generation: int | None = None
) -> tuple[Object, IO[bytes]]:
    """The current object and its bytes, opened: the old version or the new one when a writer
    replaces it meanwhile, never an error (on local disk an open file outlives its deletion)."""

    def read() -> tuple[Object, IO[bytes]]:
        obj = object_get(bucket=bucket, name=name, generation=generation)
        return obj, object_open(obj)

    return retry_if_replaced(read)


PATCHABLE_FIELDS = frozenset(
    {"content_type", "content_encoding", "cache_control", "metadata", "custom_time"}
)


def object_patch(
    *,
    bucket: Bucket,
    name: str,
    changes: dict[str, object],
    metadata_patch: dict[str, object] | None = None,
    replace_metadata: bool = False,
    generation: int | None = None,
    preconditions: Preconditions = Preconditions(),
) -> Object:
    """Change an object's metadata (not its bytes) and bump its metageneration, atomically.

    ``metadata_patch`` merges into the custom metadata (None removes a key), or replaces it
    whole with ``replace_metadata``; the merge happens under the row lock, so concurrent
    patches never lose each other's keys.
    """
    unknown = set(changes) - PATCHABLE_FIELDS
    if unknown:
        raise ValueError(f"not patchable: {', '.join(sorted(unknown))}")
    validate_header_fields(
        **{key: value for key, value in changes.items() if key in HEADER_FIELD_LIMITS}
    )
    with transaction.atomic():
        current = _current(bucket, name)
        if current is None or (generation is not None and current.generation != generation):
            raise ObjectNotFound(bucket, name)
        preconditions.check(current)
        if "custom_time" in changes and current.custom_time is not None:
            # GCS: once set, customTime can only move forward.
            moved = changes["custom_time"]
            if moved is None or moved < current.custom_time:  # type: ignore[operator]
                raise InvalidAttribute(
                    "customTime cannot be removed or set to an earlier time once set."
                )
        changes = dict(changes)
        if metadata_patch is not None or replace_metadata:
            base = {} if replace_metadata else current.metadata
            changes["metadata"] = merge_map(base, metadata_patch or {})
            validate_metadata(changes["metadata"])
        if changes:
            for field_name, value in changes.items():
                setattr(current, field_name, value)
            current.metageneration += 1
            current.updated = timezone.now()
            current.save(update_fields=[*changes, "metageneration", "updated"])
        return current


def object_delete(
    *,
    bucket: Bucket,
    name: str,
    generation: int | None = None,
    preconditions: Preconditions = Preconditions(),
) -> None:
    """Delete the live object (it becomes noncurrent or soft-deleted if the bucket keeps them),
    or with ``generation`` exactly that generation, live or noncurrent (a noncurrent one is
    soft-deleted if the bucket's policy keeps deleted data, else gone)."""
    with transaction.atomic():
        current = _current(bucket, name)
        if current is not None and (generation is None or current.generation == generation):
            preconditions.check(current)
            retire(bucket, [current], timezone.now())
            delete_row(Object, current.pk)
            return
        version = _version(bucket, name, generation, ObjectVersion.NONCURRENT, for_update=True)
        if version is None:
            raise ObjectNotFound(bucket, name)
        preconditions.check(version)
        _delete_noncurrent(bucket, [version], timezone.now())


def keeps_retired(bucket: Bucket) -> bool:
    """Whether a replaced or deleted live object stays (noncurrent or soft-deleted)."""
    return bucket.versioning_enabled or bucket.soft_delete_seconds > 0


class _Retiring(NamedTuple):
    """What retire needs of a live row (batches read these instead of model instances)."""

    pk: int
    blob_key: str
    size: int


def retire(bucket: Bucket, rows: Sequence[Object | _Retiring], now: datetime) -> None:
    """The one way a live generation stops being live (overwrite, delete, folder delete,
    lifecycle rule). Called in the transaction that locked ``rows``, *before* it deletes or
    replaces them: each becomes noncurrent if the bucket versions its objects, else soft-deleted
    if its policy keeps deleted data, else its blob is released after commit. Only the rows'
    ``pk`` and ``blob_key`` are used: the kept copy is made from the table itself."""
    if not rows:
        return
    if bucket.versioning_enabled:
        _keep(bucket, rows, ObjectVersion.NONCURRENT, now)
    elif bucket.soft_delete_seconds > 0:
        _keep(bucket, rows, ObjectVersion.SOFT_DELETED, now)
    else:
        delete_blobs_after_commit([row.blob_key for row in rows])


_DATA_FIELDS = [f.name for f in ObjectData._meta.get_fields()]


def _keep(bucket: Bucket, rows: Sequence[Object | _Retiring], state: str, now: datetime) -> None:
    """Copy the live rows into ObjectVersion with one INSERT ... SELECT (a batch of a thousand
    through bulk_create took ~0.2 s of CPU; this is one statement)."""
    soft = state == ObjectVersion.SOFT_DELETED
    hard = now + timedelta(seconds=bucket.soft_delete_seconds) if soft else None
    quote = connection.ops.quote_name
    columns = [Object._meta.get_field(name).column for name in _DATA_FIELDS]
    data = ", ".join(quote(column) for column in columns)
    extra = ["bucket_id", "state", "time_deleted", "soft_delete_time", "hard_delete_time"]
    values = [
        connection.ops.adapt_datetimefield_value(value) if value is not None else None
        for value in (now, now if soft else None, hard)
    ]
    pks = [row.pk for row in rows]
    sql = (
        f"INSERT INTO {quote(ObjectVersion._meta.db_table)}"
        f" ({data}, {', '.join(quote(column) for column in extra)})"
        f" SELECT {data}, %s, %s, %s, %s, %s FROM {quote(Object._meta.db_table)}"
        f" WHERE {quote('id')} IN ({', '.join(['%s'] * len(pks))})"
    )
    db.execute(sql, [bucket.pk, state, *values, *pks])


def _delete_noncurrent(
    bucket: Bucket, versions: Sequence[ObjectVersion | _Retiring], now: datetime
) -> None:
    """Noncurrent versions (locked by the caller) are deleted: soft-deleted if the bucket keeps
    deleted data, else gone with their blobs."""
    if not versions:
        return
    pks = [version.pk for version in versions]
    if bucket.soft_delete_seconds > 0:
        ObjectVersion.objects.filter(pk__in=pks).update(
            state=ObjectVersion.SOFT_DELETED,
            soft_delete_time=now,
            hard_delete_time=now + timedelta(seconds=bucket.soft_delete_seconds),
        )
    else:
        ObjectVersion.objects.filter(pk__in=pks).delete()
        delete_blobs_after_commit([version.blob_key for version in versions])


def version_purge(*, bucket: Bucket, name: str, generation: int) -> None:
    """Delete a noncurrent or soft-deleted generation for good, whatever the bucket's policy
    (the pane's *Delete forever*)."""
    with transaction.atomic():
        version = (
            ObjectVersion.objects.select_for_update()
            .filter(bucket=bucket, name=name, generation=generation)
            .first()
        )
        if version is None:
            raise ObjectNotFound(bucket, name)
        delete_row(ObjectVersion, version.pk)
        delete_blobs_after_commit([version.blob_key])


@dataclass(frozen=True)
class Seen:
    """A row as a lifecycle pass evaluated it: acted on only if it is still the same."""

    pk: int
    generation: int
    metageneration: int


@dataclass(frozen=True)
class BatchResult:
    """What a batch deleted: how many rows and their bytes."""

    count: int = 0
    size: int = 0


def objects_retire_batch(*, bucket: Bucket, rows: list[Seen]) -> BatchResult:
    """Delete the live objects ``rows`` (as any delete does: retired by the bucket's policy) in
    one transaction, skipping each that was replaced, patched or deleted since it was seen, so
    that nothing is deleted that its rule did not match."""
    if not rows:
        return BatchResult()
    seen = {row.pk: (row.generation, row.metageneration) for row in rows}
    with transaction.atomic():
        # By primary key alone: SQLite would otherwise scan the bucket's index for each batch.
        # A row a writer holds is skipped, not waited for: it is being replaced, so the rule's
        # verdict on it is stale anyway, and a batch that waited on rows one after another
        # while holding others could deadlock with writers (seen on PostgreSQL).
        found = (
            Object.objects.select_for_update(skip_locked=True)
            .filter(pk__in=seen)
            .values_list("pk", "bucket_id", "generation", "metageneration", "blob_key", "size")
        )
        locked = [
            _Retiring(pk, key, size)
            for pk, bucket_id, generation, metageneration, key, size in found
            if bucket_id == bucket.pk and seen[pk] == (generation, metageneration)
        ]
        if locked:
            retire(bucket, locked, timezone.now())
            Object.objects.filter(pk__in=[row.pk for row in locked]).delete()
    return BatchResult(len(locked), sum(row.size for row in locked))


def versions_delete_batch(*, bucket: Bucket, rows: list[Seen]) -> BatchResult:
    """Delete noncurrent generations ``rows`` in one transaction (soft-deleted if the bucket
    keeps deleted data, else gone), skipping any that changed state since they were seen."""
    if not rows:
        return BatchResult()
    seen = {row.pk: row.generation for row in rows}
    with transaction.atomic():
        found = (
            ObjectVersion.objects.select_for_update(skip_locked=True)
            .filter(pk__in=seen)
            .values_list("pk", "bucket_id", "state", "generation", "blob_key", "size")
        )
        locked = [
            _Retiring(pk, key, size)
            for pk, bucket_id, state, generation, key, size in found
            if bucket_id == bucket.pk
            and state == ObjectVersion.NONCURRENT
            and seen[pk] == generation
        ]
        _delete_noncurrent(bucket, locked, timezone.now())
    return BatchResult(len(locked), sum(row.size for row in locked))


def versions_purge_expired(
    *, bucket: Bucket, now: datetime | None = None, limit: int = _DELETE_BATCH
) -> BatchResult:
    """Hard-delete up to ``limit`` soft-deleted generations whose hardDeleteTime has passed, and
    release their blobs (a count below ``limit``: none are left)."""
    now = now or timezone.now()
    with transaction.atomic():
        batch = list(
            ObjectVersion.objects.select_for_update(skip_locked=True)
            .filter(
                bucket=bucket,
                state=ObjectVersion.SOFT_DELETED,
                hard_delete_time__lte=now,
            )
            .order_by("hard_delete_time")
            .values_list("pk", "blob_key", "size")[:limit]
        )
        if batch:
            ObjectVersion.objects.filter(pk__in=[pk for pk, _, _ in batch]).delete()
            delete_blobs_after_commit([key for _, key, _ in batch])
    return BatchResult(len(batch), sum(size for _, _, size in batch))


def object_restore(
    *,
    bucket: Bucket,
    name: str,
    generation: int,
    preconditions: Preconditions = Preconditions(),
) -> Object:
    """Bring a soft-deleted generation back as the live object: a new generation with
    metageneration 1, as GCS does. Its bytes are not copied: the blob moves with the row. A
    live object of that name is retired as any overwrite would retire it (``preconditions``
    apply to it: ``if_generation_match=0`` restores only if there is none)."""

    def restore() -> Object:
        # Rows are locked live first, then the version, as every other writer does.
        current = _current(bucket, name)
        version = _version(bucket, name, generation, ObjectVersion.SOFT_DELETED, for_update=True)
        if version is None:
            raise ObjectNotFound(bucket, name)
        preconditions.check(current)
        if current is None:
            quotas.check_new_object(bucket)
        now = timezone.now()
        new_generation = max(_next_generation(current), version.generation + 1)
        delete_row(ObjectVersion, version.pk)
        if current is not None:
            retire(bucket, [copy.copy(current)], now)
        obj = current or Object(bucket=bucket, name=name)
        for field_name in _DATA_FIELDS:
            setattr(obj, field_name, getattr(version, field_name))
        obj.generation = new_generation
        obj.metageneration = 1
        obj.created = obj.updated = now
        if current is None:
            insert_row(obj)
        else:
            obj.save()
        return obj

    return _retry_insert_race(restore)


def deleted_restore(
    *, bucket: Bucket, prefix: str = "", name: str | None = None, since: datetime | None = None
) -> int:
    """Undo deletes: bring back each name under ``prefix`` (or just ``name``) that has no live
    object, from its newest generation deleted at or after ``since`` (any time without it). A
    soft-deleted generation is restored (``object_restore``); in a versioned bucket, where a
    delete leaves the generation noncurrent, it is copied back onto the name, as GCS restores a
    version. A name written again meanwhile is left alone. Returns how many came back."""
    versions = ObjectVersion.objects.filter(bucket=bucket)
    if name is not None:
        versions = versions.filter(name=name)
    elif prefix:
        versions = versions.filter(name__gte=prefix)
        if (upper := successor(prefix)) is not None:
            versions = versions.filter(name__lt=upper)
    if since is not None:
        versions = versions.filter(time_deleted__gte=since)
    restored = 0
    after = ""
    while True:
        batch = list(
            versions.filter(name__gt=after)
            .order_by("name", "-generation")
            .values_list("name", "generation", "state")[:_DELETE_BATCH]
        )
        if not batch:
            return restored
        newest: dict[str, tuple[int, str]] = {}
        for row_name, generation, state in batch:
            newest.setdefault(row_name, (generation, state))
        # The last name of a full batch may have more rows in the next one: take it again there.
        last = batch[-1][0]
        if len(batch) == _DELETE_BATCH and len(newest) > 1:
            newest.pop(last)
            last = max(newest)
        live = set(
            Object.objects.filter(bucket=bucket, name__in=list(newest)).values_list(
                "name", flat=True
            )
        )
        for row_name, (generation, state) in newest.items():
            if row_name in live:
                continue
            try:
                if state == ObjectVersion.SOFT_DELETED:
                    object_restore(
                        bucket=bucket,
                        name=row_name,
                        generation=generation,
                        preconditions=Preconditions(if_generation_match=0),
                    )
                else:
                    object_copy(
                        source_bucket=bucket,
                        source_name=row_name,
                        source_generation=generation,
                        bucket=bucket,
                        name=row_name,
                        preconditions=Preconditions(if_generation_match=0),
                    )
            except (ObjectNotFound, PreconditionFailed):
                continue  # purged or written again meanwhile
            restored += 1
        after = last
        if len(batch) < _DELETE_BATCH:
            return restored


def object_versions(*, bucket: Bucket, name: str) -> list[Object | ObjectVersion]:
    """Every generation of ``name`` we hold, newest first: the live one (if any), then the
    noncurrent and soft-deleted ones."""
    found: list[Object | ObjectVersion] = []
    live = _find(bucket, name)
    if live is not None:
        found.append(live)
    if "\x00" not in name:
        for version in ObjectVersion.objects.filter(bucket=bucket, name=name).order_by(
            "-generation"
        ):
            version.bucket = bucket
            found.append(version)
    return found


def folder_create(*, bucket: Bucket, prefix: str) -> Object:
    """Create the zero-byte ``prefix`` placeholder that keeps an empty folder listed."""
    if not prefix.endswith("/"):
        prefix += "/"
    validate_object_name(prefix)
    existing = Object.objects.filter(bucket=bucket, name=prefix).first()
    if existing is not None:
        return existing
    return object_upload(bucket=bucket, name=prefix, stream=_EMPTY, content_type="text/plain")


class _Empty:
    def read(self, size: int = -1, /) -> bytes:
        return b""


_EMPTY = _Empty()


def objects_under(bucket: Bucket, prefix: str) -> QuerySet[Object]:
    """Objects whose name starts with ``prefix``, as one range scan of the (bucket, name) index."""
    if "\x00" in prefix:  # no name holds a NUL; PostgreSQL cannot compare one
        return Object.objects.none()
    rows = Object.objects.filter(bucket=bucket)
    if prefix:
        rows = rows.filter(name__gte=prefix)
        if (upper := successor(prefix)) is not None:
            rows = rows.filter(name__lt=upper)
    return rows


def _delete_range(bucket: Bucket, prefix: str, *, keep: bool = True) -> int:
    """Delete every live object whose name starts with ``prefix`` (all if it is empty), in
    batches; each is retired as any delete retires it, or gone for good without ``keep``."""
    rows = objects_under(bucket, prefix)
    deleted = 0
    while True:
        with transaction.atomic():
            batch = [
                _Retiring(*row)
                for row in rows.order_by("name")
                .select_for_update()
                .values_list("pk", "blob_key", "size")[:_DELETE_BATCH]
            ]
            if not batch:
                return deleted
            if keep:
                retire(bucket, batch, timezone.now())
            else:
                delete_blobs_after_commit([row.blob_key for row in batch])
            Object.objects.filter(pk__in=[row.pk for row in batch]).delete()
        deleted += len(batch)


def folder_delete(*, bucket: Bucket, prefix: str) -> int:
    """Delete everything under the folder ``prefix`` (which ends in ``/``); returns the count.

    ``photos/2024/`` never matches ``photos/2024-old/...``: the range ends at the successor of
    the whole prefix, slash included.
    """
    if not prefix.endswith("/"):
        raise InvalidObjectName("A folder name ends with '/'.", code="not_folder")
    validate_object_name(prefix)
    return _delete_range(bucket, prefix)


def bucket_empty(*, bucket: Bucket) -> int:
    """Delete every live object of the bucket, as any delete does (kept as versions or
    soft-deleted where the bucket keeps them); returns the count. The bucket stays."""
    return _delete_range(bucket, "")


def bucket_delete(*, bucket: Bucket) -> int:
    """Delete the bucket, its objects (every generation) and their bytes, for good; returns
    how many live objects went."""
    deleted = _delete_range(bucket, "", keep=False)
    versions = ObjectVersion.objects.filter(bucket=bucket)
    while True:
        with transaction.atomic():
            batch = list(versions.order_by("pk").values_list("pk", "blob_key")[:_DELETE_BATCH])
            if not batch:
                break
            ObjectVersion.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
            delete_blobs_after_commit([key for _, key in batch])
    with transaction.atomic():
        # Anything written while we were emptying goes with the row (CASCADE); collect its blobs.
        late = list(Object.objects.filter(bucket=bucket).values_list("blob_key", flat=True))
        late += ObjectVersion.objects.filter(bucket=bucket).values_list("blob_key", flat=True)
        bucket.delete()
        delete_blobs_after_commit(late)
    return deleted


@dataclass(frozen=True)
class BucketStats:
    object_count: int
    total_size: int
    noncurrent_count: int = 0
    noncurrent_size: int = 0
    soft_deleted_count: int = 0
    soft_deleted_size: int = 0

    @property
    def stored_size(self) -> int:
        """Every byte the bucket holds: live, noncurrent and soft-deleted."""
        return self.total_size + self.noncurrent_size + self.soft_deleted_size


def bucket_stats(*, bucket: Bucket) -> BucketStats:
    totals = Object.objects.filter(bucket=bucket).aggregate(count=Count("pk"), size=Sum("size"))
    kept = {
        row["state"]: row
        for row in ObjectVersion.objects.filter(bucket=bucket)
        .values("state")
        .annotate(count=Count("pk"), size=Sum("size"))
        .order_by()
    }
    noncurrent = kept.get(ObjectVersion.NONCURRENT, {})
    deleted = kept.get(ObjectVersion.SOFT_DELETED, {})
    return BucketStats(
        object_count=totals["count"],
        total_size=totals["size"] or 0,
        noncurrent_count=noncurrent.get("count", 0),
        noncurrent_size=noncurrent.get("size") or 0,
        soft_deleted_count=deleted.get("count", 0),
        soft_deleted_size=deleted.get("size") or 0,
    )


def objects_count_under(*, bucket: Bucket, prefix: str, limit: int | None = None) -> int:
    """How many objects' names start with ``prefix`` (at most ``limit``: a bounded scan)."""
    rows = objects_under(bucket, prefix).order_by()
    return rows[:limit].count() if limit is not None else rows.count()


class _ConcatenatedReader:
    """Reads the bytes of several objects one after the other, opening each only when needed."""

    def __init__(self, objects: list[ObjectData]) -> None:
        self._pending = list(objects)
        self._current: IO[bytes] | None = None

    def read(self, size: int = -1, /) -> bytes:
        while True:
            if self._current is None:
                if not self._pending:
                    return b""
                self._current = object_open(self._pending.pop(0))
            data = self._current.read(size)
            if data:
                return data
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()


def object_copy(
    *,
    source_bucket: Bucket,
    source_name: str,
    bucket: Bucket,
    name: str,
    attributes: ObjectAttributes | None = None,
    source_generation: int | None = None,
    source_preconditions: Preconditions = Preconditions(),
    preconditions: Preconditions = Preconditions(),
) -> Object:
    """Copy an object's bytes (streamed) and, unless ``attributes`` says otherwise, its metadata.
    A source replaced while it is read is copied again, in its new version."""
    return retry_if_replaced(
        partial(
            _copy_once,
            source_bucket=source_bucket,
            source_name=source_name,
            bucket=bucket,
            name=name,
            attributes=attributes,
            source_generation=source_generation,
            source_preconditions=source_preconditions,
            preconditions=preconditions,
        )
    )


def _copy_once(
    *,
    source_bucket: Bucket,
    source_name: str,
    bucket: Bucket,
    name: str,
    attributes: ObjectAttributes | None,
    source_generation: int | None,
    source_preconditions: Preconditions,
    preconditions: Preconditions,
) -> Object:
    source = object_get(bucket=source_bucket, name=source_name, generation=source_generation)
    source_preconditions.check(source)
    if attributes is None:
        attributes = ObjectAttributes(
            content_type=source.content_type,
            content_encoding=source.content_encoding,
            cache_control=source.cache_control,
            metadata=dict(source.metadata),
            custom_time=source.custom_time,
        )
    if source.md5_hash:  # a composite object (no MD5) is streamed, which gives it one
        key = _copy_blob(bucket, source)
        if key is not None:
            try:
                return commit_blob(
                    bucket=bucket,
                    name=name,
                    key=key,
                    size=source.size,
                    md5_hash=source.md5_hash,
                    crc32c=source.crc32c,
                    attributes=attributes,
                    preconditions=preconditions,
                )
            except BaseException:
                delete_blobs([key])
                raise
    reader = _ConcatenatedReader([source])
    try:
        return object_upload(
            bucket=bucket,
            name=name,
            stream=reader,
            attributes=attributes,
            preconditions=preconditions,
        )
    finally:
        reader.close()


def _copy_blob(bucket: Bucket, source: ObjectData) -> str | None:
    """A new blob holding the bytes of ``source``, copied inside the storage (a hard link on
    local disk, GCS's rewrite, S3's copy), or None where the storage cannot copy."""
    key = new_blob_key(bucket)
    try:
        if blobs().copy(source.blob_key, key):
            return key
    except FileNotFoundError:
        raise BlobMissing(source) from None  # replaced or deleted since its row was read
    return None


class DestinationExists(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"An object named {name!r} already exists.")
        self.name = name


def object_move(*, bucket: Bucket, name: str, new_name: str, replace: bool = False) -> Object:
    """Rename the live object ``name`` to ``new_name`` (a move, when the folder part changes):
    its bytes (streamed) and metadata are copied, then ``name`` is deleted as any delete is
    (kept as a noncurrent or soft-deleted version where the bucket keeps them).

    An existing ``new_name`` is never replaced unless ``replace``: DestinationExists. If ``name``
    is replaced by a new upload while it is copied, the copy is of the generation that was asked
    for and the new upload stays where it is (the old name is only deleted while it still holds
    the moved generation), so nothing written meanwhile is lost.
    """
    validate_object_name(new_name)
    if new_name == name:
        raise InvalidAttribute("The new name is the same as the old one.")
    source = object_get(bucket=bucket, name=name)
    try:
        moved = object_copy(
            source_bucket=bucket,
            source_name=name,
            bucket=bucket,
            name=new_name,
            source_generation=source.generation,
            preconditions=Preconditions() if replace else Preconditions(if_generation_match=0),
        )
    except PreconditionFailed:
        raise DestinationExists(new_name) from None
    try:
        object_delete(
            bucket=bucket,
            name=name,
            preconditions=Preconditions(if_generation_match=source.generation),
        )
    except (PreconditionFailed, ObjectNotFound):
        pass  # replaced or deleted meanwhile: that later write stands
    return moved


MAX_COMPOSE_SOURCES = 32


@dataclass(frozen=True)
class ComposeSource:
    name: str
    generation: int | None = None
    if_generation_match: int | None = None


def object_compose(
    *,
    bucket: Bucket,
    sources: list[ComposeSource],
    name: str,
    attributes: ObjectAttributes,
    preconditions: Preconditions = Preconditions(),
) -> Object:
    """Concatenate up to 32 objects of one bucket into ``name``. Like GCS, the result carries a
    CRC32C and a component count but no MD5."""
    if not 1 <= len(sources) <= MAX_COMPOSE_SOURCES:
        raise ValueError(f"compose takes 1 to {MAX_COMPOSE_SOURCES} source objects")
    # A source replaced while it is read: start again from the rows.
    return retry_if_replaced(
        partial(
            _compose_once,
            bucket=bucket,
            sources=sources,
            name=name,
            attributes=attributes,
            preconditions=preconditions,
        )
    )


def _compose_once(
    *,
    bucket: Bucket,
    sources: list[ComposeSource],
    name: str,
    attributes: ObjectAttributes,
    preconditions: Preconditions,
) -> Object:
    objects = []
    for source in sources:
        obj = object_get(bucket=bucket, name=source.name, generation=source.generation)
        Preconditions(if_generation_match=source.if_generation_match).check(obj)
        objects.append(obj)
    validate_object_name(name)
    reader = _ConcatenatedReader(objects)
    try:
        key, hashed = write_blob(bucket, reader)
    finally:
        reader.close()
    try:
        return commit_blob(
            bucket=bucket,
            name=name,
            key=key,
            size=hashed.size,
            md5_hash="",
            crc32c=_b64(hashed.crc32c.digest()),
            attributes=attributes,
            preconditions=preconditions,
            component_count=sum(obj.component_count or 1 for obj in objects),
        )
    except BaseException:
        delete_blobs([key])
        raise


def storage_check() -> None:
    """Write, read back and delete a small probe blob; raises if the object storage is unusable.

    For health checks: it proves the backend is reachable and writable, not just configured.
    """
    key = f"_health/{secrets.token_hex(8)}"
    probe = b"objstore health probe"
    store = blobs()
    try:
        store.write(key, HashingReader(io.BytesIO(probe), len(probe)))
        handle = store.open(key)
        try:
            data = handle.read()
        finally:
            handle.close()
        if data != probe:
            raise OSError("the object storage returned different bytes")
    finally:
        delete_blobs([key])


def objects_bulk_create(
    *, bucket: Bucket, items: Iterable[tuple[str, bytes]], batch_size: int = 5000
) -> int:
    """Create many new objects at once (imports, load tests): each gets its own blob, and rows
    go in with one INSERT per batch. The names must be new; a batch that collides with an
    existing name is rolled back and its blobs removed. Returns how many were created."""
    store = blobs()
    created = 0
    batch: list[Object] = []

    def flush() -> None:
        nonlocal created
        try:
            with transaction.atomic():
                Object.objects.bulk_create(batch)
        except BaseException:
            delete_blobs([obj.blob_key for obj in batch])
            raise
        created += len(batch)
        batch.clear()

    generation = time.time_ns() // 1000
    for name, data in items:
        validate_object_name(name)
        key = new_blob_key(bucket)
        reader = HashingReader(io.BytesIO(data), settings.OBJSTORE_MAX_OBJECT_SIZE)
        store.write(key, reader)
        now = timezone.now()
        generation += 1
        batch.append(
            Object(
                bucket=bucket,
                name=name,
                size=reader.size,
                content_type=guess_content_type(name),
                md5_hash=_b64(reader.md5.digest()),
                crc32c=_b64(reader.crc32c.digest()),
                generation=generation,
                blob_key=key,
                created=now,
                updated=now,
            )
        )
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return created
