"""Resumable uploads (part of the service layer): start a session, append chunks, finish.

A session's bytes are appended in place to one blob on local disk, under an exclusive file lock,
and the CRC32C is carried across requests in the database. MD5 cannot be carried that way
(hashlib's state is not serialisable), so this process keeps it in memory while the chunks
arrive in order, and the finish re-reads the blob only when that state is missing (after a
restart, or when another app server took earlier chunks).
"""

import base64
import fcntl
import hashlib
import os
import secrets
import threading
from collections import OrderedDict
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import google_crc32c
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from buckets.models import Bucket

from . import services
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


class UnsupportedBackend(Exception):
    pass


_md5_lock = threading.Lock()
# upload_id -> (md5 of the first `offset` bytes, offset); bounded, oldest dropped first.
_md5_states: "OrderedDict[str, tuple[object, int]]" = OrderedDict()
_MAX_MD5_STATES = 256


def _remember_md5(upload_id: str, state: object, offset: int) -> None:
    with _md5_lock:
        _md5_states[upload_id] = (state, offset)
        _md5_states.move_to_end(upload_id)
        while len(_md5_states) > _MAX_MD5_STATES:
            _md5_states.popitem(last=False)


def _recall_md5(upload_id: str, offset: int) -> object | None:
    with _md5_lock:
        entry = _md5_states.get(upload_id)
    if entry is None or entry[1] != offset:
        return None
    return entry[0].copy()


def _forget_md5(upload_id: str) -> None:
    with _md5_lock:
        _md5_states.pop(upload_id, None)


def _local_path(key: str) -> Path:
    try:
        return Path(services._storage().path(key))
    except NotImplementedError:
        raise UnsupportedBackend(
            "Resumable uploads need a storage backend with local paths."
        ) from None


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
    key = services._new_blob_key(bucket)
    path = _local_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
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


def session_append(
    *,
    session: UploadSession,
    offset: int,
    stream: Readable,
    length: int | None,
) -> UploadSession:
    """Append ``length`` bytes (or all of ``stream`` when None) that start at ``offset``.

    Bytes the session already has (a client resending after a lost reply) are skipped.
    """
    if offset > session.received:
        raise OffsetMismatch(session.received, offset)
    path = _local_path(session.blob_key)
    limit = settings.OBJSTORE_MAX_OBJECT_SIZE
    with open(path, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        session.refresh_from_db(fields=["received", "crc32c_state"])
        if offset > session.received:
            raise OffsetMismatch(session.received, offset)
        skip = session.received - offset
        remaining = length
        md5 = _recall_md5(session.upload_id, session.received)
        crc = session.crc32c_state
        position = session.received
        handle.seek(position)
        while remaining is None or remaining > 0:
            want = services.CHUNK_SIZE if remaining is None else min(services.CHUNK_SIZE, remaining)
            data = stream.read(want)
            if not data:
                break
            if remaining is not None:
                remaining -= len(data)
            if skip:
                dropped = min(skip, len(data))
                data, skip = data[dropped:], skip - dropped
                if not data:
                    continue
            position += len(data)
            if position > limit:
                raise services.ObjectTooLarge(limit)
            if session.expected_size is not None and position > session.expected_size:
                raise SizeMismatch(
                    f"The upload was declared as {session.expected_size} bytes; more arrived."
                )
            handle.write(data)
            crc = google_crc32c.extend(crc, data)
            if md5 is not None:
                md5.update(data)
        if remaining:
            raise SizeMismatch("The request body ended before its Content-Range did.")
        handle.flush()
        UploadSession.objects.filter(pk=session.pk).update(received=position, crc32c_state=crc)
        session.received, session.crc32c_state = position, crc
        if md5 is None and position == 0:
            md5 = hashlib.md5(usedforsecurity=False)
        if md5 is not None:
            _remember_md5(session.upload_id, md5, position)
    return session


def _md5_of(session: UploadSession) -> str:
    state = _recall_md5(session.upload_id, session.received)
    if state is None:  # another process took earlier chunks, or we restarted: read it back
        state = hashlib.md5(usedforsecurity=False)
        with open(_local_path(session.blob_key), "rb") as handle:
            remaining = session.received
            while remaining > 0 and (data := handle.read(min(services.CHUNK_SIZE, remaining))):
                state.update(data)
                remaining -= len(data)
    return base64.b64encode(state.digest()).decode("ascii")


def session_finish(
    *, session: UploadSession, expected: ExpectedChecksums = ExpectedChecksums()
) -> Object:
    """Make the session's bytes the object. Checks size, checksums and preconditions first."""
    if session.expected_size is not None and session.received != session.expected_size:
        raise SizeMismatch(
            f"The upload was declared as {session.expected_size} bytes; {session.received} arrived."
        )
    path = _local_path(session.blob_key)
    with open(path, "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.truncate(session.received)  # drop the tail of a chunk that broke off
        if settings.OBJSTORE_FSYNC:
            os.fsync(handle.fileno())
    md5_hash = _md5_of(session)
    crc32c = base64.b64encode(session.crc32c_state.to_bytes(4, "big")).decode("ascii")
    try:
        expected.verify(md5_hash=md5_hash, crc32c=crc32c)
        with transaction.atomic():
            obj = services.commit_blob(
                bucket=session.bucket,
                name=session.name,
                key=session.blob_key,
                size=session.received,
                md5_hash=md5_hash,
                crc32c=crc32c,
                attributes=ObjectAttributes(**session.attributes),
                preconditions=Preconditions(**session.preconditions),
            )
            UploadSession.objects.filter(pk=session.pk).update(completed_generation=obj.generation)
    except BaseException:
        # A failed finish ends the session: its bytes go, the object keeps its old version.
        services._delete_blobs([session.blob_key])
        UploadSession.objects.filter(pk=session.pk).delete()
        _forget_md5(session.upload_id)
        raise
    _forget_md5(session.upload_id)
    return obj


def session_cancel(*, session: UploadSession) -> None:
    if session.completed_generation is None:
        services._delete_blobs([session.blob_key])
    UploadSession.objects.filter(pk=session.pk).delete()
    _forget_md5(session.upload_id)
