import hashlib

from django.test import Client
from django.urls import reverse

from buckets.models import ApiToken
from buckets.tokens import token_authenticate, token_create


def test_create_a_token_shows_its_secret_once(alice_client, alice, bucket):
    response = alice_client.post(
        reverse("token_new"), {"name": "laptop", "bucket": bucket.bucket_id, "read_only": "on"}
    )
    assert response.status_code == 302
    token = ApiToken.objects.get(owner=alice)
    assert (token.name, token.read_only, token.bucket) == ("laptop", True, bucket)
    page = alice_client.get(reverse("token_list")).text
    secret = page.split('<code id="new-token" class="bucket-id">')[1].split("</code>")[0]
    assert secret.startswith("objstore_") and token.hint in secret
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()  # only the hash is kept
    assert secret not in alice_client.get(reverse("token_list")).text  # never shown again
    assert token_authenticate(secret) == token


def test_the_list_shows_my_tokens_only(alice_client, alice, charlie):
    token_create(owner=alice, name="mine")
    token_create(owner=charlie, name="charlies")
    page = alice_client.get(reverse("token_list")).text
    assert "mine" in page and "charlies" not in page and "Never" in page


def test_a_token_needs_a_name_and_my_own_bucket(alice_client, alice, charlie):
    from buckets.services import bucket_create

    theirs = bucket_create(owner=charlie, name="theirs")
    assert alice_client.post(reverse("token_new"), {"name": ""}).status_code == 400
    assert (
        alice_client.post(
            reverse("token_new"), {"name": "x", "bucket": theirs.bucket_id}
        ).status_code
        == 400
    )
    assert not ApiToken.objects.exists()


def test_revoke(alice_client, alice, charlie_client):
    token, secret = token_create(owner=alice, name="old")
    url = reverse("token_delete", args=[token.public_id])
    assert charlie_client.post(url).status_code == 404
    assert token_authenticate(secret) is not None
    assert alice_client.post(url).status_code == 302
    assert token_authenticate(secret) is None
    assert "Revoked the token “old”" in alice_client.get(reverse("token_list")).text


def test_anonymous_and_csrf(client, alice):
    assert client.get(reverse("token_list")).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("token_new"), {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


def test_an_inactive_users_tokens_stop_working(alice):
    _, secret = token_create(owner=alice, name="t")
    alice.is_active = False
    alice.save()
    assert token_authenticate(secret) is None


def test_settings_shows_code_snippets_with_the_bucket_id(alice_client, bucket):
    page = alice_client.get(reverse("bucket_settings", args=[bucket.bucket_id])).text
    assert f'Client(bucket_id="{bucket.bucket_id}")' in page
    assert f'new Client({{ bucketId: "{bucket.bucket_id}" }})' in page
    assert f"http://testserver/storage/v1/b/{bucket.bucket_id}/o" in page
