"""replit-object-storage 1.0.2 (PyPI), unmodified, through the sidecar command's server."""

import os

import pytest
from replit.object_storage import Client
from replit.object_storage.errors import (
    BucketNotFoundError,
    ForbiddenError,
    ObjectNotFoundError,
    UnauthorizedError,
)

from buckets.tokens import token_create
from objects import services

from ..conftest import put, read


def test_the_documented_example(sidecar, bucket):
    client = Client()
    client.upload_from_text("file.json", '{"hello": "world"}')
    assert client.download_as_text("file.json") == '{"hello": "world"}'
    obj = services.object_get(bucket=bucket, name="file.json")
    assert obj.content_type == "text/plain"  # as the library uploads text


def test_uploads_and_downloads_of_every_kind(sidecar, bucket, tmp_path):
    client = Client()
    client.upload_from_bytes("bytes.bin", b"\x00\xffdata")
    assert client.download_as_bytes("bytes.bin") == b"\x00\xffdata"
    small = tmp_path / "small.json"
    small.write_text('{"a": 1}')
    client.upload_from_filename("files/small.json", str(small))
    assert (
        services.object_get(bucket=bucket, name="files/small.json").content_type
        == "application/json"
    )
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(8 * 1024 * 1024 + 1000))  # above 8 MiB: the library goes resumable
    client.upload_from_filename("files/big.bin", str(big))
    assert read(services.object_get(bucket=bucket, name="files/big.bin")) == big.read_bytes()
    target = tmp_path / "out.bin"
    client.download_to_filename("files/big.bin", str(target))
    assert target.read_bytes() == big.read_bytes()
    assert client.download_as_text("files/small.json") == '{"a": 1}'


def test_list_with_every_option(sidecar, bucket):
    for name in ["a.txt", "b.json", "dir/c.txt", "dir/d.json", "e.txt"]:
        put(bucket, name)
    client = Client()

    def names(**kw):
        return [o.name for o in client.list(**kw)]

    assert names() == ["a.txt", "b.json", "dir/c.txt", "dir/d.json", "e.txt"]
    assert names(prefix="dir/") == ["dir/c.txt", "dir/d.json"]
    assert names(match_glob="**.json") == ["b.json", "dir/d.json"]
    assert names(start_offset="b", end_offset="e") == ["b.json", "dir/c.txt", "dir/d.json"]
    assert names(max_results=2) == ["a.txt", "b.json"]


def test_exists_copy_and_delete(sidecar, bucket):
    client = Client()
    client.upload_from_text("a.txt", "A")
    assert client.exists("a.txt") and not client.exists("nope.txt")
    client.copy("a.txt", "copies/a.txt")
    assert client.download_as_text("copies/a.txt") == "A"
    client.delete("a.txt")
    assert not client.exists("a.txt")
    with pytest.raises(ObjectNotFoundError):
        client.delete("a.txt")
    client.delete("a.txt", ignore_not_found=True)
    with pytest.raises(ObjectNotFoundError):
        client.download_as_text("a.txt")
    with pytest.raises(ObjectNotFoundError):
        client.copy("a.txt", "b.txt")


def test_client_with_a_bucket_id_and_a_missing_bucket(sidecar, other_bucket):
    Client(bucket_id=other_bucket.bucket_id).upload_from_text("x.txt", "in other")
    assert read(services.object_get(bucket=other_bucket, name="x.txt")) == b"in other"
    missing = Client(bucket_id="objstore-no-such-bucket")
    with pytest.raises(BucketNotFoundError):
        missing.download_as_text("x.txt")
    with pytest.raises(BucketNotFoundError):
        missing.upload_from_text("x.txt", "y")
    with pytest.raises(BucketNotFoundError):
        missing.list()


def test_a_bad_token_is_unauthorized(sidecar):
    sidecar.token = "objstore_not-a-real-token"
    with pytest.raises(UnauthorizedError):
        Client().upload_from_text("x.txt", "y")


def test_a_read_only_token_is_forbidden_to_write(sidecar, alice, bucket):
    put(bucket, "readable.txt", b"r")
    _, secret = token_create(owner=alice, name="ro", read_only=True)
    sidecar.token = secret
    client = Client()
    assert client.download_as_text("readable.txt") == "r"
    with pytest.raises(ForbiddenError):
        client.upload_from_text("x.txt", "y")
    with pytest.raises(ForbiddenError):
        client.delete("readable.txt")
    assert client.exists("readable.txt")
