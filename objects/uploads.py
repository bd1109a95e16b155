"""Resumable uploads (part of the service layer): start a session, append chunks, finish.

Two ways to keep a session's bytes, chosen by the backend:

* local disk: chunks are appended in place to one blob under an exclusive file lock, and that
  blob becomes the object's: a finished upload is never copied. MD5 state cannot be stored
  (hashlib's is not serialisable), so this process keeps it while chunks arrive in order, and
  the finish reads the blob back only when it is missing (after a restart, or when another
  process took earlier chunks).
* GCS and S3 (no appends): every chunk is streamed to a blob of its own, and the finish streams
  the parts, in order, into the object's blob, computing its checksums on the way.

Either way the CRC32C of the bytes so far is kept in the database (a CRC extends chunk by
chunk), the session's progress moves only by a conditional UPDATE, and nothing is listed
before the finish commits.
"""

import base64
import fcntl
import hashlib
import io
import logging
import os
import secrets
import threading
from collections import OrderedDict
from dataclasses import asdict
from datetime import timedelta
from typing import IO, Any

import google_crc32c
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from buckets import quotas
from buckets.models import Bucket

from . import services
from .backends import blobs
from .models import Object, UploadSession
from .names import validate_object_name
from .services import ExpectedChecksums, ObjectAttributes, Preconditions, Readable

logger = logging.getLogger(__name__)


class SessionNotFound(Exception):
    pass


class SessionExpired(Exception):
    pass


class OffsetMismatch(Exception):
    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"The upload continues at byte {expected}, not at byte {got}.")
        self.expected = expected


class SizeMismatch(Exception):
    pass


_md5_lock = threading.Lock()
# upload_id -> (md5 of the first `offset` bytes, offset); bounded, oldest dropped first.
_md5_states: "OrderedDict[str, tuple[Any, int]]" = OrderedDict()
_MAX_MD5_STATES = 256


def _remember_md5(upload_id: str, state: Any, offset: int) -> None:
    with _md5_lock:
        _md5_states[upload_id] = (state, offset)
        _md5_states.move_to_end(upload_id)
        while len(_md5_states) > _MAX_MD5_STATES:
            _md5_states.popitem(last=False)


def _recall_md5(upload_id: str, offset: int) -> Any:
    with _md5_lock:
        entry = _md5_states.get(upload_id)
    if entry is None or entry[1] != offset:
        return None
    return entry[0].copy()


def _forget_md5(upload_id: str) -> None:
    with _md5_lock:
        _md5_states.pop(upload_id, None)


def session_start(
    *,
    bucket: Bucket,
    name: str,
    attributes: ObjectAttributes,
    preconditions: Preconditions,
    expected_size: int | None,
) -> UploadSession:
    validate_object_name(name)
    if expected_size is not None and expected_size > settings.OBJSTORE_MAX_OBJECT_SIZE:
        raise services.ObjectTooLarge(settings.OBJSTORE_MAX_OBJECT_SIZE)
    services.check_free_space(expected_size or 0)
    quotas.check_bytes(bucket, expected_size or 0)
    # Fail early, as GCS does; the same preconditions are checked again when the upload ends.
    preconditions.check(Object.objects.filter(bucket=bucket, name=name).first())
    key = services.new_blob_key(bucket)
    if blobs().local_path(key) is not None:  # chunks are appended to it in place
        blobs().write(key, io.BytesIO())
    return UploadSession.objects.create(
        upload_id=secrets.token_urlsafe(32),
        bucket=bucket,
        name=name,
        attributes=asdict(attributes),
        preconditions=asdict(preconditions),
        expected_size=expected_size,
        blob_key=key,
        expires=timezone.now() + timedelta(seconds=settings.OBJSTORE_RESUMABLE_TTL),
    )


def session_get(*, bucket: Bucket, upload_id: str) -> UploadSession:
    session = UploadSession.objects.filter(bucket=bucket, upload_id=upload_id).first()
    if session is None:
        raise SessionNotFound
    if session.completed_generation is None and session.expires <= timezone.now():
        raise SessionExpired
    return session


def session_object(session: UploadSession) -> Object | None:
    """The object a completed session made, if it is still the current generation."""
    if session.completed_generation is None:
        return None
    return Object.objects.filter(
        bucket=session.bucket, name=session.name, generation=session.completed_generation
    ).first()


class _ChunkReader:
    """The bytes of one request that continue the session: skips what the session already has
    (a client resending after a lost reply), stops after ``length``, extends the CRC32C (and
    the MD5 when known) and enforces the size limits."""

    def __init__(self, session: UploadSession, offset: int, stream: Readable, length: int | None):
        self._stream = stream
        self._length = self._remaining = length
        self._skip = session.received - offset
        self._limit = min(
            settings.OBJSTORE_MAX_OBJECT_SIZE,
            session.expected_size if session.expected_size is not None else 1 << 62,
        )
        self.position = self._start = session.received
        self.crc = session.crc32c_state
        self.md5 = _recall_md5(session.upload_id, session.received)
        if self.md5 is None and session.received == 0:
            self.md5 = hashlib.md5(usedforsecurity=False)

    def tell(self) -> int:
        return self.position - self._start  # bytes handed on by this request

    def check_end(self) -> None:
        """A body longer than its Content-Range is refused, as GCS does."""
        if self._length is not None and self._remaining == 0:
            try:
                extra = self._stream.read(1)
            except OSError as exc:
                raise services.UploadInterrupted(str(exc) or type(exc).__name__) from exc
            if extra:
                raise SizeMismatch(
                    f"The request body is longer than the {self._length} bytes its "
                    "Content-Range declares."
                )

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1, /) -> bytes:
        while True:
            want = services.UPLOAD_CHUNK if size is None or size < 0 else size
            if self._remaining is not None:
                want = min(want, self._remaining)
            if want <= 0:
                return b""
            try:
                data = self._stream.read(want)
            except OSError as exc:  # the client went away mid-chunk
                raise services.UploadInterrupted(str(exc) or type(exc).__name__) from exc
            if not data:
                if self._remaining:
                    raise SizeMismatch("The request body ended before its Content-Range did.")
                return b""
            if self._remaining is not None:
                self._remaining -= len(data)
            if self._skip:
                dropped = min(self._skip, len(data))
                data, self._skip = data[dropped:], self._skip - dropped
                if not data:
                    continue
            self.position += len(data)
            if self.position > self._limit:
                if self._limit == settings.OBJSTORE_MAX_OBJECT_SIZE:
                    raise services.ObjectTooLarge(settings.OBJSTORE_MAX_OBJECT_SIZE)
                raise SizeMismatch("More bytes arrived than the upload declared.")
            self.crc = google_crc32c.extend(self.crc, data)
            if self.md5 is not None:
                self.md5.update(data)
            return data


def _advance(session: UploadSession, chunk: _ChunkReader, parts: list[str]) -> None:
    """Record the progress, unless another request moved the session meanwhile."""
    moved = UploadSession.objects.filter(pk=session.pk, received=session.received).update(
        received=chunk.position, crc32c_state=chunk.crc, parts=parts
    )
    if not moved:  # a concurrent request on the same session got there first, or cancelled it
        now = UploadSession.objects.filter(pk=session.pk).values_list("received", flat=True).first()
        if now is None:
            raise SessionNotFound
        raise OffsetMismatch(now, session.received)
    session.received, session.crc32c_state, session.parts = chunk.position, chunk.crc, parts
    if chunk.md5 is not None:
        _remember_md5(session.upload_id, chunk.md5, chunk.position)


def session_append(
    *,
    session: UploadSession,
    offset: int,
    stream: Readable,
    length: int | None,
    body_longer: bool = False,
) -> UploadSession:
    """Append ``length`` bytes (or all of ``stream`` when None) that start at ``offset``.

    A body longer than ``length`` is refused, unless ``body_longer`` says the caller keeps only
    the first ``length`` bytes on purpose (GCS keeps a multiple of 256 KiB of a chunk).

    A session that finished meanwhile (a retried final chunk) is returned as it is: its blob is
    an object's now and takes no more bytes. A chunk that breaks off leaves the session where
    it was, its bytes reclaimed.
    """
    if offset > session.received:
        raise OffsetMismatch(session.received, offset)
    path = blobs().local_path(session.blob_key)
    if path is None:
        return _append_part(session, offset, stream, length, body_longer)
    try:
        handle = open(path, "r+b")
    except FileNotFoundError:  # cancelled (or finished and since replaced)
        _refresh(session)
        raise SessionNotFound from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _refresh(session)
        if session.completed_generation is not None:
            return session
        if offset > session.received:
            raise OffsetMismatch(session.received, offset)
        services.check_free_space(length or 0)
        quotas.check_bytes(session.bucket, (length or 0) - (session.received - offset))
        chunk = _ChunkReader(session, offset, stream, length)
        handle.seek(session.received)
        try:
            while data := chunk.read(services.UPLOAD_CHUNK):
                handle.write(data)
            if not body_longer:
                chunk.check_end()
            handle.flush()
            _advance(session, chunk, [])
        except BaseException as exc:
            # Nothing of a chunk that did not arrive whole is kept (on disk either).
            handle.truncate(session.received)
            if isinstance(exc, OSError) and services.is_disk_full(exc):
                raise services.InsufficientStorage from exc
            raise
    return session


_PROGRESS = ("received", "crc32c_state", "parts", "completed_generation")


def _refresh(session: UploadSession) -> None:
    """Re-read the session's progress; SessionNotFound if it was cancelled meanwhile."""
    try:
        session.refresh_from_db(fields=[*_PROGRESS])
    except UploadSession.DoesNotExist:
        raise SessionNotFound from None


def _append_part(
    session: UploadSession, offset: int, stream: Readable, length: int | None, body_longer: bool
) -> UploadSession:
    _refresh(session)
    if session.completed_generation is not None:
        return session
    if offset > session.received:
        raise OffsetMismatch(session.received, offset)
    quotas.check_bytes(session.bucket, (length or 0) - (session.received - offset))
    chunk = _ChunkReader(session, offset, stream, length)
    part = f"{session.blob_key}.part-{secrets.token_hex(6)}"
    store = blobs()
    try:
        store.write(part, chunk)
        if not body_longer:
            chunk.check_end()
        if chunk.position == session.received:  # nothing new (a resend of what we have)
            store.delete(part)
            return session
        _advance(session, chunk, [*session.parts, part])
    except OffsetMismatch:
        services.delete_blobs([part])
        # Another request stored these bytes first (a client's retry racing its original):
        # what the session has now is the answer, as for any resend of bytes it already has.
        _refresh(session)
        if session.completed_generation is None and session.received < chunk.position:
            raise
        return session
    except BaseException:
        services.delete_blobs([part])
        raise
    return session


def _md5_of_local(session: UploadSession, handle: IO[bytes]) -> str:
    state = _recall_md5(session.upload_id, session.received)
    if state is None:  # another process took earlier chunks, or we restarted: read it back
        state = hashlib.md5(usedforsecurity=False)
        # From the handle the finish holds: a cancel may unlink the path meanwhile.
        handle.seek(0)
        remaining = session.received
        while remaining > 0 and (data := handle.read(min(services.CHUNK_SIZE, remaining))):
            state.update(data)
            remaining -= len(data)
    return base64.b64encode(state.digest()).decode("ascii")


class _PartsReader:
    """The parts of a cloud session, read one after the other."""

    def __init__(self, parts: list[str]) -> None:
        self._pending = list(parts)
        self._current: Any = None

    def read(self, size: int = -1, /) -> bytes:
        while True:
            if self._current is None:
                if not self._pending:
                    return b""
                self._current = blobs().open(self._pending.pop(0))
            data = self._current.read(size)
            if data:
                return data
            self._current.close()
            self._current = None


def _join_parts(session: UploadSession) -> tuple[str, str]:
    """Stream the parts into the object's blob; returns (key, md5)."""
    key, hashed = services.write_blob(session.bucket, _PartsReader(session.parts))
    if hashed.size != session.received or hashed.crc32c.digest() != _crc_bytes(session):
        services.delete_blobs([key])
        raise OSError("the stored parts of the upload do not add up")
    return key, base64.b64encode(hashed.md5.digest()).decode("ascii")


def _crc_bytes(session: UploadSession) -> bytes:
    return session.crc32c_state.to_bytes(4, "big")


def session_finish(
    *, session: UploadSession, expected: ExpectedChecksums = ExpectedChecksums()
) -> Object | None:
    """Make the session's bytes the object; checks size, checksums and preconditions first.

    Idempotent and safe to race: a finish, a retried finish and a cancel of one session are
    serialised on its row, and the second finish returns what the first made (None when that
    object has since been replaced or deleted). A failed finish ends the session and removes
    its bytes, but never a blob that an object row refers to.
    """
    path = blobs().local_path(session.blob_key)
    if path is None:
        _refresh(session)
        if session.completed_generation is not None:
            return session_object(session)
        _check_size(session)
        try:
            key, md5_hash = _join_parts(session)
        except Exception:
            # A concurrent finish may have committed and removed the parts we were reading.
            _refresh(session)
            if session.completed_generation is not None:
                return session_object(session)
            raise
        return _commit_session(session, key, md5_hash, expected)
    try:
        handle = open(path, "r+b")
    except FileNotFoundError:
        _refresh(session)  # cancelled: SessionNotFound
        if session.completed_generation is not None:
            return session_object(session)
        raise
    with handle:
        # The lock keeps appends out while the blob is truncated, hashed and committed.
        fcntl.flock(handle, fcntl.LOCK_EX)
        _refresh(session)
        if session.completed_generation is not None:
            return session_object(session)
        _check_size(session)
        handle.truncate(session.received)  # drop the tail of a chunk that broke off
        if settings.OBJSTORE_FSYNC:
            os.fsync(handle.fileno())
        md5_hash = _md5_of_local(session, handle)
        return _commit_session(session, session.blob_key, md5_hash, expected)


def _check_size(session: UploadSession) -> None:
    if session.expected_size is not None and session.received != session.expected_size:
        raise SizeMismatch(
            f"The upload was declared as {session.expected_size} bytes; {session.received} arrived."
        )


def _commit_session(
    session: UploadSession, key: str, md5_hash: str, expected: ExpectedChecksums
) -> Object | None:
    crc32c = base64.b64encode(_crc_bytes(session)).decode("ascii")
    try:
        expected.verify(md5_hash=md5_hash, crc32c=crc32c)
        with transaction.atomic():
            locked = _lock(session)
            if locked is None or locked.completed_generation is not None:
                done = None
            else:
                done = services.commit_blob(
                    bucket=session.bucket,
                    name=session.name,
                    key=key,
                    size=session.received,
                    md5_hash=md5_hash,
                    crc32c=crc32c,
                    attributes=ObjectAttributes(**session.attributes),
                    preconditions=Preconditions(**session.preconditions),
                    counted_bytes=session.received,
                )
                UploadSession.objects.filter(pk=session.pk).update(
                    completed_generation=done.generation, parts=[]
                )
    except BaseException:
        try:
            _end_failed(session, key)
        except Exception:  # the database itself failing, say: the original error matters more
            logger.warning("could not end the failed upload session %s", session.pk, exc_info=True)
        raise
    if done is None:  # another request finished or cancelled it first
        if key != session.blob_key:
            services.delete_unreferenced_blobs([key])  # our joined copy, unless it won
        if locked is None:
            raise SessionNotFound
        _refresh(session)
        return session_object(session)
    services.delete_blobs([part for part in session.parts if part != key])
    if key != session.blob_key:
        services.delete_blobs([session.blob_key])
    _forget_md5(session.upload_id)
    return done


def _lock(session: UploadSession) -> UploadSession | None:
    """The session's row, locked until the transaction ends (on SQLite every write transaction
    holds the database's writer lock from its start, which serialises them just the same)."""
    return UploadSession.objects.select_for_update().filter(pk=session.pk).first()


def _end_failed(session: UploadSession, key: str) -> None:
    """A failed finish ends the session: its bytes go, the object keeps its old version. Unless
    the session was finished by another request meanwhile: then nothing of it is touched."""
    with transaction.atomic():
        locked = _lock(session)
        if locked is not None and locked.completed_generation is None:
            locked.delete()
            services.delete_unreferenced_blobs_after_commit([key, locked.blob_key, *locked.parts])
        elif key != session.blob_key:
            services.delete_unreferenced_blobs_after_commit([key])
    _forget_md5(session.upload_id)


def session_cancel(*, session: UploadSession) -> None:
    """End an unfinished session and remove its bytes; a finished one just goes (its object
    stays). Safe to race with a finish: serialised on the session row."""
    with transaction.atomic():
        locked = _lock(session)
        if locked is None:
            return
        locked.delete()
        if locked.completed_generation is None:
            services.delete_unreferenced_blobs_after_commit([locked.blob_key, *locked.parts])
    _forget_md5(session.upload_id)
