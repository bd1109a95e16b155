"""Thumbnails of the listing's images (issue 15, "images (with a thumbnail)"):
objects/thumbnails.py and the object_thumbnail view, through Django's test client."""

import base64
import io
import re
import struct
import zlib
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from PIL import Image

from objects import thumbnails

from .conftest import put


def image_bytes(fmt: str, size=(640, 480), color=(200, 30, 30), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, fmt, **save)
    return out.getvalue()


def thumb_url(bucket, obj) -> str:
    query = urlencode({"name": obj.name, "generation": obj.generation})
    return f"{reverse('object_thumbnail', args=[bucket.bucket_id])}?{query}"


@pytest.mark.parametrize(
    "fmt, content_type",
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_an_image_gets_a_small_webp_thumbnail_cached_by_generation(
    alice_client, bucket, fmt, content_type
):
    obj = put(bucket, "photos/red." + fmt.lower(), image_bytes(fmt), content_type=content_type)
    response = alice_client.get(thumb_url(bucket, obj))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    with Image.open(io.BytesIO(response.content)) as small:
        assert small.format == "WEBP"
        assert max(small.size) == thumbnails.SIZE and small.size[0] > small.size[1]
        red, green, blue, *_ = small.convert("RGB").getpixel(
            (small.size[0] // 2, small.size[1] // 2)
        )
        assert red > 150 and green < 80 and blue < 80
    assert len(response.content) < 4096


def test_the_listing_shows_thumbnails_for_images_only(alice_client, bucket):
    photo = put(bucket, "cat.png", image_bytes("PNG"), content_type="image/png")
    put(bucket, "notes.txt", b"text", content_type="text/plain")
    put(
        bucket,
        "drawing.svg",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        content_type="image/svg+xml",
    )
    page = alice_client.get(reverse("object_browser", args=[bucket.bucket_id])).content.decode()
    thumbs = re.findall(r'<img class="thumb" src="([^"]+)"', page)
    assert thumbs == [thumb_url(bucket, photo).replace("&", "&amp;")]
    assert page.count('<use href="#icon-file">') >= 2  # notes.txt and drawing.svg


@pytest.mark.parametrize(
    "name, data, content_type",
    [
        ("fake.png", b"<html><script>alert(1)</script></html>", "image/png"),
        ("cut.jpg", image_bytes("JPEG")[:200], "image/jpeg"),
        ("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        ("notes.txt", b"text", "text/plain"),
        # A PNG whose header claims 100,000 x 100,000 pixels: refused before any is decoded.
        ("bomb.png", None, "image/png"),
    ],
)
def test_what_is_not_a_readable_image_has_no_thumbnail(
    alice_client, bucket, name, data, content_type
):
    if data is None:
        data = _png_header(100_000, 100_000)
    obj = put(bucket, name, data, content_type=content_type)
    response = alice_client.get(thumb_url(bucket, obj))
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain")


def _png_header(width: int, height: int) -> bytes:
    """A PNG with a real header and no pixel data to speak of."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_a_replaced_image_gets_a_new_url_and_the_old_one_answers_404(alice_client, bucket):
    first = put(bucket, "cat.png", image_bytes("PNG"), content_type="image/png")
    second = put(bucket, "cat.png", image_bytes("PNG", color=(0, 0, 255)), content_type="image/png")
    assert thumb_url(bucket, first) != thumb_url(bucket, second)
    assert alice_client.get(thumb_url(bucket, second)).status_code == 200
    assert alice_client.get(thumb_url(bucket, first)).status_code == 404


def test_only_the_owner_gets_thumbnails(alice_client, charlie_client, bucket, client):
    obj = put(bucket, "cat.png", image_bytes("PNG"), content_type="image/png")
    assert charlie_client.get(thumb_url(bucket, obj)).status_code == 404
    assert client.get(thumb_url(bucket, obj)).status_code == 302


# Two files a mutation fuzzer made of valid images, which once made Pillow raise what the view
# did not expect (a struct.error from a WebP, a TypeError from a corrupt EXIF block): a 500.
FUZZED = {
    "webp": base64.b64decode(
        "UklGRpIAAABXRUJQVlA4WAoAAAAIAAAAJwAAHQAAVlA4IEAAAABQAwCdASooAB4APm02l0ikIyIhJWgAgA2JZwB2"
        "AABYzxq0AAD+8iJf/+wZy2BKD//7nA/7nA/7nA/isc2A0AAARVhJRiwAAABNTQAqAAAACAACASgAAgAAAAUAAAAm"
        "ARIAAwAAAAEABgAAAAAAAGRlc2MAAA=="
    ),
    "jpeg": base64.b64decode(
        "/9j/4AAQSkZJRgABAQAAAQABAAD/4QA0RXhpZgAATU0AKgAAAAgAAgEfAAIAAAAFAAAAJgESAAMAAAABAAYAAAAA"
        "AABkZXNjAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0"
        "Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhlzIyMjIy4jIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIy"
        "MjIyMjIyMjIyMjIyMjL/wAARCAAeACgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL"
        "/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRol"
        "JicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWm"
        "p6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEB"
        "AQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHB"
        "CSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0iXZ3eHl6goOE"
        "hYaHiImKkpOUlZaXmJmaVaOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3"
        "+Pn6/9oADAMBAAIRAxEAPwDgqKKK8M/VAooooAKKKKACiiigAooooAKKKKAP/9k="
    ),
}


@pytest.mark.parametrize("kind", sorted(FUZZED))
def test_a_fuzzed_image_has_no_thumbnail_and_no_error(alice_client, bucket, kind):
    obj = put(bucket, "fuzzed." + kind, FUZZED[kind], content_type="image/" + kind)
    assert alice_client.get(thumb_url(bucket, obj)).status_code == 404


def test_exif_orientation_is_applied(alice_client, bucket):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show
    obj = put(bucket, "turned.jpg", image_bytes("JPEG", exif=exif), content_type="image/jpeg")
    with Image.open(io.BytesIO(alice_client.get(thumb_url(bucket, obj)).content)) as small:
        assert small.size[1] == thumbnails.SIZE and small.size[0] < small.size[1]


def test_thumbnails_are_made_two_at_a_time_per_worker(alice_client, bucket, monkeypatch):
    from objstore_site.slots import Slots

    obj = put(bucket, "cat.png", image_bytes("PNG"), content_type="image/png")
    monkeypatch.setattr(thumbnails, "SLOTS", Slots(thumbnails.SLOTS.size, wait=0.05))
    slots = thumbnails.SLOTS.slots
    for _ in range(thumbnails.SLOTS.size):
        slots.acquire()
    busy = alice_client.get(thumb_url(bucket, obj))
    assert busy.status_code == 503 and busy["Retry-After"] == "5"
    slots.release()
    assert alice_client.get(thumb_url(bucket, obj)).status_code == 200
    slots.release()
