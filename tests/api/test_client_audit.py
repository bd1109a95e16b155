"""What Google's clients read from our responses (an audit against google-api-go-client,
java-storage, nodejs-storage and google-resumable-media): the fixes it led to, and the answers
those clients depend on most."""

from urllib.parse import quote

import pytest


def _start(api, bucket, name: str, **headers: str) -> str:
    response = api.post(
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "resumable"},
        json={"name": name},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.headers["Location"]


def test_json_bodies_name_their_charset(api, bucket):
    # Java's google-http-client decodes a body without a charset as ISO-8859-1: "é" would
    # come back as "Ã©", and the client would then address an object that does not exist.
    name = "café/naïve €.txt"
    upload = api.post(
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "media", "name": name},
        data=b"x",
    )
    assert upload.status_code == 200, upload.text
    responses = [
        upload,
        api.get(f"{api.base}/storage/v1/b/{bucket.bucket_id}/o/{quote(name, safe='')}"),
        api.get(f"{api.base}/storage/v1/b/{bucket.bucket_id}/o"),
        api.get(f"{api.base}/storage/v1/b/{bucket.bucket_id}"),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        content_type = response.headers["Content-Type"].lower().replace(" ", "")
        assert content_type == "application/json;charset=utf-8"
    for response in responses[:3]:
        assert name in response.content.decode("utf-8")
    assert responses[1].json()["name"] == name


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_session_call_without_upload_id_is_a_400_not_a_500(api, bucket, method):
    # A 5xx is retried by every client (Python for 120 s); a request that names no session
    # can never succeed.
    response = api.request(
        method,
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "resumable"},
        data=b"",
        headers={"Content-Range": "bytes */*"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == 400


def test_resumable_answers_java_node_and_python_read(api, bucket):
    location = _start(api, bucket, "big.bin")
    # A status query before any byte: 308 without Range (GCS's "nothing persisted yet").
    empty = api.put(location, headers={"Content-Range": "bytes */*"})
    assert empty.status_code == 308
    assert "Range" not in empty.headers
    # A non-final chunk: 308 with "Range: bytes=0-<last>" (Java, Node and Python parse it).
    chunk = b"a" * 256 * 1024
    partial = api.put(
        location, data=chunk, headers={"Content-Range": f"bytes 0-{len(chunk) - 1}/*"}
    )
    assert partial.status_code == 308
    assert partial.headers["Range"] == f"bytes=0-{len(chunk) - 1}"
    assert "Location" not in partial.headers  # else requests/node-fetch follow the "redirect"
    # The final chunk: 200 with the object as JSON (Java requires application/json and a
    # matching size; Node requires crc32c) and no 308 override (Go would keep uploading).
    total = len(chunk) + 3
    final = api.put(
        location, data=b"end", headers={"Content-Range": f"bytes {len(chunk)}-{total - 1}/{total}"}
    )
    assert final.status_code == 200, final.text
    assert final.headers["Content-Type"].startswith("application/json")
    assert "X-Http-Status-Code-Override" not in final.headers
    resource = final.json()
    assert resource["size"] == str(total)
    assert resource["crc32c"] and resource["md5Hash"]
    # A status query after the end (Java's recovery, Go's empty final chunk): the object again.
    for header in ("bytes */*", f"bytes */{total}"):
        again = api.put(location, headers={"Content-Range": header})
        assert again.status_code == 200, again.text
        assert again.json()["size"] == str(total)


def test_an_empty_final_chunk_finishes_the_upload(api, bucket):
    # Java and Go end an upload whose size is a multiple of the chunk size with "bytes */N".
    location = _start(api, bucket, "exact.bin")
    chunk = b"b" * 256 * 1024
    api.put(location, data=chunk, headers={"Content-Range": f"bytes 0-{len(chunk) - 1}/*"})
    final = api.put(location, headers={"Content-Range": f"bytes */{len(chunk)}"})
    assert final.status_code == 200, final.text
    assert final.json()["size"] == str(len(chunk))


def test_go_posts_its_chunks_to_the_session_url(api, bucket):
    location = _start(api, bucket, "go.bin")
    final = api.post(
        location,
        data=b"hello",
        headers={"Content-Range": "bytes 0-4/5", "X-GUploader-No-308": "yes"},
    )
    assert final.status_code == 200, final.text
    assert final.json()["crc32c"] == "mnG7TA=="


def test_a_cancelled_session_answers_499_then_404(api, bucket):
    location = _start(api, bucket, "cancelled.bin")
    assert api.delete(location).status_code == 499
    assert api.put(location, headers={"Content-Range": "bytes */*"}).status_code == 404


def test_resource_fields_have_the_types_clients_decode(api, bucket):
    resource = api.post(
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "media", "name": "typed.txt"},
        data=b"hello",
        headers={"Content-Type": "text/plain"},
    ).json()
    # Go decodes int64 fields with ",string" and fails on a JSON number.
    for field in ("generation", "metageneration", "size"):
        assert isinstance(resource[field], str) and resource[field].isdigit()
    for field in ("timeCreated", "updated", "timeStorageClassUpdated"):
        assert resource[field].endswith("Z") and "T" in resource[field]
    assert resource["storageClass"] == "STANDARD"  # Java: StorageClass.valueOf
    assert resource["etag"] and resource["md5Hash"] and resource["crc32c"] == "mnG7TA=="
    bucket_resource = api.get(f"{api.base}/storage/v1/b/{bucket.bucket_id}").json()
    for field in ("projectNumber", "metageneration"):
        assert isinstance(bucket_resource[field], str) and bucket_resource[field].isdigit()
    assert bucket_resource["location"] and bucket_resource["storageClass"] == "STANDARD"


def test_download_headers_java_and_go_read(api, bucket):
    api.post(
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "media", "name": "h.txt"},
        data=b"hello",
    )
    url = f"{api.base}/storage/v1/b/{bucket.bucket_id}/o/h.txt"
    whole = api.get(url, params={"alt": "media"})
    assert whole.headers["X-Goog-Generation"].isdigit()
    assert whole.headers["X-Goog-Metageneration"] == "1"
    assert whole.headers["X-Goog-Stored-Content-Length"] == "5"
    assert whole.headers["X-Goog-Stored-Content-Encoding"] == "identity"
    assert whole.headers["X-Goog-Hash"].startswith("crc32c=mnG7TA==,md5=")
    # Go takes the object's size from the part after "/" and the offset from the start.
    part = api.get(url, params={"alt": "media"}, headers={"Range": "bytes=1-"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == "bytes 1-4/5"
    assert part.headers["X-Goog-Stored-Content-Length"] == "5"
    # Go's negative offsets.
    tail = api.get(url, params={"alt": "media"}, headers={"Range": "bytes=-2"})
    assert tail.status_code == 206 and tail.content == b"lo"


def test_deletes_answer_204_with_no_body(api, bucket):
    api.post(
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "media", "name": "gone.txt"},
        data=b"x",
    )
    response = api.delete(f"{api.base}/storage/v1/b/{bucket.bucket_id}/o/gone.txt")
    assert response.status_code == 204
    assert response.content == b""
