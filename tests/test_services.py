"""The service layer: uploads, atomic replace, deletes, folders, buckets and the blob keys."""

import io
import os
import stat
import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from buckets.services import bucket_create
from objects import retirement, services
from objects.models import Object, RetiredBlob

from .conftest import TEST_STORAGE, put, read, stored_blobs
from .streams import assert_services_stream

# Old blobs are deleted after commit: run each test in real transactions so those hooks fire.
pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_stores_bytes_and_checksums(bucket):
    obj = put(bucket, "hello.txt", b"hello", content_type="text/plain")
    assert obj.size == 5
    assert obj.md5_hash == "XUFAKrxLKna5cZ2REBfFkg=="
    assert obj.crc32c == "mnG7TA=="  # CRC32C (Castagnoli) of "hello", as GCS reports it
    assert obj.content_type == "text/plain"
    assert obj.generation > 0 and obj.metageneration == 1
    assert read(services.object_get(bucket=bucket, name="hello.txt")) == b"hello"


def test_content_type_is_guessed_from_the_name(bucket):
    assert put(bucket, "a.json").content_type == "application/json"
    assert put(bucket, "a.unknownext").content_type == "application/octet-stream"


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "../../../../tmp/evil", "a/../../b"])
def test_path_tricks_are_just_names(bucket, blob_dir, tmp_path, name):
    obj = put(bucket, name, b"data")
    assert services.object_get(bucket=bucket, name=name).pk == obj.pk
    # The bytes are under the blob directory at a generated key, nowhere else.
    blobs = stored_blobs(blob_dir)
    assert blobs == [obj.blob_key]
    assert obj.blob_key.startswith(f"{bucket.bucket_id}/")
    assert ".." not in obj.blob_key and name not in obj.blob_key
    assert not (tmp_path / "x").exists() and not (tmp_path.parent / "x").exists()


@pytest.mark.usefixtures("no_soft_delete")
def test_replace_swaps_bytes_and_removes_the_old_blob(bucket, blob_dir):
    first = put(bucket, "doc.txt", b"version 1")
    second = put(bucket, "doc.txt", b"version 2!")
    assert second.pk == first.pk
    assert second.generation > first.generation
    assert second.blob_key != first.blob_key
    assert read(services.object_get(bucket=bucket, name="doc.txt")) == b"version 2!"
    assert stored_blobs(blob_dir) == [second.blob_key]
    assert Object.objects.filter(bucket=bucket).count() == 1


class DiesMidway(io.RawIOBase):
    """A client that sends some bytes and then disconnects."""

    def __init__(self, good: bytes) -> None:
        self.good = good
        self.sent = False

    def read(self, size: int = -1) -> bytes:
        if not self.sent:
            self.sent = True
            return self.good
        raise ConnectionResetError("client went away")


def test_a_request_that_dies_midway_leaves_the_previous_object_intact(bucket, blob_dir):
    original = put(bucket, "doc.txt", b"the original")
    with pytest.raises(services.UploadInterrupted):
        services.object_upload(bucket=bucket, name="doc.txt", stream=DiesMidway(b"half of the new"))
    current = services.object_get(bucket=bucket, name="doc.txt")
    assert current.generation == original.generation
    assert read(current) == b"the original"
    assert stored_blobs(blob_dir) == [original.blob_key]  # the partial blob was removed


def test_a_new_name_that_dies_midway_is_never_listed(bucket, blob_dir):
    with pytest.raises(services.UploadInterrupted):
        services.object_upload(bucket=bucket, name="new.bin", stream=DiesMidway(b"partial"))
    assert not Object.objects.filter(bucket=bucket).exists()
    assert stored_blobs(blob_dir) == []


def test_oversize_uploads_are_refused_and_change_nothing(bucket, blob_dir, settings):
    settings.OBJSTORE_MAX_OBJECT_SIZE = 10
    original = put(bucket, "doc.txt", b"small")
    with pytest.raises(services.ObjectTooLarge):
        put(bucket, "doc.txt", b"x" * 11)
    assert read(services.object_get(bucket=bucket, name="doc.txt")) == b"small"
    assert stored_blobs(blob_dir) == [original.blob_key]


def test_invalid_names_are_refused_before_anything_is_stored(bucket, blob_dir):
    with pytest.raises(services.InvalidObjectName):
        put(bucket, "a\nb")
    assert stored_blobs(blob_dir) == []


def test_uploads_and_downloads_stream_in_bounded_memory(bucket):
    # 64 MiB made up while it is read, in reads of at most one transfer chunk, each direction
    # within a few chunks' worth of memory (tests/streams.py).
    assert_services_stream(bucket, TEST_STORAGE)


@pytest.mark.parametrize(
    ("conditions", "allowed"),
    [
        (services.Preconditions(if_generation_match=0), False),
        (services.Preconditions(if_generation_not_match=0), True),
        (services.Preconditions(if_metageneration_match=1), True),
        (services.Preconditions(if_metageneration_match=2), False),
        (services.Preconditions(if_metageneration_not_match=1), False),
    ],
)
def test_preconditions_on_replace(bucket, blob_dir, conditions, allowed):
    original = put(bucket, "doc", b"old")
    if allowed:
        services.object_upload(
            bucket=bucket, name="doc", stream=io.BytesIO(b"new"), preconditions=conditions
        )
        assert read(services.object_get(bucket=bucket, name="doc")) == b"new"
    else:
        with pytest.raises(services.PreconditionFailed):
            services.object_upload(
                bucket=bucket, name="doc", stream=io.BytesIO(b"new"), preconditions=conditions
            )
        assert read(services.object_get(bucket=bucket, name="doc")) == b"old"
        assert stored_blobs(blob_dir) == [original.blob_key]


class CommitTogether:
    """Makes every commit wait until ``parties`` writers have their blobs written and stand at
    the commit, so that their transactions certainly overlap; ``met`` grows by one for each
    commit that waited."""

    def __init__(self, monkeypatch, parties: int) -> None:
        self.barrier = threading.Barrier(parties)
        self.met: list[int] = []
        real_commit = services.commit_blob

        def commit_together(*args, **kwargs):
            self.met.append(self.barrier.wait(timeout=60))
            return real_commit(*args, **kwargs)

        monkeypatch.setattr(services, "commit_blob", commit_together)


def _clean_up_released_blobs() -> None:
    """What the sweeper does later: delete released blobs a grace period keeps (cloud)."""
    RetiredBlob.objects.update(due=timezone.now() - timedelta(seconds=1))
    retirement.sweep_retired()


def _write_at_once(
    together: CommitTogether, bucket, name: str, bodies: list[bytes], preconditions
) -> list[object]:
    """One thread per body uploads it as ``name``; each thread's Object or exception."""
    outcomes: list[object] = [None] * len(bodies)

    def writer(index: int) -> None:
        try:
            outcomes[index] = services.object_upload(
                bucket=bucket,
                name=name,
                stream=io.BytesIO(bodies[index]),
                preconditions=preconditions,
            )
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            outcomes[index] = exc
            if not isinstance(exc, services.PreconditionFailed):
                together.barrier.abort()  # the others stop waiting for this one
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.usefixtures("no_soft_delete")
def test_eight_writers_of_one_name_at_once_have_one_winner_per_generation(
    bucket, blob_dir, monkeypatch
):
    """Eight uploads of one name with ifGenerationMatch of the current generation, all eight
    blobs written before any commits: exactly one wins each round, whole."""
    together = CommitTogether(monkeypatch, 8)
    generation = 0
    for round in range(3):
        bodies = [f"round {round} writer {w} ".encode() * 20_000 for w in range(8)]
        outcomes = _write_at_once(
            together,
            bucket,
            "contended.bin",
            bodies,
            services.Preconditions(if_generation_match=generation),
        )
        winners = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, Object)]
        assert len(winners) == 1, outcomes
        assert all(
            isinstance(outcome, services.PreconditionFailed)
            for i, outcome in enumerate(outcomes)
            if i != winners[0]
        ), outcomes
        winner = outcomes[winners[0]]
        assert winner.generation > generation
        generation = winner.generation
        current = services.object_get(bucket=bucket, name="contended.bin")
        assert current.generation == generation and read(current) == bodies[winners[0]]
        _clean_up_released_blobs()
        assert stored_blobs(blob_dir) == [current.blob_key]  # the seven losers left no blob
    assert len(together.met) == 3 * 8  # every commit waited for the other seven


@pytest.mark.usefixtures("no_soft_delete")
def test_eight_unconditional_writers_of_one_name_all_commit_in_turn(bucket, blob_dir, monkeypatch):
    together = CommitTogether(monkeypatch, 8)
    bodies = [f"writer {w} ".encode() * 20_000 for w in range(8)]
    outcomes = _write_at_once(together, bucket, "contended.bin", bodies, services.Preconditions())
    assert all(isinstance(outcome, Object) for outcome in outcomes), outcomes
    generations = [outcome.generation for outcome in outcomes]
    assert len(set(generations)) == 8  # each a generation of its own
    last = generations.index(max(generations))
    current = services.object_get(bucket=bucket, name="contended.bin")
    assert current.generation == max(generations) and read(current) == bodies[last]
    _clean_up_released_blobs()
    assert stored_blobs(blob_dir) == [current.blob_key]  # the seven replaced blobs are gone
    assert len(together.met) == 8


def test_generation_match_guards_create_and_replace(bucket):
    created = services.object_upload(
        bucket=bucket,
        name="n",
        stream=io.BytesIO(b"1"),
        preconditions=services.Preconditions(if_generation_match=0),
    )
    replaced = services.object_upload(
        bucket=bucket,
        name="n",
        stream=io.BytesIO(b"2"),
        preconditions=services.Preconditions(if_generation_match=created.generation),
    )
    with pytest.raises(services.PreconditionFailed):
        services.object_upload(
            bucket=bucket,
            name="n",
            stream=io.BytesIO(b"3"),
            preconditions=services.Preconditions(if_generation_match=created.generation),
        )
    assert read(services.object_get(bucket=bucket, name="n")) == b"2"
    assert replaced.generation > created.generation


@pytest.mark.usefixtures("no_soft_delete")
def test_delete_removes_row_and_blob(bucket, blob_dir):
    put(bucket, "a")
    keep = put(bucket, "b")
    services.object_delete(bucket=bucket, name="a")
    assert [o.name for o in Object.objects.filter(bucket=bucket)] == ["b"]
    assert stored_blobs(blob_dir) == [keep.blob_key]
    with pytest.raises(services.ObjectNotFound):
        services.object_delete(bucket=bucket, name="a")


def test_delete_honours_preconditions(bucket):
    obj = put(bucket, "a")
    with pytest.raises(services.PreconditionFailed):
        services.object_delete(
            bucket=bucket,
            name="a",
            preconditions=services.Preconditions(if_generation_match=obj.generation + 1),
        )
    services.object_delete(
        bucket=bucket,
        name="a",
        preconditions=services.Preconditions(if_generation_match=obj.generation),
    )
    assert not Object.objects.exists()


def test_folder_create_makes_a_placeholder_that_lists_as_a_folder(bucket):
    placeholder = services.folder_create(bucket=bucket, prefix="reports")
    assert placeholder.name == "reports/" and placeholder.size == 0
    assert services.objects_list(bucket=bucket, delimiter="/").prefixes == ["reports/"]
    assert services.folder_create(bucket=bucket, prefix="reports/").pk == placeholder.pk


@pytest.mark.usefixtures("no_soft_delete")
def test_folder_delete_removes_exactly_the_subtree(bucket, blob_dir):
    for name in [
        "photos/2024/",
        "photos/2024/a.png",
        "photos/2024/deep/b.png",
        "photos/2024-old/c.png",
        "photos/2024",
        "photos/20240",
        "other",
    ]:
        put(bucket, name)
    assert services.folder_delete(bucket=bucket, prefix="photos/2024/") == 3
    left = sorted(Object.objects.filter(bucket=bucket).values_list("name", flat=True))
    assert left == ["other", "photos/2024", "photos/2024-old/c.png", "photos/20240"]
    assert len(stored_blobs(blob_dir)) == 4


def test_folder_delete_needs_a_folder_name(bucket):
    put(bucket, "abc")
    with pytest.raises(services.InvalidObjectName):
        services.folder_delete(bucket=bucket, prefix="ab")
    assert Object.objects.count() == 1


@pytest.mark.usefixtures("no_soft_delete")
def test_folder_delete_spans_several_batches(bucket, blob_dir, monkeypatch):
    monkeypatch.setattr(services, "_DELETE_BATCH", 3)
    for i in range(10):
        put(bucket, f"f/{i}")
    put(bucket, "g")
    assert services.folder_delete(bucket=bucket, prefix="f/") == 10
    assert [o.name for o in Object.objects.all()] == ["g"]
    assert len(stored_blobs(blob_dir)) == 1


def test_bucket_delete_removes_objects_and_bytes_of_that_bucket_only(alice, bucket, blob_dir):
    other = bucket_create(owner=alice, name="other")
    kept = put(other, "keep.txt", b"keep")
    for name in ["a", "b/c", "b/"]:
        put(bucket, name)
    assert services.bucket_delete(bucket=bucket) == 3
    assert not type(bucket).objects.filter(pk=bucket.pk).exists()
    assert stored_blobs(blob_dir) == [kept.blob_key]


def test_bucket_stats(bucket):
    put(bucket, "a", b"12345")
    put(bucket, "b/c", b"123")
    stats = services.bucket_stats(bucket=bucket)
    assert (stats.object_count, stats.total_size) == (2, 8)


def test_patch_changes_metadata_and_bumps_metageneration(bucket):
    obj = put(bucket, "a", b"data")
    patched = services.object_patch(bucket=bucket, name="a", changes={"content_type": "text/csv"})
    assert (patched.content_type, patched.metageneration, patched.generation) == (
        "text/csv",
        2,
        obj.generation,
    )
    assert read(patched) == b"data"


def test_bulk_create_makes_whole_objects_and_refuses_existing_names(bucket, blob_dir):
    count = services.objects_bulk_create(
        bucket=bucket, items=((f"bulk/{i:03}.txt", b"%d" % i) for i in range(25)), batch_size=10
    )
    assert count == 25
    assert read(services.object_get(bucket=bucket, name="bulk/007.txt")) == b"7"
    assert len(stored_blobs(blob_dir)) == 25
    with pytest.raises(IntegrityError):
        services.objects_bulk_create(bucket=bucket, items=[("new", b"x"), ("bulk/001.txt", b"y")])
    assert not Object.objects.filter(name="new").exists()
    assert len(stored_blobs(blob_dir)) == 25  # the failed batch left no blobs


local_disk_only = pytest.mark.skipif(
    TEST_STORAGE != "file", reason="file modes and fsync are the local disk's"
)


@local_disk_only
def test_local_blobs_are_private_files_in_private_directories(bucket, blob_dir):
    obj = put(bucket, "secret.txt", b"s3cr3t")
    path = blob_dir / obj.blob_key
    assert path.read_bytes() == b"s3cr3t"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700


@local_disk_only
def test_with_objstore_fsync_the_blob_and_its_directory_reach_the_disk(
    bucket, blob_dir, settings, monkeypatch
):
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    settings.OBJSTORE_FSYNC = False
    put(bucket, "fast.txt", b"1")
    assert synced == []
    settings.OBJSTORE_FSYNC = True
    obj = put(bucket, "durable.txt", b"2")
    path = blob_dir / obj.blob_key
    # The file, then its directory; a fan-out directory the upload had to create was synced
    # in its parent (the bucket's directory) first.
    assert synced[-2:] == [path.stat().st_ino, path.parent.stat().st_ino]
    assert set(synced[:-2]) <= {path.parent.parent.stat().st_ino}

    synced.clear()
    obj = put(bucket_create(owner=bucket.owner, name="fresh"), "new-bucket.txt", b"3")
    path = blob_dir / obj.blob_key
    assert synced == [
        blob_dir.stat().st_ino,  # names the new bucket directory
        path.parent.parent.stat().st_ino,  # names the new fan-out directory
        path.stat().st_ino,
        path.parent.stat().st_ino,
    ]


@local_disk_only
def test_a_blob_key_that_exists_is_never_overwritten_or_deleted(bucket, blob_dir, monkeypatch):
    first = put(bucket, "first.txt", b"first")
    # Keys are 128 random bits; force the collision that never happens by chance.
    monkeypatch.setattr(services, "new_blob_key", lambda bucket: first.blob_key)
    with pytest.raises(FileExistsError):
        put(bucket, "second.txt", b"second")
    assert read(services.object_get(bucket=bucket, name="first.txt")) == b"first"
    assert not Object.objects.filter(name="second.txt").exists()
    assert stored_blobs(blob_dir) == [first.blob_key]
