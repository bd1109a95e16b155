"""Quotas: a user's bytes and a bucket's object count, on every write path."""

import io

import pytest

from buckets.models import StorageQuota
from buckets.quotas import forget_cached_quotas
from objects import services, uploads

from ..conftest import put, stored_blobs


@pytest.fixture(autouse=True)
def fresh_quotas():
    forget_cached_quotas()
    yield
    forget_cached_quotas()


@pytest.fixture
def quota_of_1000(alice):
    StorageQuota.objects.create(user=alice, max_bytes=1000)


def test_uploads_past_the_users_quota_are_refused_and_store_nothing(
    bucket, other_bucket, quota_of_1000, django_capture_on_commit_callbacks
):
    bucket.soft_delete_seconds = 0  # a replaced object's bytes go at once
    bucket.save()
    put(bucket, "a", b"x" * 600)
    with pytest.raises(services.QuotaExceeded, match="quota"):
        put(other_bucket, "b", b"x" * 500)  # the quota spans the user's buckets
    with django_capture_on_commit_callbacks(execute=True):
        put(bucket, "a", b"x" * 900)  # replacing counts only the difference
    assert [obj.size for obj in bucket.contents.all()] == [900]
    assert len(stored_blobs()) == 1


def test_kept_generations_count_until_they_are_gone_for_good(
    bucket, quota_of_1000, django_capture_on_commit_callbacks
):
    """With soft delete on (new buckets' default) a replaced or deleted object keeps its bytes,
    so it keeps counting; deleting it for good frees them."""
    first = put(bucket, "a", b"x" * 600)
    with pytest.raises(services.QuotaExceeded, match="deleted files and old versions"):
        put(bucket, "a", b"x" * 500)
    services.object_delete(bucket=bucket, name="a")
    with pytest.raises(services.QuotaExceeded):
        put(bucket, "b", b"x" * 500)
    with django_capture_on_commit_callbacks(execute=True):
        services.version_purge(bucket=bucket, name="a", generation=first.generation)
    put(bucket, "b", b"x" * 500)
    assert [obj.name for obj in bucket.contents.all()] == ["b"]


def test_copies_and_composes_count_too(bucket, quota_of_1000):
    put(bucket, "a", b"x" * 400)
    services.object_copy(source_bucket=bucket, source_name="a", bucket=bucket, name="b")
    with pytest.raises(services.QuotaExceeded):
        services.object_copy(source_bucket=bucket, source_name="a", bucket=bucket, name="c")
    with pytest.raises(services.QuotaExceeded):
        services.object_compose(
            bucket=bucket,
            sources=[services.ComposeSource(name="a"), services.ComposeSource(name="b")],
            name="ab",
            attributes=services.ObjectAttributes(),
        )
    assert sorted(obj.name for obj in bucket.contents.all()) == ["a", "b"]


def test_resumable_sessions_count_while_unfinished(bucket, quota_of_1000):
    attributes = services.ObjectAttributes()
    with pytest.raises(services.QuotaExceeded):
        uploads.session_start(
            bucket=bucket,
            name="big",
            attributes=attributes,
            preconditions=services.Preconditions(),
            expected_size=2000,
        )
    session = uploads.session_start(
        bucket=bucket,
        name="s",
        attributes=attributes,
        preconditions=services.Preconditions(),
        expected_size=None,
    )
    uploads.session_append(session=session, offset=0, stream=io.BytesIO(b"x" * 700), length=700)
    with pytest.raises(services.QuotaExceeded):  # the session's 700 bytes already count
        put(bucket, "other", b"x" * 400)
    with pytest.raises(services.QuotaExceeded):
        uploads.session_append(
            session=session, offset=700, stream=io.BytesIO(b"y" * 400), length=400
        )
    done = uploads.session_finish(session=session)  # its own bytes are not counted twice
    assert done is not None and done.size == 700


def test_a_buckets_object_limit_counts_new_names_only(bucket):
    bucket.max_objects = 2
    bucket.save()
    put(bucket, "a")
    services.folder_create(bucket=bucket, prefix="docs/")
    with pytest.raises(services.QuotaExceeded, match="limit of 2 objects"):
        put(bucket, "c")
    put(bucket, "a", b"replaced")  # not a new object
    services.object_delete(bucket=bucket, name="a")
    put(bucket, "c")


def test_the_api_and_the_pane_answer_a_clear_403(bucket, alice_client, quota_of_1000):
    from django.test import Client

    from buckets.tokens import token_create

    token = token_create(owner=bucket.owner, name="t")[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.post(
        f"/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=media&name=big",
        b"x" * 2000,
        content_type="application/octet-stream",
    )
    assert response.status_code == 403
    assert response.json()["error"]["errors"][0]["reason"] == "quotaExceeded"
    pane = alice_client.post(
        f"/buckets/{bucket.bucket_id}/upload",
        {"files": io.BytesIO(b"x" * 2000)},
        HTTP_ACCEPT="application/json",
    )
    assert pane.status_code == 403 and "quota" in pane.json()["results"][0]["error"]
    settings_page = alice_client.get(f"/buckets/{bucket.bucket_id}/settings")
    assert "of your 1000\xa0bytes quota" in settings_page.content.decode()
    assert stored_blobs() == []
