import re

import pytest
from django.urls import reverse

from buckets.models import Bucket
from objects.models import Object

from .conftest import put, stored_blobs


def test_anonymous_visitors_are_sent_to_sign_in(client, bucket):
    for url in [reverse("bucket_list"), reverse("bucket_settings", args=[bucket.bucket_id])]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    response = client.post(reverse("bucket_create"), {"name": "x"})
    assert response.status_code == 302 and not Bucket.objects.filter(name="x").exists()


def test_the_list_shows_only_my_buckets(alice_client, bucket, charlie):
    Bucket.objects.create(owner=charlie, name="charlies-secret")
    response = alice_client.get(reverse("bucket_list"))
    assert response.status_code == 200
    assert "photos" in response.text
    assert "charlies-secret" not in response.text


def test_create_a_bucket(alice_client, alice):
    response = alice_client.post(reverse("bucket_create"), {"name": "backups"})
    created = Bucket.objects.get(owner=alice, name="backups")
    assert response.status_code == 302
    assert response["Location"] == reverse("object_browser", args=[created.bucket_id])
    assert re.fullmatch(
        r"objstore-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        created.bucket_id,
    )


@pytest.mark.parametrize("name", ["", "   "])
def test_create_needs_a_name(alice_client, alice, name):
    response = alice_client.post(reverse("bucket_create"), {"name": name})
    assert response.status_code == 400
    assert not Bucket.objects.filter(owner=alice).exists()


def test_create_refuses_a_duplicate_name(alice_client, bucket):
    response = alice_client.post(reverse("bucket_create"), {"name": "photos"})
    assert response.status_code == 400
    assert "already have a bucket named" in response.text
    assert Bucket.objects.filter(name="photos").count() == 1


def test_two_users_may_use_the_same_name(charlie_client, bucket, charlie):
    assert charlie_client.post(reverse("bucket_create"), {"name": "photos"}).status_code == 302
    assert Bucket.objects.filter(name="photos").count() == 2


def test_create_is_post_only(alice_client):
    assert alice_client.get(reverse("bucket_create")).status_code == 405


def test_bucket_names_are_escaped(alice_client, alice):
    alice_client.post(reverse("bucket_create"), {"name": "<script>alert(1)</script>"})
    response = alice_client.get(reverse("bucket_list"))
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


def test_settings_shows_id_stats_and_the_delete_warning(alice_client, bucket):
    put(bucket, "a.txt", b"12345")
    put(bucket, "b/c.txt", b"123")
    response = alice_client.get(reverse("bucket_settings", args=[bucket.bucket_id]))
    assert response.status_code == 200
    assert f'<code id="bucket-id" class="bucket-id">{bucket.bucket_id}</code>' in response.text
    assert "Copy bucket ID" in response.text
    assert '<dd data-testid="object-count">2</dd>' in response.text
    assert '<dd data-testid="total-size">8\xa0bytes</dd>' in response.text
    assert "cannot be undone" in response.text


def test_settings_of_another_users_bucket_is_404(charlie_client, bucket):
    assert (
        charlie_client.get(reverse("bucket_settings", args=[bucket.bucket_id])).status_code == 404
    )
    assert (
        charlie_client.get(reverse("bucket_settings", args=["objstore-missing"])).status_code == 404
    )


@pytest.mark.django_db(transaction=True)
def test_delete_needs_the_exact_name(alice_client, bucket, blob_dir):
    put(bucket, "a.txt")
    response = alice_client.post(
        reverse("bucket_delete", args=[bucket.bucket_id]), {"confirm_name": "Photos"}
    )
    assert response.status_code == 400
    assert "nothing was deleted" in response.text
    assert Bucket.objects.filter(pk=bucket.pk).exists()
    assert len(stored_blobs(blob_dir)) == 1


@pytest.mark.django_db(transaction=True)
def test_delete_removes_the_bucket_its_objects_and_bytes(alice_client, bucket, blob_dir):
    put(bucket, "a.txt")
    put(bucket, "b/c.txt")
    response = alice_client.post(
        reverse("bucket_delete", args=[bucket.bucket_id]), {"confirm_name": "photos"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("bucket_list")
    assert not Bucket.objects.filter(pk=bucket.pk).exists()
    assert not Object.objects.exists()
    assert stored_blobs(blob_dir) == []
    assert (
        "Deleted bucket “photos” and its 2 objects."
        in alice_client.get(reverse("bucket_list")).text
    )


def test_another_user_cannot_delete_my_bucket(charlie_client, bucket):
    response = charlie_client.post(
        reverse("bucket_delete", args=[bucket.bucket_id]), {"confirm_name": "photos"}
    )
    assert response.status_code == 404
    assert Bucket.objects.filter(pk=bucket.pk).exists()


def test_delete_is_post_only(alice_client, bucket):
    assert alice_client.get(reverse("bucket_delete", args=[bucket.bucket_id])).status_code == 405


def test_csrf_protects_bucket_forms(alice, bucket):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse("bucket_create"), {"name": "x"}).status_code == 403
    assert (
        client.post(
            reverse("bucket_delete", args=[bucket.bucket_id]), {"confirm_name": "photos"}
        ).status_code
        == 403
    )
    assert Bucket.objects.filter(pk=bucket.pk).exists()
