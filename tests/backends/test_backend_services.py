"""One service-level suite, run unchanged on local disk, GCS (fake-gcs-server) and S3 (moto)."""

import io
import os
import time
from datetime import timedelta

import pytest

from objects import maintenance, services, uploads
from objects.backends import blobs
from objects.models import Object, UploadSession

from ..conftest import put, read
from ..streams import (
    GeneratedStream,
    MiB,
    assert_services_stream,
    drain,
    read_chunks,
    traced_peak,
)

pytestmark = pytest.mark.django_db(transaction=True)


def bucket_blobs(bucket) -> list[str]:
    return sorted(key for key, _ in blobs().keys(f"{bucket.bucket_id}/"))


@pytest.mark.usefixtures("no_soft_delete")
def test_upload_replace_and_delete(backend, bucket):
    first = put(bucket, "doc.txt", b"version 1")
    assert bucket_blobs(bucket) == [first.blob_key]
    second = put(bucket, "doc.txt", b"version two")
    assert read(services.object_get(bucket=bucket, name="doc.txt")) == b"version two"
    assert bucket_blobs(bucket) == [second.blob_key]  # the old bytes went after commit
    services.object_delete(bucket=bucket, name="doc.txt")
    assert bucket_blobs(bucket) == [] and not Object.objects.exists()


def test_a_large_object_streams_in_both_directions(backend, bucket):
    assert_services_stream(bucket, backend)  # 64 MiB, never held in memory on either side


def test_ranged_reads(backend, bucket):
    obj = put(bucket, "r.bin", bytes(range(256)) * 10)
    handle = services.object_open(obj, 1000)
    try:
        assert handle.read(10) == (bytes(range(256)) * 10)[1000:1010]
    finally:
        handle.close()


def test_copy_and_compose(backend, bucket, other_bucket):
    put(bucket, "a", b"alpha,")
    put(bucket, "b", b"beta")
    copied = services.object_copy(
        source_bucket=bucket, source_name="a", bucket=other_bucket, name="a2"
    )
    assert read(copied) == b"alpha,"
    composed = services.object_compose(
        bucket=bucket,
        sources=[services.ComposeSource("a"), services.ComposeSource("b")],
        name="ab",
        attributes=services.ObjectAttributes(content_type="text/plain"),
    )
    assert read(composed) == b"alpha,beta" and composed.component_count == 2


def test_copies_and_moves_are_made_inside_the_storage(backend, bucket, other_bucket):
    """A copy (and so a move) asks the storage to copy: a hard link on local disk, GCS's
    rewrite, S3's copy. No byte passes through the server, whatever the size."""
    source = GeneratedStream(24 * MiB)
    original = services.object_upload(bucket=bucket, name="big.bin", stream=source)
    with traced_peak() as peak:
        copied = services.object_copy(
            source_bucket=bucket, source_name="big.bin", bucket=other_bucket, name="copy.bin"
        )
        moved = services.object_move(bucket=bucket, name="big.bin", new_name="moved/big.bin")
    assert peak.bytes < 2 * MiB, f"the copy and the move peaked at {peak.mib:.1f} MiB"
    for obj in (copied, moved):
        assert (obj.size, obj.md5_hash, obj.crc32c) == (
            24 * MiB,
            source.md5_b64,
            source.crc32c_b64,
        )
        assert obj.blob_key != original.blob_key
        handle = services.object_open(obj)
        try:
            assert drain(read_chunks(handle, services.CHUNK_SIZE)).md5_b64 == source.md5_b64
        finally:
            handle.close()
    if backend == "file":
        path = blobs().local_path
        assert path(copied.blob_key).stat().st_ino == path(moved.blob_key).stat().st_ino
        # The new key looks new (objstore_gc spares fresh unreferenced blobs by their mtime).
        os.utime(path(moved.blob_key), (0, 0))
        again = services.object_copy(
            source_bucket=bucket, source_name="moved/big.bin", bucket=bucket, name="again.bin"
        )
        assert time.time() - path(again.blob_key).stat().st_mtime < 60
    # Each copy owns its bytes: deleting one leaves the other whole.
    services.object_delete(bucket=bucket, name="moved/big.bin")
    assert services.object_get(bucket=other_bucket, name="copy.bin").size == 24 * MiB
    handle = services.object_open(services.object_get(bucket=other_bucket, name="copy.bin"))
    try:
        assert drain(read_chunks(handle, services.CHUNK_SIZE)).md5_b64 == source.md5_b64
    finally:
        handle.close()


@pytest.mark.usefixtures("no_soft_delete")
def test_folder_and_bucket_delete_remove_the_bytes(backend, bucket):
    for name in ["photos/2024/a", "photos/2024/b", "photos/2024-old/c"]:
        put(bucket, name)
    assert services.folder_delete(bucket=bucket, prefix="photos/2024/") == 2
    kept = services.object_get(bucket=bucket, name="photos/2024-old/c")
    assert bucket_blobs(bucket) == [kept.blob_key]
    services.bucket_delete(bucket=bucket)
    assert bucket_blobs(bucket) == []


def test_kept_generations_keep_their_bytes_and_come_back(backend, bucket):
    """Versioning and soft delete on every backend: a replaced and a deleted generation keep
    their blobs; a restore moves the blob back; deleting the bucket frees every one."""
    bucket.versioning_enabled = True
    bucket.save()
    first = put(bucket, "doc.txt", b"version 1")
    second = put(bucket, "doc.txt", b"version two")
    services.object_delete(bucket=bucket, name="doc.txt")
    assert bucket_blobs(bucket) == sorted([first.blob_key, second.blob_key])
    old = services.object_get(bucket=bucket, name="doc.txt", generation=first.generation)
    assert read(old) == b"version 1"
    services.object_delete(bucket=bucket, name="doc.txt", generation=second.generation)
    restored = services.object_restore(bucket=bucket, name="doc.txt", generation=second.generation)
    assert restored.blob_key == second.blob_key and read(restored) == b"version two"
    services.bucket_delete(bucket=bucket)
    assert bucket_blobs(bucket) == []


def test_listing_does_not_depend_on_the_backend(backend, bucket):
    for name in ["a/1", "a/2", "b", "c/d/e"]:
        put(bucket, name)
    page = services.objects_list(bucket=bucket, delimiter="/")
    assert page.prefixes == ["a/", "c/"] and [o.name for o in page.objects] == ["b"]


def test_a_broken_upload_leaves_nothing_behind(backend, bucket):
    class Breaks(io.RawIOBase):
        sent = False

        def read(self, size=-1):
            if not self.sent:
                self.sent = True
                return b"x" * 1000
            raise ConnectionResetError

    original = put(bucket, "doc", b"original")
    with pytest.raises(services.UploadInterrupted):
        services.object_upload(bucket=bucket, name="doc", stream=Breaks())
    assert read(services.object_get(bucket=bucket, name="doc")) == b"original"
    assert bucket_blobs(bucket) == [original.blob_key]


def test_resumable_session_in_chunks(backend, bucket):
    data = os.urandom(3 * 256 * 1024 + 11)
    session = uploads.session_start(
        bucket=bucket,
        name="resumable.bin",
        attributes=services.ObjectAttributes(),
        preconditions=services.Preconditions(),
        expected_size=len(data),
    )
    step = 256 * 1024
    for offset in range(0, len(data), step):
        session = uploads.session_append(
            session=session,
            offset=offset,
            stream=io.BytesIO(data[offset : offset + step]),
            length=len(data[offset : offset + step]),
        )
    # A client resending the last chunk (its reply was lost) changes nothing.
    last = (len(data) // step) * step
    session = uploads.session_append(
        session=session, offset=last, stream=io.BytesIO(data[last:]), length=len(data) - last
    )
    assert session.received == len(data)
    obj = uploads.session_finish(session=session)
    assert read(obj) == data
    assert bucket_blobs(bucket) == [obj.blob_key]  # parts joined and removed


def test_gc_removes_orphans_and_expired_sessions_only(backend, bucket):
    kept = put(bucket, "kept", b"k")
    orphan = f"{bucket.bucket_id}/zz/orphan"
    services.write_blob(bucket, io.BytesIO(b"orphan"))  # a young orphan: kept by the grace
    blobs().write(orphan, services.HashingReader(io.BytesIO(b"o"), 10))
    session = uploads.session_start(
        bucket=bucket,
        name="abandoned",
        attributes=services.ObjectAttributes(),
        preconditions=services.Preconditions(),
        expected_size=None,
    )
    uploads.session_append(
        session=session, offset=0, stream=io.BytesIO(b"p" * 262144), length=262144
    )
    live = uploads.session_start(
        bucket=bucket,
        name="live",
        attributes=services.ObjectAttributes(),
        preconditions=services.Preconditions(),
        expected_size=None,
    )
    uploads.session_append(session=live, offset=0, stream=io.BytesIO(b"q" * 262144), length=262144)
    UploadSession.objects.filter(pk=session.pk).update(expires="2000-01-01T00:00Z")

    report = maintenance.collect_garbage(grace=timedelta(hours=1), dry_run=True)
    assert report.expired_sessions == 1 and report.orphan_blobs == []
    report = maintenance.collect_garbage(grace=timedelta(seconds=0))
    assert report.expired_sessions == 1
    mine = [key for key in report.orphan_blobs if key.startswith(bucket.bucket_id)]
    assert len(mine) == 2 and orphan in mine  # the two unreferenced blobs
    assert not UploadSession.objects.filter(pk=session.pk).exists()
    live.refresh_from_db()
    remaining = bucket_blobs(bucket)
    assert kept.blob_key in remaining
    assert all(k == kept.blob_key or k.startswith(live.blob_key) for k in remaining)
    assert read(services.object_get(bucket=bucket, name="kept")) == b"k"


def test_check_reports_missing_and_wrong_blobs(backend, bucket):
    good = put(bucket, "good", b"good")
    gone = put(bucket, "gone", b"gone")
    wrong = put(bucket, "wrong", b"right")
    blobs().delete(gone.blob_key)
    blobs().delete(wrong.blob_key)
    blobs().write(wrong.blob_key, services.HashingReader(io.BytesIO(b"wrung"), 10))
    problems = {p.name: p.problem for p in maintenance.check_objects()}
    assert problems == {"gone": "blob is missing"}  # same size: only --md5 sees it
    problems = {p.name: p.problem for p in maintenance.check_objects(verify_hashes=True)}
    assert problems == {"gone": "blob is missing", "wrong": "MD5 does not match"}
    assert Object.objects.count() == 3  # the check changed nothing
    assert read(good) == b"good"


def test_storage_check(backend):
    services.storage_check()
