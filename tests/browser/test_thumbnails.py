"""Thumbnails in Chromium (issue 15): an image row shows its thumbnail; a file that only claims
to be an image gets the file icon back."""

import io

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from ..conftest import put
from .test_pane import browser_path, file_row
from .test_versions import csp_violations  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("csp_violations")
def test_image_rows_show_thumbnails_and_others_keep_the_icon(alice_page: Page, bucket):
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (20, 160, 40)).save(out, "JPEG")
    put(bucket, "green.jpg", out.getvalue(), content_type="image/jpeg")
    put(bucket, "liar.png", b"<html>not a picture</html>", content_type="image/png")
    page = alice_page
    page.goto(browser_path(bucket))

    thumb = file_row(page, "green.jpg").locator("img.thumb")
    expect(thumb).to_be_visible()
    size = thumb.evaluate(
        "(img) => img.decode().then(() => [img.naturalWidth, img.naturalHeight, img.alt])"
    )
    assert size == [72, 48, ""]
    liar = file_row(page, "liar.png")
    expect(liar.locator("img.thumb")).to_have_count(0)
    expect(liar.locator('svg use[href="#icon-file"]')).to_have_count(1)
