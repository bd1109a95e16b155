"""The API over plain HTTP, as curl and scripts use it: auth, errors, and the edges of uploads."""

import base64
import hashlib
import json
import os
import signal
import socket
from datetime import timedelta
from urllib.parse import quote, urlsplit

import google_crc32c
import pytest
import requests
from django.utils import timezone

from buckets.services import bucket_create
from buckets.tokens import token_create
from objects import services
from objects.models import Object, UploadSession

from ..conftest import put, read, stored_blobs
from .conftest import HTTP_TIMEOUT, TimeoutSession, kill_server, start_server, stop_server


def url(api, path):
    return api.base + path


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def crc32c_b64(data: bytes) -> str:
    return b64(google_crc32c.Checksum(data).digest())


def assert_error(response, code, message=None):
    assert response.status_code == code
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["errors"][0]["reason"]
    if message:
        assert message in body["error"]["message"]
    return body


# ---- authentication and authorisation -------------------------------------------------------


def test_no_token_or_a_wrong_token_is_401(server, bucket):
    listing = f"{server.url}/storage/v1/b/{bucket.bucket_id}/o"
    assert_error(requests.get(listing, timeout=HTTP_TIMEOUT), 401)
    assert_error(
        requests.get(
            listing, headers={"Authorization": "Bearer objstore_wrong"}, timeout=HTTP_TIMEOUT
        ),
        401,
        "Invalid Credentials",
    )
    assert_error(
        requests.get(listing, headers={"Authorization": "Basic abc"}, timeout=HTTP_TIMEOUT), 401
    )


def test_a_read_only_token_reads_but_cannot_write(server, alice, bucket, blob_dir):
    put(bucket, "a.txt", b"a")
    _, secret = token_create(owner=alice, name="ro", read_only=True)
    session = TimeoutSession()
    session.headers["Authorization"] = f"Bearer {secret}"
    base = f"{server.url}/storage/v1/b/{bucket.bucket_id}/o"
    assert session.get(f"{base}/a.txt", params={"alt": "media"}).content == b"a"
    assert_error(session.delete(f"{base}/a.txt"), 403, "read-only")
    assert_error(
        session.post(
            f"{server.url}/upload/storage/v1/b/{bucket.bucket_id}/o",
            params={"uploadType": "media", "name": "b"},
            data=b"b",
        ),
        403,
        "read-only",
    )
    assert list(Object.objects.values_list("name", flat=True)) == ["a.txt"]


def test_a_bucket_limited_token_sees_only_its_bucket(server, alice, bucket, other_bucket):
    put(other_bucket, "o.txt")
    _, secret = token_create(owner=alice, name="one", bucket=bucket)
    session = TimeoutSession()
    session.headers["Authorization"] = f"Bearer {secret}"
    listed = session.get(f"{server.url}/storage/v1/b").json()
    assert [b["name"] for b in listed["items"]] == [bucket.bucket_id]
    assert_error(session.get(f"{server.url}/storage/v1/b/{other_bucket.bucket_id}/o"), 403)
    assert session.get(f"{server.url}/storage/v1/b/{bucket.bucket_id}/o").status_code == 200
    assert_error(session.post(f"{server.url}/storage/v1/b", json={"name": "new-bucket-x"}), 403)


def test_another_users_bucket_answers_like_a_missing_one(api, charlie):
    theirs = bucket_create(owner=charlie, name="theirs")
    put(theirs, "secret.txt")
    for path in [
        f"/storage/v1/b/{theirs.bucket_id}",
        f"/storage/v1/b/{theirs.bucket_id}/o",
        f"/storage/v1/b/{theirs.bucket_id}/o/secret.txt",
        f"/b/{theirs.bucket_id}/o/secret.txt",
    ]:
        assert_error(api.get(url(api, path)), 404, "The specified bucket does not exist.")
    assert_error(
        api.delete(url(api, f"/storage/v1/b/{theirs.bucket_id}/o/secret.txt")),
        404,
        "The specified bucket does not exist.",
    )
    assert Object.objects.filter(bucket=theirs).count() == 1


def test_last_used_is_recorded(api, alice, bucket):
    token = alice.api_tokens.get()
    assert token.last_used is None
    api.get(url(api, f"/storage/v1/b/{bucket.bucket_id}/o"))
    token.refresh_from_db()
    assert token.last_used is not None


# ---- curl-style uploads and downloads -------------------------------------------------------


def test_curl_workflow_upload_list_download_delete(api, bucket):
    created = api.post(
        url(api, f"/upload/storage/v1/b/{bucket.bucket_id}/o"),
        params={"uploadType": "media", "name": "notes/today.txt"},
        data=b"remember",
        headers={"Content-Type": "text/plain"},
    )
    assert created.status_code == 200
    resource = created.json()
    assert resource["name"] == "notes/today.txt" and resource["size"] == "8"
    assert resource["md5Hash"] == b64(hashlib.md5(b"remember").digest())
    listed = api.get(
        url(api, f"/storage/v1/b/{bucket.bucket_id}/o"), params={"prefix": "notes/"}
    ).json()
    assert [item["name"] for item in listed["items"]] == ["notes/today.txt"]
    download = api.get(
        url(api, f"/storage/v1/b/{bucket.bucket_id}/o/{quote('notes/today.txt', safe='')}"),
        params={"alt": "media"},
    )
    assert download.content == b"remember"
    assert (
        download.headers["X-Goog-Hash"]
        == f"crc32c={crc32c_b64(b'remember')},md5={resource['md5Hash']}"
    )
    assert download.headers["Content-Type"] == "text/plain"
    assert (
        api.delete(url(api, f"/storage/v1/b/{bucket.bucket_id}/o/notes%2Ftoday.txt")).status_code
        == 204
    )
    assert "items" not in api.get(url(api, f"/storage/v1/b/{bucket.bucket_id}/o")).json()


def test_a_chunked_body_without_content_length_is_stored_whole(server, token, bucket):
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    chunks = [b"first chunk,", b"second chunk,", b"x" * 100_000]
    with socket.create_connection((host, port), timeout=HTTP_TIMEOUT) as conn:
        conn.sendall(
            f"POST /upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=media&name=chunked.bin HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n".encode()
        )
        for chunk in chunks:
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.sendall(b"0\r\n\r\n")
        response = b""
        while data := conn.recv(65536):
            response += data
    assert response.startswith(b"HTTP/1.1 200")
    assert read(services.object_get(bucket=bucket, name="chunked.bin")) == b"".join(chunks)


def test_multipart_with_a_wrong_checksum_stores_nothing(api, bucket, blob_dir):
    boundary = "b0undary"
    metadata = json.dumps({"name": "checked.txt", "crc32c": crc32c_b64(b"other bytes")})
    body = (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{metadata}\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nthe bytes\r\n--{boundary}--\r\n"
    ).encode()
    response = api.post(
        url(api, f"/upload/storage/v1/b/{bucket.bucket_id}/o"),
        params={"uploadType": "multipart"},
        data=body,
        headers={"Content-Type": f'multipart/related; boundary="{boundary}"'},
    )
    assert_error(response, 400, "Provided CRC32C")
    assert not Object.objects.exists() and stored_blobs(blob_dir) == []


def test_ranged_and_suffix_downloads_and_an_unsatisfiable_range(api, bucket):
    put(bucket, "r", b"0123456789")
    media = url(api, f"/download/storage/v1/b/{bucket.bucket_id}/o/r")
    part = api.get(media, params={"alt": "media"}, headers={"Range": "bytes=2-5"})
    assert part.status_code == 206 and part.content == b"2345"
    assert part.headers["Content-Range"] == "bytes 2-5/10"
    assert api.get(media, params={"alt": "media"}, headers={"Range": "bytes=-3"}).content == b"789"
    assert api.get(media, params={"alt": "media"}, headers={"Range": "bytes=7-"}).content == b"789"
    assert_error(api.get(media, params={"alt": "media"}, headers={"Range": "bytes=20-30"}), 416)


@pytest.mark.parametrize("size", [10, 64 * 1024, 64 * 1024 + 1, 300 * 1024])
def test_small_and_large_downloads_send_the_same_bytes_and_headers(api, bucket, size):
    # Up to 64 KiB a download is one plain body; above, a streamed (or sendfile'd) file.
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    obj = put(bucket, "d.bin", data)
    media = url(api, f"/download/storage/v1/b/{bucket.bucket_id}/o/d.bin")
    whole = api.get(media, params={"alt": "media"})
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Content-Length"] == str(size)
    assert whole.headers["X-Goog-Hash"] == f"crc32c={obj.crc32c},md5={obj.md5_hash}"
    assert whole.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    part = api.get(media, params={"alt": "media"}, headers={"Range": f"bytes=3-{size - 2}"})
    assert part.status_code == 206 and part.content == data[3 : size - 1]
    assert part.headers["Content-Length"] == str(size - 4)
    assert part.headers["Content-Range"] == f"bytes 3-{size - 2}/{size}"


def test_gzip_objects_are_served_raw_or_decoded(api, bucket):
    import gzip

    packed = gzip.compress(b"plain text " * 100)
    api.post(
        url(api, f"/upload/storage/v1/b/{bucket.bucket_id}/o"),
        params={"uploadType": "media", "name": "z.txt", "contentEncoding": "gzip"},
        data=packed,
        headers={"Content-Type": "text/plain"},
    )
    media = url(api, f"/storage/v1/b/{bucket.bucket_id}/o/z.txt")
    raw = api.get(media, params={"alt": "media"}, headers={"Accept-Encoding": "gzip"}, stream=True)
    assert raw.headers["Content-Encoding"] == "gzip" and raw.raw.read() == packed
    decoded = api.get(media, params={"alt": "media"}, headers={"Accept-Encoding": "identity"})
    assert decoded.content == b"plain text " * 100 and "X-Goog-Hash" not in decoded.headers


# ---- resumable sessions -----------------------------------------------------------------------


def start_session(api, bucket, name, size=None, **params):
    headers = {"X-Upload-Content-Type": "application/octet-stream"}
    if size is not None:
        headers["X-Upload-Content-Length"] = str(size)
    response = api.post(
        url(api, f"/upload/storage/v1/b/{bucket.bucket_id}/o"),
        params={"uploadType": "resumable", **params},
        json={"name": name},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.headers["Location"]


def test_a_broken_chunk_is_resumed_after_a_status_query(api, server, token, bucket):
    data = bytes(range(256)) * 2048  # 512 KiB
    location = start_session(api, bucket, "resumed.bin", len(data))
    first = api.put(
        location, data=data[:262144], headers={"Content-Range": f"bytes 0-262143/{len(data)}"}
    )
    assert first.status_code == 308 and first.headers["Range"] == "bytes=0-262143"
    # The second chunk's connection dies after 1,000 bytes.
    parts = urlsplit(location)
    with socket.create_connection((parts.hostname, parts.port), timeout=HTTP_TIMEOUT) as conn:
        conn.sendall(
            f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: 262144\r\n"
            f"Content-Range: bytes 262144-524287/{len(data)}\r\n\r\n".encode()
            + data[262144:263144]
        )
    status = api.put(location, headers={"Content-Range": f"bytes */{len(data)}"})
    assert status.status_code == 308 and status.headers["Range"] == "bytes=0-262143"
    assert not Object.objects.filter(name="resumed.bin").exists()  # nothing half-written is listed
    done = api.put(
        location, data=data[262144:], headers={"Content-Range": f"bytes 262144-524287/{len(data)}"}
    )
    assert done.status_code == 200 and done.json()["size"] == str(len(data))
    assert read(services.object_get(bucket=bucket, name="resumed.bin")) == data
    again = api.put(location, headers={"Content-Range": f"bytes */{len(data)}"})
    assert again.status_code == 200 and again.json()["name"] == "resumed.bin"


def test_a_session_survives_a_server_restart(api, bucket, server, tmp_path, blob_dir):
    """A server holding half of a resumable upload dies by SIGKILL (no shutdown, nothing
    flushed); a new server on the same database and blobs finishes the upload."""
    data = os.urandom(3 * 262144 + 1000)
    total = len(data)
    first = start_server(tmp_path, server.blob_dir, server.env, new_session=True)
    try:
        location = start_session(api, bucket, "restart.bin", total).replace(server.url, first.url)
        for start in (0, 262144):  # two chunks, on the server that will die
            sent = api.put(
                location,
                data=data[start : start + 262144],
                headers={"Content-Range": f"bytes {start}-{start + 262143}/{total}"},
            )
            assert sent.status_code == 308 and sent.headers["Range"] == f"bytes=0-{start + 262143}"
    finally:
        kill_server(first)
    assert first.process.returncode == -signal.SIGKILL
    with pytest.raises(requests.ConnectionError):
        api.get(f"{first.url}/storage/v1/b", timeout=5)

    second = start_server(tmp_path, server.blob_dir, server.env)
    try:
        moved = location.replace(first.url, second.url)
        status = api.put(moved, headers={"Content-Range": f"bytes */{total}"})
        assert status.status_code == 308 and status.headers["Range"] == "bytes=0-524287"
        done = api.put(
            moved,
            data=data[524288:],
            headers={"Content-Range": f"bytes 524288-{total - 1}/{total}"},
        )
        assert done.status_code == 200, done.text
        resource = done.json()
        # This process never saw the first bytes: it computed MD5 again from the blob.
        assert resource["size"] == str(total)
        assert resource["md5Hash"] == b64(hashlib.md5(data).digest())
        assert resource["crc32c"] == crc32c_b64(data)
        download = api.get(
            f"{second.url}/storage/v1/b/{bucket.bucket_id}/o/restart.bin", params={"alt": "media"}
        )
        assert download.status_code == 200 and download.content == data
    finally:
        stop_server(second)
    obj = services.object_get(bucket=bucket, name="restart.bin")
    assert (obj.size, obj.md5_hash, obj.crc32c) == (
        total,
        b64(hashlib.md5(data).digest()),
        crc32c_b64(data),
    )
    assert read(obj) == data
    # The session is kept, finished (a status query answers with the object, as GCS does).
    assert list(UploadSession.objects.values_list("completed_generation", flat=True)) == [
        obj.generation
    ]
    assert stored_blobs(blob_dir) == [obj.blob_key]  # no part or session blob left behind


def test_a_wrong_final_hash_stores_nothing(api, bucket, blob_dir):
    location = start_session(api, bucket, "hashed.bin", 5)
    response = api.put(
        location,
        data=b"hello",
        headers={"Content-Range": "bytes 0-4/5", "X-Goog-Hash": f"crc32c={crc32c_b64(b'jello')}"},
    )
    assert_error(response, 400, "Provided CRC32C")
    assert not Object.objects.exists() and stored_blobs(blob_dir) == []
    assert not UploadSession.objects.exists()


def test_preconditions_apply_at_start_and_at_the_end(api, bucket):
    put(bucket, "exists.txt", b"old")
    response = api.post(
        url(api, f"/upload/storage/v1/b/{bucket.bucket_id}/o"),
        params={"uploadType": "resumable", "ifGenerationMatch": "0"},
        json={"name": "exists.txt"},
    )
    assert_error(response, 412, "pre-conditions")
    location = start_session(api, bucket, "later.txt", ifGenerationMatch="0")
    put(bucket, "later.txt", b"someone else")
    assert_error(api.put(location, data=b"mine", headers={"Content-Range": "bytes 0-3/4"}), 412)
    assert read(services.object_get(bucket=bucket, name="later.txt")) == b"someone else"


def test_expired_sessions_are_gone(api, bucket):
    location = start_session(api, bucket, "late.bin")
    UploadSession.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert_error(api.put(location, data=b"x", headers={"Content-Range": "bytes 0-0/1"}), 410)


def test_a_cancelled_session_is_removed(api, bucket, blob_dir):
    location = start_session(api, bucket, "cancel.bin")
    api.put(location, data=b"x" * 262144, headers={"Content-Range": "bytes 0-262143/*"})
    assert api.delete(location).status_code == 499
    assert not UploadSession.objects.exists() and stored_blobs(blob_dir) == []


# ---- client mistakes are 4xx, never 5xx ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "code"),
    [
        ("GET", "/storage/v1/b/{b}/o", {"params": {"maxResults": "0"}}, 400),
        ("GET", "/storage/v1/b/{b}/o", {"params": {"maxResults": "many"}}, 400),
        ("GET", "/storage/v1/b/{b}/o", {"params": {"pageToken": "not-a-token"}}, 400),
        ("GET", "/storage/v1/b/{b}/o", {"params": {"matchGlob": "[abc"}}, 400),
        ("GET", "/storage/v1/b/{b}/o/x", {"params": {"ifGenerationMatch": "abc"}}, 400),
        (
            "POST",
            "/upload/storage/v1/b/{b}/o",
            {"params": {"uploadType": "media", "name": "a\nb"}, "data": b"x"},
            400,
        ),
        (
            "POST",
            "/upload/storage/v1/b/{b}/o",
            {"params": {"uploadType": "media"}, "data": b"x"},
            400,
        ),
        (
            "POST",
            "/upload/storage/v1/b/{b}/o",
            {"params": {"uploadType": "carrier-pigeon", "name": "x"}},
            400,
        ),
        (
            "POST",
            "/upload/storage/v1/b/{b}/o",
            {
                "params": {"uploadType": "multipart"},
                "data": b"junk",
                "headers": {"Content-Type": "multipart/related; boundary=zz"},
            },
            400,
        ),
        (
            "POST",
            "/upload/storage/v1/b/{b}/o",
            {"params": {"uploadType": "resumable"}, "data": b"{not json"},
            400,
        ),
        ("PATCH", "/storage/v1/b/{b}/o/x", {"data": b"[1,2]"}, 400),
        ("POST", "/storage/v1/b/{b}/o/x/compose", {"json": {"sourceObjects": []}}, 400),
        ("PUT", "/upload/storage/v1/b/{b}/o", {"params": {"upload_id": "nope"}, "data": b"x"}, 404),
        ("DELETE", "/storage/v1/b", {}, 405),
        ("GET", "/storage/v1/b/{b}/nonsense", {}, 404),
    ],
)
def test_client_mistakes_get_clear_4xx_answers(api, bucket, method, path, kwargs, code):
    put(bucket, "x", b"x")
    response = api.request(method, url(api, path.format(b=bucket.bucket_id)), **kwargs)
    assert_error(response, code)


def test_an_oversize_upload_is_413_and_changes_nothing(server, tmp_path, api, bucket, blob_dir):
    small = start_server(
        tmp_path, server.blob_dir, {**server.env, "OBJSTORE_MAX_OBJECT_SIZE": "10"}
    )
    try:
        response = api.post(
            small.url + f"/upload/storage/v1/b/{bucket.bucket_id}/o",
            params={"uploadType": "media", "name": "big"},
            data=b"x" * 11,
        )
        assert_error(response, 413)
    finally:
        stop_server(small)
    assert not Object.objects.exists() and stored_blobs(blob_dir) == []


# ---- the API's middleware chain (objstore_site.handlers) --------------------------------------


def test_api_calls_skip_the_pane_middleware_but_keep_the_security_headers(server, api, bucket):
    put(bucket, "page.html", b"<script>alert(1)</script>", content_type="text/html")
    for response in (
        api.get(f"{server.url}/storage/v1/b/{bucket.bucket_id}/o/page.html"),
        api.get(f"{server.url}/download/storage/v1/b/{bucket.bucket_id}/o/page.html?alt=media"),
        api.get(f"{server.url}/b/{bucket.bucket_id}/o"),
    ):
        assert response.status_code == 200
        # A length, not chunks (CommonMiddleware, which the pane uses, would set it too).
        assert response.headers["Content-Length"] == str(len(response.content))
        assert "Transfer-Encoding" not in response.headers
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get(
            "Vary", ""
        )
    # The pane's pages still go through sessions and CSRF.
    login = requests.get(f"{server.url}/accounts/login/", timeout=HTTP_TIMEOUT)
    assert login.status_code == 200 and "csrftoken" in login.cookies


def test_api_calls_for_a_host_outside_allowed_hosts_are_refused(server, api, bucket):
    put(bucket, "keep.txt", b"kept")
    path = f"/storage/v1/b/{bucket.bucket_id}/o/keep.txt"
    response = api.delete(server.url + path, headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert Object.objects.filter(bucket=bucket, name="keep.txt").exists()
    assert api.get(server.url + path).json()["name"] == "keep.txt"
