import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from buckets.models import Bucket
from objects.models import Object, ObjectVersion

from .conftest import put, read, stored_blobs
from .test_versions_housekeeping import make_generations


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.org", "pw"))
    return client


def test_the_admin_lists_buckets_with_counts_and_sizes(admin_client, bucket):
    put(bucket, "a", b"12345")
    response = admin_client.get(reverse("admin:buckets_bucket_changelist"))
    assert response.status_code == 200
    assert bucket.bucket_id in response.text and "5\xa0bytes" in response.text


def test_the_admin_searches_and_filters_objects(admin_client, bucket):
    put(bucket, "reports/q1.csv", b"x", content_type="text/csv")
    put(bucket, "cat.png", b"x")
    response = admin_client.get(reverse("admin:objects_object_changelist"), {"q": "q1"})
    assert "reports/q1.csv" in response.text and "cat.png" not in response.text
    response = admin_client.get(
        reverse("admin:objects_object_changelist"), {"content_type": "image/png"}
    )
    assert "cat.png" in response.text and "reports/q1.csv" not in response.text


def test_editing_an_object_in_the_admin_bumps_its_metageneration(admin_client, bucket):
    obj = put(bucket, "a.txt", b"x", content_type="text/plain")
    url = reverse("admin:objects_object_change", args=[obj.pk])
    response = admin_client.post(
        url, {"content_type": "text/csv", "cache_control": "", "metadata": "{}"}
    )
    assert response.status_code == 302
    obj.refresh_from_db()
    assert (obj.content_type, obj.metageneration) == ("text/csv", 2)


@pytest.mark.django_db(transaction=True)
def test_deleting_in_the_admin_soft_deletes_as_any_delete(admin_client, bucket, blob_dir):
    """The admin deletes through the service layer: the bucket's soft delete policy (7 days by
    default) keeps the object, bytes and all, as a soft-deleted generation."""
    obj = put(bucket, "a.txt", b"kept")
    put(bucket, "b.txt")
    admin_client.post(reverse("admin:objects_object_delete", args=[obj.pk]), {"post": "yes"})
    assert list(Object.objects.values_list("name", flat=True)) == ["b.txt"]
    version = ObjectVersion.objects.get()
    assert (version.name, version.generation, version.state, version.blob_key) == (
        "a.txt",
        obj.generation,
        ObjectVersion.SOFT_DELETED,
        obj.blob_key,
    )
    assert version.hard_delete_time is not None
    assert len(stored_blobs(blob_dir)) == 2 and read(version) == b"kept"
    # Deleting the bucket deletes everything in it for good, kept generations included.
    admin_client.post(reverse("admin:buckets_bucket_delete", args=[bucket.pk]), {"post": "yes"})
    assert not Bucket.objects.exists() and not ObjectVersion.objects.exists()
    assert stored_blobs(blob_dir) == []


@pytest.mark.django_db(transaction=True)
def test_deleting_in_the_admin_without_soft_delete_removes_the_bytes(
    admin_client, bucket, blob_dir
):
    bucket.soft_delete_seconds = 0
    bucket.save()
    obj = put(bucket, "a.txt")
    put(bucket, "b.txt")
    admin_client.post(reverse("admin:objects_object_delete", args=[obj.pk]), {"post": "yes"})
    assert list(Object.objects.values_list("name", flat=True)) == ["b.txt"]
    assert not ObjectVersion.objects.exists()
    assert len(stored_blobs(blob_dir)) == 1


def test_ordinary_users_cannot_use_the_admin(alice_client):
    assert alice_client.get(reverse("admin:index")).status_code == 302


def test_the_admin_lists_and_revokes_tokens(admin_client, alice):
    from buckets.models import ApiToken
    from buckets.tokens import token_authenticate, token_create

    token, secret = token_create(owner=alice, name="laptop")
    response = admin_client.get(reverse("admin:buckets_apitoken_changelist"))
    assert "laptop" in response.text and token.hint in response.text and secret not in response.text
    admin_client.post(reverse("admin:buckets_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert not ApiToken.objects.exists() and token_authenticate(secret) is None


def test_the_admin_lists_and_filters_versions(admin_client, bucket):
    noncurrent = make_generations(bucket).noncurrent
    changelist = reverse("admin:objects_objectversion_changelist")
    response = admin_client.get(changelist)
    assert response.status_code == 200
    assert "doc" in response.text and "gone" in response.text
    assert str(noncurrent.generation) in response.text
    response = admin_client.get(changelist, {"state__exact": ObjectVersion.SOFT_DELETED})
    assert ">gone<" in response.text and ">doc<" not in response.text
    response = admin_client.get(changelist, {"q": "doc"})
    assert ">doc<" in response.text and ">gone<" not in response.text
    # Read-only: the change page shows the generation, and a POST changes nothing.
    url = reverse("admin:objects_objectversion_change", args=[noncurrent.pk])
    response = admin_client.get(url)
    assert response.status_code == 200 and noncurrent.md5_hash in response.text
    admin_client.post(url, {"name": "renamed"})
    noncurrent.refresh_from_db()
    assert noncurrent.name == "doc"
    # The bucket list counts the kept generations and their bytes.
    response = admin_client.get(reverse("admin:buckets_bucket_changelist"))
    assert "2 (29\xa0bytes)" in response.text


@pytest.mark.django_db(transaction=True)
def test_deleting_a_version_in_the_admin_releases_its_blob(admin_client, bucket, blob_dir):
    made = make_generations(bucket)
    noncurrent, soft_deleted = made.noncurrent, made.soft_deleted
    assert len(stored_blobs(blob_dir)) == 3
    admin_client.post(
        reverse("admin:objects_objectversion_delete", args=[noncurrent.pk]), {"post": "yes"}
    )
    assert list(ObjectVersion.objects.values_list("name", flat=True)) == ["gone"]
    assert noncurrent.blob_key not in stored_blobs(blob_dir)
    # The bulk action too; the live object is untouched.
    admin_client.post(
        reverse("admin:objects_objectversion_changelist"),
        {"action": "delete_selected", "_selected_action": [soft_deleted.pk], "post": "yes"},
    )
    assert not ObjectVersion.objects.exists()
    assert stored_blobs(blob_dir) == [Object.objects.get(name="doc").blob_key]


@pytest.mark.django_db(transaction=True)
def test_the_admin_restores_a_soft_deleted_generation(admin_client, bucket, blob_dir):
    made = make_generations(bucket)
    noncurrent, soft_deleted = made.noncurrent, made.soft_deleted
    response = admin_client.post(
        reverse("admin:objects_objectversion_changelist"),
        {"action": "restore_selected", "_selected_action": [noncurrent.pk, soft_deleted.pk]},
        follow=True,
    )
    assert "Restored 1 object(s)." in response.text
    assert "Not restored: doc #" in response.text and "is not soft-deleted" in response.text
    restored = Object.objects.get(name="gone")
    assert restored.blob_key == soft_deleted.blob_key and read(restored) == b"deleted, for now"
    assert list(ObjectVersion.objects.values_list("name", flat=True)) == ["doc"]


def _bucket_form(bucket, **changes) -> dict:
    form = {
        "name": bucket.name,
        "owner": bucket.owner_id,
        "labels": "{}",
        "max_objects": "",
        "soft_delete_seconds": bucket.soft_delete_seconds,
    }
    if bucket.versioning_enabled:
        form["versioning_enabled"] = "on"
    return {**form, **changes}


def test_the_admin_edits_a_buckets_versioning_and_soft_delete(admin_client, bucket):
    url = reverse("admin:buckets_bucket_change", args=[bucket.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "Object versioning" in response.text and "Lifecycle rules" in response.text

    response = admin_client.post(url, _bucket_form(bucket, soft_delete_seconds=91 * 24 * 3600))
    assert response.status_code == 200 and "between 0 (off) and 7776000" in response.text
    response = admin_client.post(url, _bucket_form(bucket, soft_delete_seconds=-1))
    assert response.status_code == 200 and "between 0 (off)" in response.text
    bucket.refresh_from_db()
    assert bucket.soft_delete_seconds == 7 * 24 * 3600 and bucket.metageneration == 1

    response = admin_client.post(
        url, _bucket_form(bucket, versioning_enabled="on", soft_delete_seconds=0, name="renamed")
    )
    assert response.status_code == 302
    bucket.refresh_from_db()
    assert (bucket.name, bucket.versioning_enabled, bucket.soft_delete_seconds) == (
        "renamed",
        True,
        0,
    )
    assert bucket.metageneration == 2 and bucket.soft_delete_effective is not None


def test_the_admin_shows_lifecycle_rules_read_only(admin_client, bucket):
    rules = [{"action": {"type": "Delete"}, "condition": {"age": 30}}]
    Bucket.objects.filter(pk=bucket.pk).update(lifecycle_rules=rules)
    url = reverse("admin:buckets_bucket_change", args=[bucket.pk])
    assert "&quot;age&quot;: 30" in admin_client.get(url).text
    assert admin_client.post(url, _bucket_form(bucket, lifecycle_rules="[]")).status_code == 302
    bucket.refresh_from_db()
    assert bucket.lifecycle_rules == rules
