"""Uploaded HTML, SVG and XML never run as a page on objstore's origin.

The pane's download is an attachment; every download, pane or API (whole, ranged, decoded
from gzip, small or large), carries ``Content-Security-Policy: ... sandbox`` and
``X-Content-Type-Options: nosniff``, so even a URL opened inline in a browser runs no script.
"""

import gzip
from email.message import Message
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page

from buckets.tokens import token_create

from ..browser import conftest as browser_fixtures
from ..conftest import put

HTML = b"<!doctype html><title>x</title><script>document.title='pwned';alert(1)</script>"
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    b"<script>document.title='pwned';alert(2)</script></svg>"
)
XML = (
    b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml">'
    b"<script>document.title='pwned';alert(3)</script></html>"
)
PAD = b"<!--" + b"p" * 100_000 + b"-->"  # past the API's small-download cut-off (64 KiB)

CONTENT = {
    "page.html": (HTML, "text/html"),
    "image.svg": (SVG, "image/svg+xml"),
    "data.xml": (XML, "application/xml"),
    "xhtml": (XML, "application/xhtml+xml"),
    # Labelled harmless, but a browser that sniffed would find HTML.
    "sniff.txt": (HTML, "text/plain"),
    "no-type": (HTML, "application/octet-stream"),
    "big.html": (HTML + PAD, "text/html"),
    "big.svg": (SVG[:-6] + PAD + b"</svg>", "image/svg+xml"),
}


def assert_sandboxed(response) -> None:
    policy = response.get("Content-Security-Policy", "")
    directives = [part.strip() for part in policy.split(";")]
    assert "sandbox" in directives, policy
    assert "default-src 'none'" in directives, policy
    assert response.get("X-Content-Type-Options") == "nosniff"


def assert_attachment(response, basename: str) -> None:
    header = response.get("Content-Disposition", "")
    message = Message()
    message["Content-Disposition"] = header
    assert message.get_content_disposition() == "attachment", header
    assert message.get_filename() == basename, header


@pytest.fixture
def api_client(bucket):
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_create(owner=bucket.owner, name='t')[1]}")


@pytest.mark.parametrize("name", sorted(CONTENT))
def test_pane_download_is_an_attachment_and_sandboxed(alice_client, bucket, name):
    data, content_type = CONTENT[name]
    put(bucket, f"dir/{name}", data, content_type)
    response = alice_client.get(
        reverse("object_download", args=[bucket.bucket_id]), {"name": f"dir/{name}"}
    )
    assert response.status_code == 200
    assert_attachment(response, name)
    assert_sandboxed(response)
    assert b"".join(response.streaming_content) == data


@pytest.mark.parametrize(
    "basename",
    ['evil"; filename="x.html', "a\\b.html", "ünï cödé <x>.html", "x;y=z.svg", ".hidden.html"],
)
def test_a_hostile_name_cannot_rewrite_the_attachment_header(alice_client, bucket, basename):
    put(bucket, basename, HTML, "text/html")
    response = alice_client.get(
        reverse("object_download", args=[bucket.bucket_id]), {"name": basename}
    )
    assert response.status_code == 200
    assert_attachment(response, basename)
    assert_sandboxed(response)


@pytest.mark.parametrize("name", sorted(CONTENT))
@pytest.mark.parametrize(
    "path",
    [
        "/storage/v1/b/{b}/o/{o}?alt=media",
        "/download/storage/v1/b/{b}/o/{o}",
        "/b/{b}/o/{o}?alt=media",
    ],
)
def test_api_media_is_sandboxed(api_client, bucket, name, path):
    data, content_type = CONTENT[name]
    put(bucket, f"dir/{name}", data, content_type)
    response = api_client.get(path.format(b=bucket.bucket_id, o=quote(f"dir/{name}", safe="")))
    assert response.status_code == 200
    assert_sandboxed(response)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body == data


@pytest.mark.parametrize("name", ["page.html", "big.html", "image.svg"])
def test_api_ranges_and_metadata_are_sandboxed_too(api_client, bucket, name):
    data, content_type = CONTENT[name]
    put(bucket, name, data, content_type)
    path = f"/storage/v1/b/{bucket.bucket_id}/o/{quote(name, safe='')}"
    ranged = api_client.get(f"{path}?alt=media", HTTP_RANGE="bytes=0-40")
    assert ranged.status_code == 206
    assert_sandboxed(ranged)
    # The JSON metadata is JSON, never sniffed as HTML.
    meta = api_client.get(path)
    assert meta["Content-Type"].startswith("application/json")
    assert meta.get("X-Content-Type-Options") == "nosniff"


def test_gzip_html_decoded_for_the_client_is_sandboxed(api_client, bucket):
    from objects import services

    packed = gzip.compress(HTML + PAD)
    obj = put(bucket, "packed.html", packed, "text/html")
    services.object_patch(bucket=bucket, name=obj.name, changes={"content_encoding": "gzip"})
    response = api_client.get(f"/storage/v1/b/{bucket.bucket_id}/o/packed.html?alt=media")
    assert response.status_code == 200
    assert_sandboxed(response)
    assert b"".join(response.streaming_content) == HTML + PAD


# ---- in Chromium -----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("name", ["page.html", "image.svg", "xhtml", "sniff.txt", "big.html"])
def test_opening_api_media_in_a_browser_runs_no_script(
    page: Page, context, server, alice, bucket, name
):
    data, content_type = CONTENT[name]
    put(bucket, name, data, content_type)
    secret = token_create(owner=alice, name="browser")[1]
    context.set_extra_http_headers({"Authorization": f"Bearer {secret}"})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    response = page.goto(f"/storage/v1/b/{bucket.bucket_id}/o/{quote(name, safe='')}?alt=media")

    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    assert dialogs == []
    assert page.evaluate("document.title") != "pwned"


@pytest.mark.browser
@pytest.mark.parametrize("name", ["page.html", "image.svg"])
def test_the_pane_download_link_downloads_instead_of_rendering(
    page: Page, context, server, alice, bucket, name
):
    browser_fixtures.sign_in(context, server, alice)
    data, content_type = CONTENT[name]
    put(bucket, name, data, content_type)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(reverse("object_browser", args=[bucket.bucket_id]))
    url = f"{reverse('object_download', args=[bucket.bucket_id])}?name={quote(name, safe='')}"
    with page.expect_download() as download:
        page.evaluate("url => { location.href = url; }", url)
    assert download.value.suggested_filename == name
    with open(download.value.path(), "rb") as handle:
        assert handle.read() == data
    assert dialogs == []
