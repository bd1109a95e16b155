"""A file's Details page in Chromium (issue 15): open it from the listing by mouse and by
keyboard, copy its addresses, change its content type and metadata."""

import hashlib
import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from objects.models import Object

from ..conftest import put
from .test_pane import browser_path, file_row
from .test_versions import csp_violations  # noqa: F401 (a fixture)


@pytest.mark.usefixtures("csp_violations")  # none, checked when the test ends
def test_click_a_file_to_see_its_details_and_copy_its_addresses(
    alice_page: Page, context, server, bucket
):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = alice_page
    data = b"a,b\n1,2\n"
    put(bucket, "data/2026/table.csv", data, content_type="text/csv")
    page.goto(browser_path(bucket, "data/2026/"))
    file_row(page, "table.csv").get_by_role("link", name="table.csv", exact=True).click()

    expect(page).to_have_url(re.compile(r"/details\?name=data%2F2026%2Ftable\.csv$"))
    expect(page.get_by_role("heading", name="Details of “data/2026/table.csv”")).to_be_visible()
    stored = page.get_by_test_id("stored")
    expect(stored).to_contain_text(hashlib.md5(data).hexdigest())
    expect(stored).to_contain_text("text/csv")
    expect(stored).to_contain_text("8 bytes")

    page.get_by_role("button", name="Copy URI").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == (
        f"gs://{bucket.bucket_id}/data/2026/table.csv"
    )
    page.get_by_role("button", name="Copy API URL").click()
    api_url = page.evaluate("navigator.clipboard.readText()")
    assert api_url == f"{server.url}/storage/v1/b/{bucket.bucket_id}/o/data%2F2026%2Ftable.csv"

    # The breadcrumb leads back to the folder.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="2026").click()
    expect(file_row(page, "table.csv")).to_be_visible()


def test_change_the_content_type_and_metadata_with_the_keyboard(alice_page: Page, bucket):
    page = alice_page
    put(bucket, "notes.md", b"# hi\n", content_type="text/plain")
    page.goto(browser_path(bucket))
    # Reach the file's name from the skip link, open it with Enter.
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('object-name')"):
            break
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/details\?name=notes\.md$"))

    page.get_by_label("Content type", exact=True).fill("text/markdown")
    page.get_by_label("Key 1").fill("lang")
    page.get_by_label("Value 1").fill("en")
    page.get_by_role("button", name="Add a field").click()
    # The form comes back one row longer, with what was typed.
    expect(page.get_by_label("Key 1")).to_have_value("lang")
    expect(page.get_by_label("Content type", exact=True)).to_have_value("text/markdown")
    page.get_by_label("Key 2").fill("owner")
    page.get_by_label("Value 2").fill("docs team")
    page.get_by_label("Value 2").press("Enter")  # Enter in a field submits with Save

    expect(page.get_by_text("Saved the details of “notes.md”.")).to_be_visible()
    saved = Object.objects.get(bucket=bucket, name="notes.md")
    assert saved.content_type == "text/markdown"
    assert saved.metadata == {"lang": "en", "owner": "docs team"}
    expect(page.get_by_test_id("stored")).to_contain_text("docs team")

    # A key given twice is refused in place, keeping what was typed.
    page.get_by_label("Key 3").fill("lang")
    page.get_by_label("Value 3").fill("fr")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("The key “lang” is given twice.")
    expect(page.get_by_label("Value 3")).to_have_value("fr")
    assert Object.objects.get(bucket=bucket, name="notes.md").metadata == saved.metadata


def test_the_versions_page_links_to_the_details(alice_page: Page, bucket):
    page = alice_page
    put(bucket, "a.txt")
    page.goto(reverse("object_versions", args=[bucket.bucket_id]) + "?name=a.txt")
    page.get_by_role("link", name="Details").click()
    expect(page.get_by_role("heading", name="Details of “a.txt”")).to_be_visible()


@pytest.mark.usefixtures("csp_violations")
def test_previews_show_images_text_and_tables(alice_page: Page, bucket):
    from ..test_details import PNG

    page = alice_page
    put(bucket, "dot.png", PNG, content_type="image/png")
    put(bucket, "t.csv", b"name,size\na.txt,3\n", content_type="text/csv")
    put(bucket, "x.html", b"<script>document.title='ran'</script>", content_type="text/html")
    details = reverse("object_details", args=[bucket.bucket_id])
    page.goto(f"{details}?name=dot.png")
    image = page.get_by_role("img", name="Preview of dot.png")
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('.preview-image').complete")
    assert image.evaluate("(img) => img.naturalWidth") == 1
    page.goto(f"{details}?name=t.csv")
    table = page.get_by_role("region", name="Preview of t.csv, as a table")
    expect(table.locator("tr").nth(1)).to_have_text("a.txt3")
    page.goto(f"{details}?name=x.html")
    expect(page.get_by_role("region", name="Preview of x.html")).to_have_text(
        "<script>document.title='ran'</script>"
    )
    assert page.title() != "ran"


@pytest.mark.usefixtures("csp_violations")
def test_drag_a_file_onto_a_folder_or_a_breadcrumb_to_move_it(alice_page: Page, bucket):
    page = alice_page
    put(bucket, "top/a.txt", b"alpha")
    put(bucket, "top/b.txt", b"bravo")
    put(bucket, "top/sub/x.txt", b"x")
    page.goto(browser_path(bucket, "top/"))
    folder_row = page.locator("#listing tr.folder-row").filter(has_text="sub/")
    file_row(page, "a.txt").drag_to(folder_row)
    expect(page.locator("#toast-status")).to_contain_text("Moved “a.txt” to “top/sub/a.txt”.")
    expect(file_row(page, "a.txt")).to_have_count(0)
    assert Object.objects.get(bucket=bucket, name="top/sub/a.txt").size == 5
    assert not Object.objects.filter(bucket=bucket, name="top/a.txt").exists()

    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    file_row(page, "b.txt").drag_to(crumbs.get_by_role("link", name=bucket.name))
    expect(page.locator("#toast-status")).to_contain_text("Moved “b.txt” to “b.txt”.")
    assert Object.objects.filter(bucket=bucket, name="b.txt").exists()
    # Onto a folder holding the name already: refused, nothing replaced.
    put(bucket, "top/x.txt", b"new")
    page.reload()
    file_row(page, "x.txt").drag_to(page.locator("#listing tr.folder-row").filter(has_text="sub/"))
    expect(page.locator("#toast-alerts")).to_contain_text(
        "A file named “top/sub/x.txt” already exists."
    )
    assert Object.objects.get(bucket=bucket, name="top/sub/x.txt").size == 1
    expect(file_row(page, "x.txt")).to_have_count(1)


def test_rename_from_the_details_page_asks_before_replacing(alice_page: Page, bucket):
    page = alice_page
    put(bucket, "a.txt", b"mine")
    put(bucket, "b.txt", b"theirs")
    page.goto(reverse("object_details", args=[bucket.bucket_id]) + "?name=a.txt")
    page.get_by_label("New path").fill("b.txt")
    page.get_by_label("New path").press("Enter")
    expect(page.get_by_role("alert").filter(has_text="already exists")).to_be_visible()
    assert Object.objects.get(bucket=bucket, name="b.txt").size == 6
    page.get_by_role("button", name="Replace “b.txt”").click()
    expect(page.get_by_text("Renamed “a.txt” to “b.txt”.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/details\?name=b\.txt$"))
    assert Object.objects.get(bucket=bucket, name="b.txt").size == 4


def test_download_a_folder_as_a_zip(alice_page: Page, bucket, tmp_path):
    import zipfile

    page = alice_page
    put(bucket, "docs/a.txt", b"alpha")
    put(bucket, "docs/sub/b.txt", b"bravo")
    page.goto(browser_path(bucket))
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download docs/ as a zip").click()
    download = download_info.value
    assert download.suggested_filename == "docs.zip"
    path = tmp_path / "docs.zip"
    download.save_as(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["a.txt", "sub/b.txt"]
        assert archive.read("sub/b.txt") == b"bravo"


@pytest.mark.usefixtures("csp_violations")
def test_audio_loads_and_seeks_in_the_details_page(alice_page: Page, bucket):
    from ..test_details import wav

    page = alice_page
    put(bucket, "beep.wav", wav(seconds=2), content_type="audio/wav")
    page.goto(reverse("object_details", args=[bucket.bucket_id]) + "?name=beep.wav")
    audio = page.locator("audio.preview-media")
    expect(audio).to_be_visible()
    duration = audio.evaluate(
        """(a) => new Promise((done) => a.readyState >= 1 ? done(a.duration)
            : a.addEventListener("loadedmetadata", () => done(a.duration)))"""
    )
    assert abs(duration - 2.0) < 0.05
    # Seeking asks the preview for a range of the file.
    assert (
        audio.evaluate(
            """(a) => new Promise((done) => {
            a.addEventListener("seeked", () => done(a.currentTime));
            a.currentTime = 1.5;
        })"""
        )
        == 1.5
    )
    assert audio.evaluate("(a) => a.error") is None


@pytest.mark.usefixtures("csp_violations")
def test_a_pdf_is_previewed_page_by_page_with_the_keyboard(alice_page: Page, bucket):
    from ..test_pdf_preview import BLUE, RED, pdf_bytes

    page = alice_page
    put(bucket, "docs/report.pdf", pdf_bytes(RED, BLUE), content_type="application/pdf")
    page.goto(reverse("object_details", args=[bucket.bucket_id]) + "?name=docs%2Freport.pdf")
    expect(page.get_by_test_id("pdf-page")).to_have_text("Page 1 of 2")
    image = page.get_by_role("img", name="Page 1 of report.pdf")
    loaded = """(img) => new Promise((done) => img.complete ? done(img.naturalWidth)
        : img.addEventListener("load", () => done(img.naturalWidth)))"""
    assert image.evaluate(loaded) == 1000
    # A rendered page: the middle of page 1 is red.
    middle = """(img) => { const c = document.createElement("canvas");
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext("2d"); g.drawImage(img, 0, 0);
        return Array.from(g.getImageData(c.width / 2, c.height / 2, 1, 1).data).slice(0, 3); }"""
    red, green, blue = image.evaluate(middle)
    assert red > 150 and blue < 80
    next_page = page.get_by_role("link", name="Next page")
    next_page.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("pdf-page")).to_have_text("Page 2 of 2")
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    image = page.get_by_role("img", name="Page 2 of report.pdf")
    assert image.evaluate(loaded) == 1000
    red, green, blue = image.evaluate(middle)
    assert blue > 150 and red < 80
    page.get_by_role("link", name="Previous page").click()
    expect(page.get_by_test_id("pdf-page")).to_have_text("Page 1 of 2")
