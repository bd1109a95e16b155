import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from buckets.models import Bucket
from objects.models import Object

from .conftest import put, stored_blobs


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
def test_deleting_in_the_admin_removes_the_bytes(admin_client, bucket, blob_dir):
    obj = put(bucket, "a.txt")
    put(bucket, "b.txt")
    admin_client.post(reverse("admin:objects_object_delete", args=[obj.pk]), {"post": "yes"})
    assert list(Object.objects.values_list("name", flat=True)) == ["b.txt"]
    assert len(stored_blobs(blob_dir)) == 1
    admin_client.post(reverse("admin:buckets_bucket_delete", args=[bucket.pk]), {"post": "yes"})
    assert not Bucket.objects.exists() and stored_blobs(blob_dir) == []


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
