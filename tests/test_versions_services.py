"""Versions and soft delete in the service layer: every way a live generation stops being live
keeps it (noncurrent or soft-deleted) by the bucket's policy, with its bytes whole, and nothing
else is left behind."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from objects import services
from objects.listing import InvalidPageToken
from objects.models import Object, ObjectVersion

from .conftest import put, read, stored_blobs
from .test_services import CommitTogether, _clean_up_released_blobs, _write_at_once

# Real commits: blobs are released after commit, and the writers' threads commit on their own.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def versioned(bucket):
    bucket.versioning_enabled = True
    bucket.save()
    return bucket


def _generations(bucket, name):
    return [(v.state, read(v)) for v in services.object_versions(bucket=bucket, name=name)]


def test_every_unconditional_writer_of_one_name_is_kept_whole(versioned, blob_dir, monkeypatch):
    """No lost update: eight writers commit at once in a versioned bucket; the last is live and
    the other seven are noncurrent, each with exactly the bytes its writer sent."""
    together = CommitTogether(monkeypatch, 8)
    bodies = [f"writer {w} ".encode() * 20_000 for w in range(8)]
    outcomes = _write_at_once(together, versioned, "hot.bin", bodies, services.Preconditions())
    assert all(isinstance(outcome, Object) for outcome in outcomes), outcomes
    by_generation = {outcome.generation: bodies[i] for i, outcome in enumerate(outcomes)}
    kept = services.object_versions(bucket=versioned, name="hot.bin")
    assert [v.state for v in kept] == ["live"] + ["noncurrent"] * 7
    assert {v.generation: read(v) for v in kept} == by_generation
    _clean_up_released_blobs()
    assert stored_blobs(blob_dir) == sorted(v.blob_key for v in kept)


def test_a_folder_delete_is_soft_and_undone_exactly(bucket, blob_dir):
    for name in ("f/", "f/a.txt", "f/deep/b.txt", "f-other/c.txt"):
        put(bucket, name, name.encode())
    started = timezone.now()
    assert services.folder_delete(bucket=bucket, prefix="f/") == 3
    assert list(Object.objects.values_list("name", flat=True)) == ["f-other/c.txt"]
    assert set(ObjectVersion.objects.values_list("name", "state")) == {
        ("f/", "deleted"),
        ("f/a.txt", "deleted"),
        ("f/deep/b.txt", "deleted"),
    }
    put(bucket, "f/a.txt", b"written again")  # a name written since is left alone
    assert services.deleted_restore(bucket=bucket, prefix="f/", since=started) == 2
    assert read(services.object_get(bucket=bucket, name="f/deep/b.txt")) == b"f/deep/b.txt"
    assert read(services.object_get(bucket=bucket, name="f/a.txt")) == b"written again"
    assert len(stored_blobs(blob_dir)) == 5  # 4 live, and the soft-deleted first f/a.txt


def test_undo_only_brings_back_what_was_deleted_since(bucket):
    put(bucket, "old.txt", b"old")
    services.object_delete(bucket=bucket, name="old.txt")
    ObjectVersion.objects.update(time_deleted=timezone.now() - timedelta(hours=1))
    since = timezone.now()
    put(bucket, "new.txt", b"new")
    services.object_delete(bucket=bucket, name="new.txt")
    assert services.deleted_restore(bucket=bucket, name="new.txt", since=since) == 1
    assert services.deleted_restore(bucket=bucket, name="old.txt", since=since) == 0
    assert list(Object.objects.values_list("name", flat=True)) == ["new.txt"]


def test_undo_in_a_versioned_bucket_copies_the_newest_generation_back(versioned):
    put(versioned, "v.txt", b"1")
    put(versioned, "v.txt", b"2")
    services.object_delete(bucket=versioned, name="v.txt")
    assert services.deleted_restore(bucket=versioned, name="v.txt") == 1
    assert read(services.object_get(bucket=versioned, name="v.txt")) == b"2"
    assert [state for state, _ in _generations(versioned, "v.txt")] == [
        "live",
        "noncurrent",
        "noncurrent",
    ]


def test_noncurrent_deletes_become_soft_deleted_then_purge_frees_the_blob(versioned, blob_dir):
    first = put(versioned, "n", b"first")
    put(versioned, "n", b"second")
    services.object_delete(bucket=versioned, name="n", generation=first.generation)
    (kept,) = ObjectVersion.objects.all()
    assert kept.state == ObjectVersion.SOFT_DELETED and kept.hard_delete_time > timezone.now()
    # A soft-deleted generation cannot be deleted again through a plain delete...
    with pytest.raises(services.ObjectNotFound):
        services.object_delete(bucket=versioned, name="n", generation=first.generation)
    # ...only purged for good, which frees its bytes.
    services.version_purge(bucket=versioned, name="n", generation=first.generation)
    assert not ObjectVersion.objects.exists()
    assert stored_blobs(blob_dir) == [Object.objects.get().blob_key]


def test_expired_soft_deleted_generations_are_purged(bucket, blob_dir):
    put(bucket, "a", b"a")
    put(bucket, "b", b"b")
    services.object_delete(bucket=bucket, name="a")
    services.object_delete(bucket=bucket, name="b")
    ObjectVersion.objects.filter(name="a").update(hard_delete_time=timezone.now())
    assert services.versions_purge_expired(bucket=bucket).count == 1
    assert list(ObjectVersion.objects.values_list("name", flat=True)) == ["b"]
    assert stored_blobs(blob_dir) == [ObjectVersion.objects.get().blob_key]


def test_deleting_the_bucket_removes_every_generation_and_its_bytes(versioned, blob_dir):
    put(versioned, "a", b"1")
    put(versioned, "a", b"2")
    services.object_delete(bucket=versioned, name="a")
    put(versioned, "b", b"3")
    services.object_delete(bucket=versioned, name="b", generation=None)
    assert services.bucket_delete(bucket=versioned) == 0
    assert not ObjectVersion.objects.exists() and not Object.objects.exists()
    assert stored_blobs(blob_dir) == []


def test_stats_count_live_noncurrent_and_soft_deleted_bytes_apart(versioned):
    put(versioned, "a", b"1" * 10)
    put(versioned, "a", b"2" * 20)
    put(versioned, "b", b"3" * 40)
    first = services.object_versions(bucket=versioned, name="a")[-1]
    services.object_delete(bucket=versioned, name="a", generation=first.generation)
    stats = services.bucket_stats(bucket=versioned)
    assert (stats.object_count, stats.total_size) == (2, 60)
    assert (stats.noncurrent_count, stats.noncurrent_size) == (0, 0)
    assert (stats.soft_deleted_count, stats.soft_deleted_size) == (1, 10)
    assert stats.stored_size == 70


def test_plain_listings_never_show_other_generations(versioned):
    put(versioned, "a", b"1")
    put(versioned, "a", b"2")
    put(versioned, "dir/b", b"3")
    services.object_delete(bucket=versioned, name="dir/b")
    plain = services.objects_list(bucket=versioned)
    assert [(o.name, o.time_deleted) for o in plain.objects] == [("a", None)]
    every = services.versions_list(bucket=versioned)
    assert [o.name for o in every.objects] == ["a", "a", "dir/b"]
    assert [o.time_deleted is None for o in every.objects] == [False, True, False]
    folded = services.versions_list(bucket=versioned, delimiter="/", match_glob="**")
    assert [o.name for o in folded.objects] == ["a", "a"] and folded.prefixes == ["dir/"]


def test_versions_pages_resume_exactly_and_refuse_foreign_tokens(versioned):
    for i in range(5):
        put(versioned, "same", str(i).encode())
    seen, token = [], ""
    while True:
        page = services.versions_list(bucket=versioned, max_results=2, page_token=token)
        seen += [o.generation for o in page.objects]
        if not (token := page.next_page_token or ""):
            break
    assert seen == sorted(seen) and len(seen) == 5
    put(versioned, "zz", b"")
    plain_token = services.objects_list(bucket=versioned, max_results=1).next_page_token
    with pytest.raises(InvalidPageToken):
        services.versions_list(bucket=versioned, page_token=plain_token)


def test_a_restore_moves_the_blob_and_retires_the_live_object(bucket, blob_dir):
    gone = put(bucket, "r", b"gone")
    services.object_delete(bucket=bucket, name="r")
    live = put(bucket, "r", b"live")
    restored = services.object_restore(bucket=bucket, name="r", generation=gone.generation)
    assert restored.blob_key == gone.blob_key and restored.generation > live.generation
    assert read(restored) == b"gone"
    (kept,) = ObjectVersion.objects.all()
    assert (kept.generation, kept.state, read(kept)) == (live.generation, "deleted", b"live")
    assert len(stored_blobs(blob_dir)) == 2


def test_overwrites_via_copy_and_compose_keep_the_old_generation(bucket):
    put(bucket, "src", b"src")
    put(bucket, "dst", b"dst")
    services.object_copy(source_bucket=bucket, source_name="src", bucket=bucket, name="dst")
    services.object_compose(
        bucket=bucket,
        sources=[services.ComposeSource(name="src")],
        name="dst",
        attributes=services.ObjectAttributes(),
    )
    assert [body for _, body in _generations(bucket, "dst")] == [b"src", b"src", b"dst"]


def test_resumable_uploads_keep_the_generation_they_replace(bucket):
    from objects import uploads

    put(bucket, "big", b"before")
    session = uploads.session_start(
        bucket=bucket,
        name="big",
        attributes=services.ObjectAttributes(),
        preconditions=services.Preconditions(),
        expected_size=5,
    )
    session = uploads.session_append(
        session=session, offset=0, stream=io.BytesIO(b"after"), length=5
    )
    uploads.session_finish(session=session)
    assert [body for _, body in _generations(bucket, "big")] == [b"after", b"before"]
