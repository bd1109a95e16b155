"""PDF previews (issue 15, "Preview: ... PDF"): objects/pdfs.py renders a PDF's pages in a
child process, the Details page shows one at a time with Previous and Next."""

import io
import os
import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from PIL import Image

from objects import pdfs

from .conftest import put

RED, BLUE, GREEN = (210, 20, 20), (20, 20, 210), (20, 160, 20)


def pdf_bytes(*colors, size=(612, 792)) -> bytes:
    """A PDF of one page per color, each page filled with it (US Letter at 72 dpi)."""
    pages = [Image.new("RGB", size, color) for color in colors]
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    return out.getvalue()


def details(client, bucket, name, **query):
    url = reverse("object_details", args=[bucket.bucket_id])
    return client.get(f"{url}?{urlencode({'name': name, **query})}")


def page_url(bucket, obj, page) -> str:
    query = urlencode({"name": obj.name, "generation": obj.generation, "page": page})
    return f"{reverse('object_pdf_page', args=[bucket.bucket_id])}?{query}"


def center(data: bytes) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "WEBP"
        return image.convert("RGB").getpixel((image.size[0] // 2, image.size[1] // 2))


def near(color, expected) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(color, expected, strict=True))


def test_the_details_page_shows_a_pdf_a_page_at_a_time(alice_client, bucket):
    obj = put(bucket, "docs/report.pdf", pdf_bytes(RED, BLUE, GREEN), "application/pdf")

    first = details(alice_client, bucket, obj.name).content.decode()
    assert "Page 1 of 3" in first
    assert 'rel="prev"' not in first
    assert re.search(r'href="[^"]*page=2#preview-title" rel="next">Next page', first)
    image = re.search(r'<img class="preview-image preview-pdf" src="([^"]+)"', first)
    assert image.group(1) == page_url(bucket, obj, 1).replace("&", "&amp;")

    second = details(alice_client, bucket, obj.name, page=2).content.decode()
    assert "Page 2 of 3" in second
    assert 'rel="prev">Previous page' in second and 'rel="next">Next page' in second
    # A page past the end, or not a number, shows the nearest page there is.
    assert "Page 3 of 3" in details(alice_client, bucket, obj.name, page=99).content.decode()
    assert "Page 1 of 3" in details(alice_client, bucket, obj.name, page="x").content.decode()


def test_each_page_is_an_image_of_that_page_cached_by_generation(alice_client, bucket):
    obj = put(bucket, "report.pdf", pdf_bytes(RED, BLUE, GREEN), "application/pdf")
    for number, color in ((1, RED), (2, BLUE), (3, GREEN)):
        response = alice_client.get(page_url(bucket, obj, number))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/webp"
        assert response["Cache-Control"] == "private, max-age=31536000, immutable"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert near(center(response.content), color)
        with Image.open(io.BytesIO(response.content)) as image:
            width, height = image.size
            assert width == pdfs.WIDTH and abs(height - pdfs.WIDTH * 792 / 612) <= 1
    assert alice_client.get(page_url(bucket, obj, 4)).status_code == 404
    assert alice_client.get(page_url(bucket, obj, 0)).status_code == 404


def test_a_pdf_stored_as_octet_stream_is_previewed_by_its_name(alice_client, bucket):
    obj = put(bucket, "scan.PDF", pdf_bytes(BLUE), "application/octet-stream")
    assert "Page 1 of 1" in details(alice_client, bucket, obj.name).content.decode()
    assert near(center(alice_client.get(page_url(bucket, obj, 1)).content), BLUE)


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage",
        pdf_bytes(RED)[:300],  # cut short
        b"<html><script>alert(1)</script></html>",
        b"",
    ],
)
def test_a_pdf_that_cannot_be_read_says_so_and_offers_the_download(alice_client, bucket, data):
    obj = put(bucket, "broken.pdf", data, "application/pdf")
    page = details(alice_client, bucket, obj.name)
    assert page.status_code == 200
    assert "This PDF cannot be read here" in page.content.decode()
    assert "preview-pdf" not in page.content.decode()
    assert alice_client.get(page_url(bucket, obj, 1)).status_code == 404


def test_only_pdfs_are_rendered(alice_client, bucket):
    text = put(bucket, "notes.txt", b"%PDF-1.7 not really", "text/plain")
    assert alice_client.get(page_url(bucket, text, 1)).status_code == 404


def test_a_pdf_over_the_limit_has_no_preview(alice_client, bucket, monkeypatch):
    obj = put(bucket, "big.pdf", pdf_bytes(RED), "application/pdf")
    monkeypatch.setattr(pdfs, "PDF_LIMIT", obj.size - 1)
    assert "This PDF is too large to preview." in (
        details(alice_client, bucket, obj.name).content.decode()
    )
    assert alice_client.get(page_url(bucket, obj, 1)).status_code == 404


def test_a_renderer_that_takes_too_long_is_stopped(alice_client, bucket, monkeypatch):
    obj = put(bucket, "slow.pdf", pdf_bytes(RED), "application/pdf")
    monkeypatch.setattr(pdfs, "TIMEOUT", 0.001)
    assert "This PDF cannot be read here" in (
        details(alice_client, bucket, obj.name).content.decode()
    )


def test_a_page_url_never_shows_another_generation(alice_client, bucket):
    """Its answer is cached for a year: once the file is replaced, the old URL finds nothing
    (the bucket keeps the old bytes only as soft-deleted), the new one the new bytes."""
    old = put(bucket, "r.pdf", pdf_bytes(RED), "application/pdf")
    new = put(bucket, "r.pdf", pdf_bytes(GREEN, GREEN), "application/pdf")
    assert alice_client.get(page_url(bucket, old, 1)).status_code == 404
    assert near(center(alice_client.get(page_url(bucket, new, 1)).content), GREEN)


def test_a_backend_without_files_gets_a_spooled_copy():
    data = pdf_bytes(RED)
    with pdfs._descriptor(io.BytesIO(data)) as fd:
        assert os.pread(fd, len(data) + 1, 0) == data


def test_a_worker_renders_two_pdfs_at_once_and_the_rest_wait_their_turn(
    alice_client, bucket, monkeypatch
):
    from objstore_site.slots import Slots

    obj = put(bucket, "r.pdf", pdf_bytes(RED), "application/pdf")
    monkeypatch.setattr(pdfs, "SLOTS", Slots(pdfs.SLOTS.size, wait=0.05))
    slots = pdfs.SLOTS.slots
    for _ in range(pdfs.SLOTS.size):  # two renders running
        slots.acquire()
    busy = alice_client.get(page_url(bucket, obj, 1))
    assert busy.status_code == 503 and busy["Retry-After"] == "5"
    assert "The server is busy with other PDFs" in (
        details(alice_client, bucket, obj.name).content.decode()
    )
    slots.release()  # one ends: the next goes
    assert near(center(alice_client.get(page_url(bucket, obj, 1)).content), RED)
    slots.release()
