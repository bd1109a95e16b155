"""Layout, phone, keyboard and time zones of the pane (issue 13), in a real Chromium.

Phones are 390 px wide, desktops 1440 px: no page scrolls sideways on a phone and its buttons
stay in reach, the bucket sidebar becomes a menu at the top, long names stay on one line
(truncated in the middle, whole in the title and the accessible name), the listing's columns
keep their widths from folder to folder, times name their zone, and the keyboard reaches the
files through a skip link.
"""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from buckets.tokens import token_create
from objects import services

from ..conftest import put
from .conftest import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
LONG_NAME = "quarterly-report-" + "x" * 270 + "-final-v2.csv"


def browser_path(bucket, prefix: str = "") -> str:
    url = reverse("object_browser", args=[bucket.bucket_id])
    return f"{url}?prefix={prefix}" if prefix else url


def pane_pages(bucket) -> dict[str, str]:
    """Every page of the pane, with something on it."""
    return {
        "bucket list": reverse("bucket_list"),
        "browser": browser_path(bucket),
        "folder": browser_path(bucket, "docs/"),
        "deleted": reverse("deleted_list", args=[bucket.bucket_id]),
        "versions": reverse("object_versions", args=[bucket.bucket_id]) + "?name=notes.txt",
        "settings": reverse("bucket_settings", args=[bucket.bucket_id]),
        "tokens": reverse("token_list"),
    }


def fill(bucket, alice) -> None:
    put(bucket, "notes.txt", b"first")
    put(bucket, "notes.txt", b"second")
    put(bucket, LONG_NAME, b"long")
    put(bucket, "docs/readme.md", b"# docs")
    put(bucket, "docs/" + LONG_NAME, b"long")
    put(bucket, "gone.txt", b"bye")
    services.object_delete(bucket=bucket, name="gone.txt")
    token_create(owner=alice, name="deploy script with a rather long name", bucket=bucket)
    token_create(owner=alice, name="ci", read_only=True)


@pytest.fixture
def phone(browser, server, alice):
    context = browser.new_context(base_url=server.url, viewport=PHONE)
    sign_in(context, server, alice)
    page = context.new_page()
    yield page
    context.close()


def test_no_page_scrolls_sideways_on_a_phone_and_buttons_stay_in_reach(phone: Page, bucket, alice):
    fill(bucket, alice)
    page = phone
    for label, path in pane_pages(bucket).items():
        page.goto(path)
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"
        )
        assert widths[0] <= widths[1] and widths[2] <= widths[1], (label, widths)
        # Every visible button and link lies within the viewport's width.
        outside = page.evaluate(
            """() => [...document.querySelectorAll('main button, main a.button, main .icon-button')]
                .filter((el) => el.offsetParent !== null)
                .map((el) => [el.textContent.trim() || el.getAttribute('aria-label'),
                              el.getBoundingClientRect()])
                .filter(([, r]) => r.left < 0 || r.right > window.innerWidth + 0.5)
                .map(([name, r]) => `${name}: ${r.left}-${r.right}`)"""
        )
        assert outside == [], (label, outside)

    page.goto(reverse("token_list"))
    for name in ("ci", "deploy script with a rather long name"):
        revoke = page.get_by_role("button", name=f"Revoke {name}")
        revoke.scroll_into_view_if_needed()
        box = revoke.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box


def test_the_bucket_switcher_replaces_the_sidebar_on_a_phone(phone: Page, bucket, alice):
    put(bucket, "a.txt", b"a")
    from buckets.services import bucket_create

    other = bucket_create(owner=alice, name="other things")
    page = phone
    page.goto(browser_path(bucket))
    expect(page.get_by_role("navigation", name="Buckets")).to_be_hidden()
    top = page.locator("#listing").bounding_box()["y"]
    assert top < 420, top  # the toolbar above the listing wraps on a phone, the sidebar is gone
    heading = page.get_by_role("heading", name="photos", level=1).bounding_box()["y"]
    assert heading < 200, heading
    switcher = page.get_by_role("navigation", name="Switch bucket")
    expect(switcher).to_contain_text("photos")
    switcher.locator("summary").click()
    switcher.get_by_role("link", name="other things").click()
    expect(page).to_have_url(re.compile(re.escape(browser_path(other)) + "$"))
    expect(page.get_by_role("heading", name="other things", level=1)).to_be_visible()


def test_a_long_name_stays_on_one_line_whole_in_title_and_accessible_name(alice_page: Page, bucket):
    put(bucket, LONG_NAME, b"long")
    put(bucket, "short.txt", b"s")
    page = alice_page
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        page.goto(browser_path(bucket))
        name = page.locator("#listing .object-name").filter(has_text="final-v2.csv")
        expect(name).to_have_attribute("title", LONG_NAME)
        expect(page.get_by_role("link", name=LONG_NAME, exact=True)).to_have_count(1)
        short = page.locator("#listing .object-name").filter(has_text="short.txt")
        # One line: as tall as a short name's row, and the end of the name shows.
        assert name.bounding_box()["height"] <= short.bounding_box()["height"] + 1
        tail = name.locator(".name-tail")
        expect(tail).to_have_text(LONG_NAME[-12:])
        tail_box = tail.bounding_box()
        cell = name.locator("xpath=ancestor::td[1]").bounding_box()
        assert tail_box["x"] + tail_box["width"] <= cell["x"] + cell["width"] + 1
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_column_widths_are_the_same_in_two_folders(alice_page: Page, bucket):
    put(bucket, "a/x.txt", b"x")
    put(bucket, "b/" + LONG_NAME, b"long")
    put(
        bucket, "b/" + "y" * 60 + ".bin", b"y", content_type="application/vnd.some-rather-long-type"
    )
    page = alice_page
    page.set_viewport_size(DESKTOP)
    boxes = []
    for prefix in ("a/", "b/"):
        page.goto(browser_path(bucket, prefix))
        header = page.get_by_role("columnheader", name="Last modified")
        boxes.append(header.bounding_box())
        # "Last modified" never wraps: the header is one line.
        assert header.evaluate("(el) => el.getClientRects().length") == 1
        time = page.locator("#listing tr.file-row time").first
        line = time.evaluate("(el) => parseFloat(getComputedStyle(el).lineHeight)")
        assert time.bounding_box()["height"] <= line + 1
    assert boxes[0]["x"] == pytest.approx(boxes[1]["x"], abs=0.5), boxes
    assert boxes[0]["width"] == pytest.approx(boxes[1]["width"], abs=0.5), boxes


def test_times_are_local_with_the_zone_named(browser, server, alice, bucket):
    put(bucket, "a.txt", b"a")
    context = browser.new_context(
        base_url=server.url, timezone_id="America/New_York", locale="en-US"
    )
    sign_in(context, server, alice)
    page = context.new_page()
    try:
        page.goto(browser_path(bucket))
        time = page.locator("#listing time").first
        expect(time).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d E[SD]T$"))
        expect(time).to_have_attribute("title", re.compile(r" UTC$"))
    finally:
        context.close()


def test_without_javascript_times_say_utc(alice_client, bucket):
    put(bucket, "a.txt", b"a")
    html = alice_client.get(browser_path(bucket)).content.decode()
    assert re.search(r'<time datetime="[^"]+\+00:00">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>', html)


def test_the_bucket_list_shows_each_buckets_count_and_size(alice_page: Page, bucket, alice):
    from buckets.services import bucket_create

    put(bucket, "a.txt", b"12345")
    put(bucket, "b/c.txt", b"123")
    bucket_create(owner=alice, name="empty one")
    page = alice_page
    page.goto(reverse("bucket_list"))
    cards = page.locator(".bucket-cards .bucket-card")
    expect(cards.filter(has_text="photos").get_by_test_id("bucket-usage")).to_have_text(
        "2 files · 8\xa0bytes"
    )
    expect(cards.filter(has_text="empty one").get_by_test_id("bucket-usage")).to_have_text(
        "0 files · 0\xa0bytes"
    )


def test_keyboard_reaches_the_first_file_and_load_more_in_a_few_tabs(
    alice_page: Page, bucket, settings
):
    settings.OBJSTORE_PAGE_SIZE = 30
    for index in range(40):
        put(bucket, f"file-{index:03}.txt", b"x")
    page = alice_page
    page.goto(browser_path(bucket))
    page.keyboard.press("Tab")
    focused = page.evaluate_handle("document.activeElement")
    assert focused.evaluate("(el) => el.textContent.trim()") == "Skip to files"
    page.keyboard.press("Enter")
    for _ in range(3):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('object-name')"):
            break
    assert page.evaluate("document.activeElement.textContent.trim()") == "file-000.txt"
    # The name is a link to the file's versions page.
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/versions/?\?name=file-000\.txt$"))

    page.goto(browser_path(bucket))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert (
        page.evaluate("document.activeElement.textContent.trim()") == "Skip to the end of the list"
    )
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "load-more"
    page.keyboard.press("Enter")
    expect(page.locator("#listing tr.file-row")).to_have_count(40)
    # The last page is in: the link to Load more goes with it.
    expect(page.get_by_role("link", name="Skip to the end of the list")).to_have_count(0)


def test_the_bucket_list_counts_with_one_query_for_all_buckets(alice_client, alice, bucket):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from buckets.services import bucket_create

    put(bucket, "a.txt", b"a")
    with CaptureQueriesContext(connection) as one:
        assert alice_client.get(reverse("bucket_list")).status_code == 200
    for index in range(3):
        put(bucket_create(owner=alice, name=f"more {index}"), "b.txt", b"b")
    with CaptureQueriesContext(connection) as four:
        assert alice_client.get(reverse("bucket_list")).status_code == 200
    assert len(four) == len(one)
