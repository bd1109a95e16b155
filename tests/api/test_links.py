"""Links the server hands out (selfLink, mediaLink, a session's Location) point wherever the
client called: the server itself, or the sidecar in front of it; never to a host a request
names, unless that is the caller's own machine."""

import threading

import pytest
import requests

from objects.sidecar import SidecarConfig, make_server

from ..cloud import free_port


@pytest.fixture
def sidecar_url(server, token, bucket):
    port = free_port()
    httpd = make_server(
        SidecarConfig(server=server.url, token=token, default_bucket=bucket.bucket_id), port=port
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()
    httpd.server_close()


def _upload(base: str, bucket, headers: dict[str, str] | None = None) -> dict:
    response = requests.post(
        f"{base}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "media", "name": "a/b.txt"},
        data=b"linked",
        headers=headers or {},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_links_through_the_sidecar_lead_back_to_it(sidecar_url, bucket):
    resource = _upload(sidecar_url, bucket)
    assert resource["mediaLink"].startswith(f"{sidecar_url}/download/storage/v1/")
    assert resource["selfLink"].startswith(f"{sidecar_url}/storage/v1/")
    # Following them needs no token: the sidecar adds it (Go's client and rclone do this).
    assert requests.get(resource["mediaLink"], timeout=30).content == b"linked"
    assert requests.get(resource["selfLink"], timeout=30).json()["name"] == "a/b.txt"
    session = requests.post(
        f"{sidecar_url}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "resumable"},
        json={"name": "s.txt"},
        timeout=30,
    )
    assert session.headers["Location"].startswith(f"{sidecar_url}/upload/storage/v1/")


def test_a_request_cannot_make_the_server_link_to_another_host(server, token, bucket):
    auth = {"Authorization": f"Bearer {token}"}
    forged = _upload(server.url, bucket, {**auth, "X-Forwarded-Host": "evil.example"})
    assert forged["mediaLink"].startswith(f"{server.url}/download/")
    loopback = _upload(server.url, bucket, {**auth, "X-Forwarded-Host": "127.0.0.1:1106"})
    assert loopback["mediaLink"].startswith("http://127.0.0.1:1106/download/")


def test_gos_no_308_header_gets_a_200_that_says_308(api, bucket):
    start = api.post(
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=resumable",
        json={"name": "go.bin"},
    )
    location = start.headers["Location"]
    chunk = b"x" * 256 * 1024
    answer = api.put(
        location,
        data=chunk,
        headers={"Content-Range": f"bytes 0-{len(chunk) - 1}/*", "X-GUploader-No-308": "yes"},
    )
    assert answer.status_code == 200
    assert answer.headers["X-Http-Status-Code-Override"] == "308"
    assert answer.headers["Range"] == f"bytes=0-{len(chunk) - 1}"
    plain = api.put(location, headers={"Content-Range": "bytes */*"})
    assert plain.status_code == 308


@pytest.mark.parametrize("body", [None, b"null", b""])
def test_rewrite_with_no_body_or_null_changes_no_metadata(api, bucket, body):
    api.post(
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "media", "name": "src.txt"},
        data=b"moved",
        headers={"Content-Type": "text/plain"},
    )
    response = api.post(
        f"{api.base}/storage/v1/b/{bucket.bucket_id}/o/src.txt/rewriteTo/b/{bucket.bucket_id}/o/dst.txt",
        data=body,
    )
    assert response.status_code == 200, response.text
    assert response.json()["resource"]["contentType"] == "text/plain"


def test_fields_selects_a_partial_response(api, bucket):
    for name in ("p/a.txt", "p/b.txt", "q/c.txt"):
        api.post(
            f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o",
            params={"uploadType": "media", "name": name},
            data=b"x",
        )
    listing = api.get(
        f"{api.base}/storage/v1/b/{bucket.bucket_id}/o",
        params={"fields": "items(name,size),prefixes,nextPageToken", "delimiter": "/"},
    ).json()
    assert listing == {"prefixes": ["p/", "q/"]}
    listing = api.get(
        f"{api.base}/storage/v1/b/{bucket.bucket_id}/o",
        params={"fields": "items(name,size),nextPageToken", "maxResults": "2"},
    ).json()
    assert listing["items"] == [{"name": "p/a.txt", "size": "1"}, {"name": "p/b.txt", "size": "1"}]
    assert set(listing) == {"items", "nextPageToken"}
    one = api.get(
        f"{api.base}/storage/v1/b/{bucket.bucket_id}/o/p%2Fa.txt", params={"fields": "name,md5Hash"}
    ).json()
    assert set(one) == {"name", "md5Hash"}
    bad = api.get(f"{api.base}/storage/v1/b/{bucket.bucket_id}/o", params={"fields": "items(name"})
    assert bad.status_code == 400
