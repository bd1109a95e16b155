"""Bad input gets a 400 in GCS's envelope and changes nothing; never a 500."""

import json

import pytest
from django.test import Client

from buckets.tokens import token_create
from objects import services

from ..conftest import put, read, stored_blobs

DEEP = "[" * 100_000


@pytest.fixture
def api_client(bucket):
    token = token_create(owner=bucket.owner, name="t")[1]
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _multipart(resource: dict | str, data: bytes = b"hello") -> tuple[bytes, str]:
    boundary = "sep"
    meta = resource if isinstance(resource, str) else json.dumps(resource)
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{meta}\r\n"
            f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/related; boundary={boundary}"


def _assert_400(response):
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == 400


@pytest.mark.parametrize(
    "field, value",
    [
        ("contentType", "text/plain\r\nX-Injected: 1"),
        ("contentType", ["text/plain"]),
        ("contentType", 12),
        ("contentType", "a" * 300),
        ("cacheControl", "no-cache\nSet-Cookie: a=b"),
        ("cacheControl", {"max-age": 1}),
        ("contentEncoding", "gzip\r\n"),
        ("contentEncoding", "x" * 100),
        ("metadata", {"big": "v" * 9000}),
    ],
)
def test_invalid_metadata_fields_are_refused_on_every_write(api_client, bucket, field, value):
    original = put(bucket, "keep.txt", b"ok")
    body, content_type = _multipart({"name": "new.txt", field: value})
    upload = api_client.post(
        f"/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=multipart",
        body,
        content_type=content_type,
    )
    _assert_400(upload)
    start = api_client.post(
        f"/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=resumable",
        json.dumps({"name": "new.txt", field: value}),
        content_type="application/json",
    )
    _assert_400(start)
    patch = api_client.patch(
        f"/storage/v1/b/{bucket.bucket_id}/o/keep.txt",
        json.dumps({field: value}),
        content_type="application/json",
    )
    _assert_400(patch)
    current = services.object_get(bucket=bucket, name="keep.txt")
    assert current.metageneration == original.metageneration
    assert read(current) == b"ok"
    assert stored_blobs() == [original.blob_key]
    # And the pane still shows the bucket (no field of any object broke it).
    assert api_client.get(f"/storage/v1/b/{bucket.bucket_id}/o").status_code == 200


@pytest.mark.parametrize(
    "method, path, content_type",
    [
        ("post", "/storage/v1/b", "application/json"),
        ("patch", "/storage/v1/b/{b}", "application/json"),
        ("post", "/upload/storage/v1/b/{b}/o?uploadType=resumable", "application/json"),
        ("post", "/storage/v1/b/{b}/o/x/compose", "application/json"),
        ("patch", "/storage/v1/b/{b}/o/keep.txt", "application/json"),
    ],
)
def test_deeply_nested_json_is_a_400(api_client, bucket, method, path, content_type):
    put(bucket, "keep.txt")
    response = getattr(api_client, method)(
        path.format(b=bucket.bucket_id), DEEP, content_type=content_type
    )
    _assert_400(response)


def test_deeply_nested_multipart_metadata_is_a_400(api_client, bucket):
    body, content_type = _multipart(DEEP)
    response = api_client.post(
        f"/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=multipart",
        body,
        content_type=content_type,
    )
    _assert_400(response)
    assert stored_blobs() == []


@pytest.mark.parametrize("conditions", ["ifGenerationMatch", ["a"], 5])
def test_compose_with_malformed_preconditions_is_a_400(api_client, bucket, conditions):
    put(bucket, "a")
    response = api_client.post(
        f"/storage/v1/b/{bucket.bucket_id}/o/joined/compose",
        json.dumps({"sourceObjects": [{"name": "a", "objectPreconditions": conditions}]}),
        content_type="application/json",
    )
    _assert_400(response)


@pytest.mark.parametrize(
    "params",
    [
        {"prefix": "\x00"},
        {"prefix": "a\x00", "delimiter": "/"},
        {"startOffset": "a\x00b"},
        {"endOffset": "b\x00"},
        {"matchGlob": "\x00*"},
    ],
)
def test_nul_in_listing_parameters_is_answered_not_a_500(api_client, bucket, params):
    for name in ("a", "a\x01", "b", "b/c"):
        put(bucket, name)
    response = api_client.get(f"/storage/v1/b/{bucket.bucket_id}/o", params)
    assert response.status_code == 200, response.content[:300]
    names = [item["name"] for item in response.json().get("items", [])]
    if "startOffset" in params:
        assert names == ["a\x01", "b", "b/c"]
    if "endOffset" in params:
        assert names == ["a", "a\x01", "b"]
    assert api_client.get(f"/storage/v1/b/{bucket.bucket_id}/o/a%00").status_code == 404


def test_nul_in_pane_parameters_is_answered_not_a_500(alice_client, bucket):
    put(bucket, "a")
    assert alice_client.get(f"/buckets/{bucket.bucket_id}/", {"prefix": "\x00"}).status_code == 200
    download = alice_client.get(f"/buckets/{bucket.bucket_id}/download", {"name": "a\x00"})
    assert download.status_code == 404


def test_nul_in_a_folder_to_delete_is_answered_not_a_500(alice_client, bucket):
    put(bucket, "a")
    response = alice_client.post(
        f"/buckets/{bucket.bucket_id}/folders/delete", {"folder": "\x00", "prefix": ""}
    )
    assert response.status_code < 500
    confirmed = alice_client.post(
        f"/buckets/{bucket.bucket_id}/folders/delete",
        {"folder": "x\x00/", "prefix": "", "confirmed": "yes"},
    )
    assert confirmed.status_code < 500
    assert read(services.object_get(bucket=bucket, name="a")) == b"x"


@pytest.mark.parametrize("field", ["metadata", "labels"])
def test_nul_in_metadata_or_labels_is_a_400(api_client, bucket, field):
    put(bucket, "keep.txt")
    path = (
        f"/storage/v1/b/{bucket.bucket_id}/o/keep.txt"
        if field == "metadata"
        else f"/storage/v1/b/{bucket.bucket_id}"
    )
    for value in ({"k\x00": "v"}, {"k": "v\x00"}):
        response = api_client.patch(
            path, json.dumps({field: value}), content_type="application/json"
        )
        _assert_400(response)
