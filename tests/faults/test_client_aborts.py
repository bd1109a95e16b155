"""A client that goes away mid-body changes nothing: the previous object stays, whole."""

import json
import os

import pytest

from objects import services
from objects.models import UploadSession

from ..conftest import read
from .conftest import LogWatch, MiB, assert_store_consistent, md5, pane_login, send_and_vanish

GOOD = os.urandom(20 * MiB)


@pytest.fixture
def good_object(bucket):
    obj = services.object_upload(bucket=bucket, name="same", stream=_Bytes(GOOD))
    return obj


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._data, self._offset = memoryview(data), 0

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) if size < 0 else size
        chunk = bytes(self._data[self._offset : self._offset + size])
        self._offset += len(chunk)
        return chunk


def assert_unchanged(bucket, good_object) -> None:
    current = services.object_get(bucket=bucket, name="same")
    assert current.generation == good_object.generation
    assert current.size == len(GOOD)
    assert md5(read(current)) == md5(GOOD)
    assert_store_consistent()


def test_an_aborted_media_upload_leaves_the_object(server, token, bucket, good_object, log_watch):
    send_and_vanish(
        server.url,
        "POST",
        f"/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=media&name=same",
        {"Authorization": f"Bearer {token}", "Content-Length": str(len(GOOD))},
        GOOD[: 4 * MiB],
    )
    line = log_watch.wait_for(r"POST /upload/storage/v1/b/\S+/o \d{3}")
    assert " 400 " in line
    assert_unchanged(bucket, good_object)


def test_an_aborted_chunked_upload_without_its_last_chunk_leaves_the_object(
    server, token, bucket, good_object, log_watch
):
    body = f"{4 * MiB:x}\r\n".encode() + GOOD[: 4 * MiB] + b"\r\n"  # no terminating 0-chunk
    send_and_vanish(
        server.url,
        "POST",
        f"/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=media&name=same",
        {"Authorization": f"Bearer {token}", "Transfer-Encoding": "chunked"},
        body,
    )
    log_watch.wait_for(r"POST /upload/storage/v1/b/\S+/o \d{3}")
    assert_unchanged(bucket, good_object)


def test_an_aborted_multipart_upload_leaves_the_object(
    server, token, bucket, good_object, log_watch
):
    boundary = "objstore-boundary"
    head = (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps({"name": "same"})
        + f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    send_and_vanish(
        server.url,
        "POST",
        f"/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=multipart",
        {
            "Authorization": f"Bearer {token}",
            "Content-Type": f'multipart/related; boundary="{boundary}"',
            "Content-Length": str(len(head) + len(GOOD) + len(tail)),
        },
        head + GOOD[: 4 * MiB],
    )
    line = log_watch.wait_for(r"POST /upload/storage/v1/b/\S+/o \d{3}")
    assert " 400 " in line
    assert_unchanged(bucket, good_object)


def _start_session(api, bucket, size=None) -> str:
    headers = {"X-Upload-Content-Length": str(size)} if size is not None else {}
    response = api.post(
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=resumable",
        json={"name": "same"},
        headers=headers,
    )
    assert response.status_code == 200
    return response.headers["Location"]


def test_an_aborted_single_request_resumable_put_leaves_the_object(
    server, api, token, bucket, good_object, log_watch
):
    location = _start_session(api, bucket)  # no declared size: the PUT's body is the object
    target = location.removeprefix(server.url)
    send_and_vanish(
        server.url,
        "PUT",
        target,
        {"Authorization": f"Bearer {token}", "Content-Length": str(len(GOOD))},
        GOOD[: 4 * MiB],
    )
    log_watch.wait_for(r"PUT /upload/storage/v1/b/\S+/o \d{3}")
    assert_unchanged(bucket, good_object)
    # The session is where it was: nothing of the broken body was kept, on disk either.
    session = UploadSession.objects.get(upload_id=location.rsplit("upload_id=", 1)[1])
    assert session.received == 0
    path = services.blobs().local_path(session.blob_key)
    if path is not None:
        assert path.stat().st_size == 0


def test_an_aborted_chunk_is_reclaimed_and_the_upload_resumes(
    server, api, token, bucket, good_object, log_watch
):
    location = _start_session(api, bucket, len(GOOD))
    first = 8 * MiB
    response = api.put(
        location, data=GOOD[:first], headers={"Content-Range": f"bytes 0-{first - 1}/*"}
    )
    assert response.status_code == 308
    log_watch = LogWatch(server.log)  # the next PUT's line, not the one above
    send_and_vanish(
        server.url,
        "PUT",
        location.removeprefix(server.url),
        {
            "Authorization": f"Bearer {token}",
            "Content-Length": str(len(GOOD) - first),
            "Content-Range": f"bytes {first}-{len(GOOD) - 1}/{len(GOOD)}",
        },
        GOOD[first : first + 3 * MiB],
    )
    log_watch.wait_for(r"PUT /upload/storage/v1/b/\S+/o \d{3}")
    session = UploadSession.objects.get(upload_id=location.rsplit("upload_id=", 1)[1])
    assert session.received == first
    path = services.blobs().local_path(session.blob_key)
    if path is not None:
        assert path.stat().st_size == first  # the broken chunk's 3 MiB are not kept
    assert_unchanged(bucket, good_object)
    status = api.put(location, headers={"Content-Range": f"bytes */{len(GOOD)}"})
    assert status.status_code == 308 and status.headers["Range"] == f"bytes=0-{first - 1}"
    done = api.put(
        location,
        data=GOOD[first:],
        headers={"Content-Range": f"bytes {first}-{len(GOOD) - 1}/{len(GOOD)}"},
    )
    assert done.status_code == 200
    assert md5(read(services.object_get(bucket=bucket, name="same"))) == md5(GOOD)


def test_an_aborted_pane_upload_leaves_the_object(
    server, alice, bucket, good_object, log_watch, settings
):
    session_id, csrf = pane_login(server, alice, settings)
    boundary = "paneboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="prefix"\r\n\r\n\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="same"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    send_and_vanish(
        server.url,
        "POST",
        f"/buckets/{bucket.bucket_id}/upload",
        {
            "Cookie": f"sessionid={session_id}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "Referer": f"{server.url}/",
            "Accept": "application/json",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + len(GOOD) + len(tail)),
        },
        head + GOOD[: 4 * MiB],
    )
    line = log_watch.wait_for(r"POST /buckets/\S+/upload \d{3}")
    assert " 400 " in line
    assert_unchanged(bucket, good_object)
