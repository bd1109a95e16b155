"""One cheap request must not hurt everyone: each case with the budget it must stay within."""

import gzip
import io
import time
import tracemalloc

import pytest
from django.http.multipartparser import MultiPartParser
from django.test import Client

from buckets.tokens import token_create
from objects import services
from objects.glob import MAX_GLOB_LENGTH, InvalidGlob, compile_glob
from objects.gzip_stream import OUT_CHUNK, NotGzip, gunzip_chunks
from objects.listing import objects_list

from ..conftest import put, stored_blobs

MiB = 1024 * 1024


# ---- matchGlob: linear whatever the pattern ---------------------------------------------------


def test_a_pathological_glob_matches_in_linear_time():
    # With a backtracking regex this pattern took 33 s against one 70-character name, and each
    # further "**?" multiplied that by ~6. Budget: well under a second for a thousand names.
    pattern = "**?" * 12 + "**#"
    matches = compile_glob(pattern)
    name = "photos/" + "a" * 63
    started = time.monotonic()
    for _ in range(1000):
        assert not matches(name)
    assert time.monotonic() - started < 1.0
    assert compile_glob("**?**#")("photos/x#")


def test_a_glob_longer_than_the_cap_is_refused():
    with pytest.raises(InvalidGlob, match=str(MAX_GLOB_LENGTH)):
        compile_glob("*" * (MAX_GLOB_LENGTH + 1))


def test_a_listing_past_its_time_budget_ends_early_and_resumes(bucket, settings):
    for index in range(30):
        put(bucket, f"photos/{index:02d}.{'png' if index % 3 == 0 else 'txt'}")
    settings.OBJSTORE_LIST_BUDGET_MS = 0  # every scanned batch is over budget
    found, token, pages = [], "", 0
    while True:
        page = objects_list(bucket=bucket, match_glob="**.png", page_token=token, max_results=5)
        found += [obj.name for obj in page.objects]
        pages += 1
        token = page.next_page_token
        if not token:
            break
        assert pages < 100
    assert found == [f"photos/{index:02d}.png" for index in range(0, 30, 3)]


def test_the_api_answers_a_pathological_glob_at_once(bucket):
    put(bucket, "photos/" + "a" * 63)
    client = Client()
    token = token_create(owner=bucket.owner, name="t", read_only=True)[1]
    started = time.monotonic()
    response = client.get(
        f"/storage/v1/b/{bucket.bucket_id}/o",
        {"prefix": "photos/", "matchGlob": "**?" * 8 + "**#"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200 and "items" not in response.json()
    assert time.monotonic() - started < 2.0
    too_long = client.get(
        f"/storage/v1/b/{bucket.bucket_id}/o",
        {"matchGlob": "a" * (MAX_GLOB_LENGTH + 1)},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert too_long.status_code == 400


# ---- gzip: constant memory whatever the ratio ---------------------------------------------------


def _bomb(size: int) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as packed:
        zeros = bytes(MiB)
        for _ in range(size // MiB):
            packed.write(zeros)
    return out.getvalue()


def test_a_gzip_bomb_decompresses_in_bounded_pieces():
    bomb = _bomb(256 * MiB)  # ~250 KB on disk
    assert len(bomb) < MiB
    tracemalloc.start()
    try:
        total = 0
        for piece in gunzip_chunks(io.BytesIO(bomb)):
            assert len(piece) <= OUT_CHUNK
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 256 * MiB
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_bytes_that_are_not_gzip_are_reported_not_raised_as_a_crash():
    with pytest.raises(NotGzip):
        list(gunzip_chunks(io.BytesIO(b"this is plain text")))
    with pytest.raises(NotGzip):  # cut short
        list(gunzip_chunks(io.BytesIO(gzip.compress(b"x" * 100_000)[:-20])))


def test_the_api_serves_a_gzip_bomb_decoded_in_bounded_memory(bucket):
    services.object_upload(
        bucket=bucket,
        name="bomb.txt",
        stream=io.BytesIO(_bomb(64 * MiB)),
        attributes=services.ObjectAttributes(content_type="text/plain", content_encoding="gzip"),
    )
    token = token_create(owner=bucket.owner, name="t")[1]
    response = Client().get(
        f"/storage/v1/b/{bucket.bucket_id}/o/bomb.txt",
        {"alt": "media"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200 and "Content-Encoding" not in response
    tracemalloc.start()
    try:
        total = sum(len(piece) for piece in response.streaming_content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        response.close()
    assert total == 64 * MiB
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_plain_bytes_labelled_gzip_are_served_as_stored(bucket):
    services.object_upload(
        bucket=bucket,
        name="liar.txt",
        stream=io.BytesIO(b"not gzip at all"),
        attributes=services.ObjectAttributes(content_type="text/plain", content_encoding="gzip"),
    )
    token = token_create(owner=bucket.owner, name="t")[1]
    response = Client().get(
        f"/storage/v1/b/{bucket.bucket_id}/o/liar.txt",
        {"alt": "media"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200
    assert response.content == b"not gzip at all"
    assert "Content-Encoding" not in response


# ---- pane uploads: sign-in and size before the body -----------------------------------------------


@pytest.fixture
def parses(monkeypatch):
    """Counts multipart bodies Django parses (each one spools its files to disk)."""
    calls = []
    original = MultiPartParser.parse

    def counting(self):
        calls.append(self)
        return original(self)

    monkeypatch.setattr(MultiPartParser, "parse", counting)
    return calls


def test_an_anonymous_upload_is_refused_before_its_body_is_read(bucket, parses):
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")  # the login page's CSRF cookie, all an attacker needs
    csrf = client.cookies["csrftoken"].value
    response = client.post(
        f"/buckets/{bucket.bucket_id}/upload",
        {"files": io.BytesIO(b"x" * MiB), "csrfmiddlewaretoken": csrf},
        HTTP_X_CSRFTOKEN=csrf,
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 403
    assert parses == []
    plain = client.post(
        f"/buckets/{bucket.bucket_id}/upload",
        {"files": io.BytesIO(b"x" * MiB), "csrfmiddlewaretoken": csrf},
    )
    assert plain.status_code == 302 and "/accounts/login/" in plain["Location"]
    assert parses == []
    assert stored_blobs() == []


def test_an_oversize_pane_upload_stops_reading_at_the_limit(alice_client, bucket, settings):
    settings.OBJSTORE_MAX_OBJECT_SIZE = MiB
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every file would be spooled to disk
    received = []
    from django.core.files import uploadhandler

    original = uploadhandler.TemporaryFileUploadHandler.receive_data_chunk

    def counting(self, raw_data, start):
        received.append(len(raw_data))
        return original(self, raw_data, start)

    uploadhandler.TemporaryFileUploadHandler.receive_data_chunk = counting
    try:
        response = alice_client.post(
            f"/buckets/{bucket.bucket_id}/upload",
            {"files": io.BytesIO(b"x" * (8 * MiB))},
            HTTP_ACCEPT="application/json",
        )
    finally:
        uploadhandler.TemporaryFileUploadHandler.receive_data_chunk = original
    assert response.status_code == 413
    assert sum(received) <= MiB  # what reached the temporary file: at most the limit
    assert stored_blobs() == []


def test_an_anonymous_multipart_post_elsewhere_writes_no_file(client, monkeypatch):
    from django.core.files import uploadhandler

    spooled = []
    original = uploadhandler.TemporaryFileUploadHandler.new_file

    def recording(self, *args, **kwargs):
        spooled.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(uploadhandler.TemporaryFileUploadHandler, "new_file", recording)
    response = client.post("/accounts/login/", {"username": "x", "f": io.BytesIO(b"x" * MiB)})
    assert response.status_code in (200, 403)
    assert spooled == []
    assert client.post("/healthz", {"f": io.BytesIO(b"x")}).status_code == 405
