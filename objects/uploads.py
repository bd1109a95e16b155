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
import os
import secrets
import threading
from collections import OrderedDict
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import google_crc32c
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from buckets.models import Bucket

from . import services
from .backends import blobs
from .models import Object, UploadSession
from .names import validate_object_name
from .services import ExpectedChecksums, ObjectAttributes, Preconditions, Readable


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
        self._remaining = length
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
    if not moved:  # a concurrent request on the same session got there first
        now = UploadSession.objects.filter(pk=session.pk).values_list("received", flat=True)
        raise OffsetMismatch(now.first() or 0, session.received)
    session.received, session.crc32c_state, session.parts = chunk.position, chunk.crc, parts
    if chunk.md5 is not None:
        _remember_md5(session.upload_id, chunk.md5, chunk.position)


def session_append(
    *, session: UploadSession, offset: int, stream: Readable, length: int | None
) -> UploadSession:
    """Append ``length`` bytes (or all of ``stream`` when None) that start at ``offset``."""
    if offset > session.received:
        raise OffsetMismatch(session.received, offset)
    path = blobs().local_path(session.blob_key)
    if path is None:
        return _append_part(session, offset, stream, length)
    with open(path, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        session.refresh_from_db(fields=["received", "crc32c_state"])
        if offset > session.received:
            raise OffsetMismatch(session.received, offset)
        chunk = _ChunkReader(session, offset, stream, length)
        handle.seek(session.received)
        while data := chunk.read(services.UPLOAD_CHUNK):
            handle.write(data)
        handle.flush()
        _advance(session, chunk, [])
    return session


def _append_part(
    session: UploadSession, offset: int, stream: Readable, length: int | None
) -> UploadSession:
    chunk = _ChunkReader(session, offset, stream, length)
    part = f"{session.blob_key}.part-{secrets.token_hex(6)}"
    store = blobs()
    store.write(part, chunk)
    if chunk.position == session.received:  # nothing new (a resend of what we have)
        store.delete(part)
        return session
    try:
        _advance(session, chunk, [*session.parts, part])
    except OffsetMismatch:
        store.delete(part)
        raise
    return session


def _md5_of_local(session: UploadSession, path: Path) -> str:
    state = _recall_md5(session.upload_id, session.received)
    if state is None:  # another process took earlier chunks, or we restarted: read it back
        state = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as handle:
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
) -> Object:
    """Make the session's bytes the object. Checks size, checksums and preconditions first."""
    if session.expected_size is not None and session.received != session.expected_size:
        raise SizeMismatch(
            f"The upload was declared as {session.expected_size} bytes; {session.received} arrived."
        )
    crc32c = base64.b64encode(_crc_bytes(session)).decode("ascii")
    path = blobs().local_path(session.blob_key)
    leftovers = list(session.parts)
    if path is not None:
        with open(path, "r+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.truncate(session.received)  # drop the tail of a chunk that broke off
            if settings.OBJSTORE_FSYNC:
                os.fsync(handle.fileno())
        key, md5_hash = session.blob_key, _md5_of_local(session, path)
    else:
        key, md5_hash = _join_parts(session)
        leftovers.append(session.blob_key)
    try:
        expected.verify(md5_hash=md5_hash, crc32c=crc32c)
        with transaction.atomic():
            obj = services.commit_blob(
                bucket=session.bucket,
                name=session.name,
                key=key,
                size=session.received,
                md5_hash=md5_hash,
                crc32c=crc32c,
                attributes=ObjectAttributes(**session.attributes),
                preconditions=Preconditions(**session.preconditions),
            )
            UploadSession.objects.filter(pk=session.pk).update(
                completed_generation=obj.generation, parts=[]
            )
    except BaseException:
        # A failed finish ends the session: its bytes go, the object keeps its old version.
        services.delete_blobs([key, *leftovers])
        UploadSession.objects.filter(pk=session.pk).delete()
        _forget_md5(session.upload_id)
        raise
    services.delete_blobs([k for k in leftovers if k != key])
    _forget_md5(session.upload_id)
    return obj


def session_cancel(*, session: UploadSession) -> None:
    if session.completed_generation is None:
        services.delete_blobs([session.blob_key, *session.parts])
    UploadSession.objects.filter(pk=session.pk).delete()
    _forget_md5(session.upload_id)
