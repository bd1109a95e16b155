"""Object versioning and soft delete through google-cloud-storage (Python), unmodified: the
calls and answers GCS documents, against objstore's server."""

import datetime

import pytest
from google.api_core import exceptions

from buckets.models import Bucket
from objects.models import Object, ObjectVersion

from ..conftest import stored_blobs


@pytest.fixture
def versioned(gcs, bucket):
    found = gcs.get_bucket(bucket.bucket_id)
    found.versioning_enabled = True
    found.patch()
    return found


@pytest.fixture
def soft(gcs, bucket):
    """A bucket with soft delete on and versioning off."""
    found = gcs.get_bucket(bucket.bucket_id)
    found.soft_delete_policy.retention_duration_seconds = 3 * 24 * 3600
    found.patch()
    return found


# ---- bucket settings --------------------------------------------------------------------------


def test_versioning_is_switched_on_and_off_by_patch(gcs, bucket):
    found = gcs.get_bucket(bucket.bucket_id)
    assert found.versioning_enabled is False
    found.versioning_enabled = True
    found.patch()
    assert gcs.get_bucket(bucket.bucket_id).versioning_enabled is True
    assert Bucket.objects.get(pk=bucket.pk).versioning_enabled
    found.versioning_enabled = False
    found.patch()
    assert gcs.get_bucket(bucket.bucket_id).versioning_enabled is False


def test_new_buckets_keep_deleted_objects_for_seven_days(gcs):
    created = gcs.create_bucket("fresh-bucket")
    policy = gcs.get_bucket("fresh-bucket").soft_delete_policy
    assert policy.retention_duration_seconds == 7 * 24 * 3600
    assert policy.effective_time is not None
    created.soft_delete_policy.retention_duration_seconds = 0
    created.patch()
    assert gcs.get_bucket("fresh-bucket").soft_delete_policy.retention_duration_seconds == 0


def test_a_bad_retention_is_refused_and_changes_nothing(api, server, bucket):
    before = Bucket.objects.get(pk=bucket.pk)
    for value in ("-1", "soon", str(91 * 24 * 3600)):
        response = api.patch(
            f"{server.url}/storage/v1/b/{bucket.bucket_id}",
            json={"softDeletePolicy": {"retentionDurationSeconds": value}, "labels": {"a": "b"}},
        )
        assert response.status_code == 400, value
        assert response.json()["error"]["code"] == 400
    after = Bucket.objects.get(pk=bucket.pk)
    assert (after.soft_delete_seconds, after.labels, after.metageneration) == (
        before.soft_delete_seconds,
        before.labels,
        before.metageneration,
    )


# ---- versioning ------------------------------------------------------------------------------


def test_an_overwrite_keeps_the_old_generation_as_noncurrent(versioned):
    first = versioned.blob("notes.txt")
    first.upload_from_string(b"first")
    second = versioned.blob("notes.txt")
    second.upload_from_string(b"second")
    assert second.generation > first.generation

    listed = list(versioned.list_blobs(versions=True))
    assert [(b.name, b.generation) for b in listed] == [
        ("notes.txt", first.generation),
        ("notes.txt", second.generation),
    ]
    old, live = listed
    assert old.time_deleted is not None and live.time_deleted is None
    assert [b.generation for b in versioned.list_blobs()] == [second.generation]

    old_blob = versioned.blob("notes.txt", generation=first.generation)
    assert old_blob.download_as_bytes() == b"first"
    assert versioned.get_blob("notes.txt").download_as_bytes() == b"second"
    assert versioned.get_blob("notes.txt", generation=first.generation).size == 5


def test_a_delete_keeps_the_live_generation_as_noncurrent(versioned):
    blob = versioned.blob("a.txt")
    blob.upload_from_string(b"kept")
    versioned.blob("a.txt").delete()
    assert versioned.get_blob("a.txt") is None
    assert list(versioned.list_blobs()) == []
    (old,) = versioned.list_blobs(versions=True)
    assert old.generation == blob.generation and old.time_deleted is not None
    assert versioned.blob("a.txt", generation=blob.generation).download_as_bytes() == b"kept"


def test_deleting_a_generation_removes_exactly_that_one(versioned, gcs, bucket):
    gens = []
    for data in (b"1", b"22", b"333"):
        blob = versioned.blob("x")
        blob.upload_from_string(data)
        gens.append(blob.generation)
    Bucket.objects.filter(pk=bucket.pk).update(soft_delete_seconds=0)
    versioned.blob("x", generation=gens[1]).delete()
    assert [b.generation for b in versioned.list_blobs(versions=True)] == [gens[0], gens[2]]
    assert versioned.blob("x").download_as_bytes() == b"333"
    with pytest.raises(exceptions.NotFound):
        versioned.blob("x", generation=gens[1]).delete()


def test_if_generation_match_compares_with_the_live_generation(versioned):
    old = versioned.blob("p")
    old.upload_from_string(b"old")
    live = versioned.blob("p")
    live.upload_from_string(b"live")
    with pytest.raises(exceptions.PreconditionFailed):
        versioned.blob("p").upload_from_string(b"x", if_generation_match=old.generation)
    versioned.blob("p").upload_from_string(b"new", if_generation_match=live.generation)
    assert versioned.blob("p").download_as_bytes() == b"new"


def test_restoring_a_version_is_a_copy_onto_the_live_name(versioned):
    old = versioned.blob("doc")
    old.upload_from_string(b"v1")
    versioned.blob("doc").upload_from_string(b"v2")
    restored = versioned.copy_blob(
        versioned.blob("doc"), versioned, "doc", source_generation=old.generation
    )
    assert restored.generation > old.generation
    assert versioned.blob("doc").download_as_bytes() == b"v1"
    assert len(list(versioned.list_blobs(versions=True))) == 3


def test_rewrite_and_compose_read_noncurrent_sources(versioned):
    old = versioned.blob("part")
    old.upload_from_string(b"old-")
    versioned.blob("part").upload_from_string(b"new-")
    target = versioned.blob("copy")
    token, written, total = target.rewrite(versioned.blob("part", generation=old.generation))
    assert token is None and written == total == 4
    assert target.download_as_bytes() == b"old-"
    composed = versioned.blob("both")
    composed.compose([versioned.blob("part", generation=old.generation), versioned.blob("part")])
    assert composed.download_as_bytes() == b"old-new-"


def test_a_listing_with_versions_pages_and_folds_folders(versioned):
    for name in ("a", "a", "dir/x", "dir/x", "b"):
        versioned.blob(name).upload_from_string(name.encode())
    pages = versioned.list_blobs(versions=True, page_size=2)
    names = [(b.name, b.generation) for b in pages]
    assert [n for n, _ in names] == ["a", "a", "b", "dir/x", "dir/x"]
    assert names == sorted(names)
    folded = versioned.list_blobs(versions=True, delimiter="/")
    assert [b.name for b in folded] == ["a", "a", "b"]
    assert folded.prefixes == {"dir/"}


def test_versions_and_soft_deleted_together_are_refused(api, server, bucket):
    response = api.get(
        f"{server.url}/storage/v1/b/{bucket.bucket_id}/o",
        params={"versions": "true", "softDeleted": "true"},
    )
    assert response.status_code == 400


def test_a_bucket_holding_noncurrent_versions_is_not_empty(gcs):
    created = gcs.create_bucket("versioned-bucket")
    created.versioning_enabled = True
    created.patch()
    created.blob("x").upload_from_string(b"x")
    created.blob("x").delete()
    with pytest.raises(exceptions.Conflict, match="not empty"):
        created.delete()
    (old,) = created.list_blobs(versions=True)
    old.delete()
    created.delete()
    assert not Bucket.objects.filter(bucket_id="versioned-bucket").exists()


# ---- soft delete ------------------------------------------------------------------------------


def test_a_deleted_object_is_listed_soft_deleted_and_restored(soft, blob_dir):
    blob = soft.blob("report.csv")
    blob.upload_from_string(b"a,b\n1,2\n", content_type="text/csv")
    blob.metadata = {"team": "data"}
    blob.patch()
    soft.blob("report.csv").delete()
    assert soft.get_blob("report.csv") is None
    assert list(soft.list_blobs()) == []
    assert list(soft.list_blobs(versions=True)) == []

    (deleted,) = soft.list_blobs(soft_deleted=True)
    assert deleted.generation == blob.generation
    assert deleted.soft_delete_time is not None
    assert deleted.hard_delete_time - deleted.soft_delete_time == datetime.timedelta(days=3)
    fetched = soft.get_blob("report.csv", generation=blob.generation, soft_deleted=True)
    assert fetched.size == 8 and fetched.metadata == {"team": "data"}

    restored = soft.restore_blob("report.csv", generation=blob.generation)
    assert restored.generation > blob.generation and restored.metageneration == 1
    assert restored.metadata == {"team": "data"} and restored.content_type == "text/csv"
    assert soft.blob("report.csv").download_as_bytes() == b"a,b\n1,2\n"
    assert list(soft.list_blobs(soft_deleted=True)) == []
    # The blob moved with the row: the restore copied nothing.
    assert len(stored_blobs(blob_dir)) == 1


def test_an_overwrite_in_a_soft_delete_bucket_keeps_the_old_bytes(soft):
    old = soft.blob("cfg.json")
    old.upload_from_string(b'{"v": 1}')
    soft.blob("cfg.json").upload_from_string(b'{"v": 2}')
    (deleted,) = soft.list_blobs(soft_deleted=True)
    assert deleted.generation == old.generation
    soft.restore_blob("cfg.json", generation=old.generation)
    assert soft.blob("cfg.json").download_as_bytes() == b'{"v": 1}'
    # The live generation the restore replaced is soft-deleted in turn.
    assert len(list(soft.list_blobs(soft_deleted=True))) == 1


def test_restore_honours_preconditions_and_needs_a_soft_deleted_generation(soft, api, server):
    blob = soft.blob("r")
    blob.upload_from_string(b"one")
    soft.blob("r").delete()
    soft.blob("r").upload_from_string(b"two")
    with pytest.raises(exceptions.PreconditionFailed):
        soft.restore_blob("r", generation=blob.generation, if_generation_match=0)
    with pytest.raises(exceptions.NotFound):
        soft.restore_blob("r", generation=blob.generation + 12345)
    url = f"{server.url}/storage/v1/b/{soft.name}/o/r/restore"
    assert api.post(url).status_code == 400  # no generation
    assert soft.blob("r").download_as_bytes() == b"two"


def test_soft_deleted_objects_are_not_downloadable_or_gettable_without_the_flag(soft, api, server):
    blob = soft.blob("gone")
    blob.upload_from_string(b"bytes")
    soft.blob("gone").delete()
    assert soft.get_blob("gone", generation=blob.generation) is None
    base = f"{server.url}/storage/v1/b/{soft.name}/o/gone"
    assert api.get(base, params={"softDeleted": "true"}).status_code == 400  # no generation
    media = api.get(
        base, params={"generation": blob.generation, "softDeleted": "true", "alt": "media"}
    )
    assert media.status_code == 400 and b"bytes" not in media.content


def test_without_soft_delete_or_versioning_a_delete_frees_the_bytes(gcs, bucket, blob_dir):
    found = gcs.get_bucket(bucket.bucket_id)
    found.soft_delete_policy.retention_duration_seconds = 0
    found.patch()
    found.blob("tmp").upload_from_string(b"tmp")
    found.blob("tmp").upload_from_string(b"tmp2")
    found.blob("tmp").delete()
    assert not ObjectVersion.objects.exists() and not Object.objects.exists()
    assert stored_blobs(blob_dir) == []


def test_custom_time_round_trips_and_only_moves_forward(gcs, bucket):
    found = gcs.bucket(bucket.bucket_id)
    blob = found.blob("c")
    blob.upload_from_string(b"c")
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    blob.custom_time = moment
    blob.patch()
    assert found.get_blob("c").custom_time == moment
    blob.custom_time = moment - datetime.timedelta(days=1)
    with pytest.raises(exceptions.BadRequest, match="customTime"):
        blob.patch()
    assert found.get_blob("c").custom_time == moment
