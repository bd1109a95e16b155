"""Find in Chromium (issue 15): search a bucket from its Find tab with the keyboard, by part of
a name and by glob, page through the results, and open a result's folder and its details."""

import pytest
from playwright.sync_api import Page, expect

from objects import services

from ..conftest import put
from .test_pane import browser_path, listing
from .test_versions import csp_violations  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("csp_violations")
def test_find_by_name_and_by_glob_then_open_the_folder(alice_page: Page, bucket):
    services.objects_bulk_create(
        bucket=bucket, items=((f"logs/2026/day-{i:03}.log", b"l") for i in range(60))
    )
    put(bucket, "Photos/Summer/Beach.JPG", b"jpeg")
    put(bucket, "photos/winter/beach-hut.png", b"png")
    put(bucket, "notes.txt", b"n")
    page = alice_page
    page.goto(browser_path(bucket))
    page.get_by_role("navigation", name="Bucket sections").get_by_role("link", name="Find").click()

    search = page.get_by_role("searchbox", name="Name")
    expect(search).to_be_focused()
    page.keyboard.type("BEACH")
    page.keyboard.press("Enter")
    results = page.locator("#find-results tbody tr")
    expect(results).to_have_count(2)
    expect(results.nth(0)).to_contain_text("Beach.JPG")
    expect(results.nth(0)).to_contain_text("Photos/Summer/")
    expect(results.nth(1)).to_contain_text("beach-hut.png")

    # The same search as a glob is case-sensitive and matches whole paths.
    page.get_by_label("How to match").select_option("glob")
    search.fill("**/beach*")
    search.press("Enter")
    expect(results).to_have_count(1)
    expect(results.nth(0)).to_contain_text("beach-hut.png")

    # Many results come 50 at a time.
    page.get_by_label("How to match").select_option("contains")
    search.fill(".log")
    search.press("Enter")
    expect(results).to_have_count(50)
    page.get_by_role("link", name="Next 50 results").click()
    expect(results).to_have_count(10)
    expect(results.nth(9)).to_contain_text("day-059.log")

    # A result's folder opens in the listing; its name opens its details.
    results.nth(0).get_by_role("link", name="logs/2026/").click()
    expect(listing(page)).to_contain_text("day-000.log")
    page.go_back()
    results.nth(9).get_by_role("link", name="day-059.log").click()
    expect(page.get_by_role("main")).to_contain_text("logs/2026/day-059.log")


def test_a_bad_glob_says_why(alice_page: Page, bucket):
    page = alice_page
    put(bucket, "a.txt")
    page.goto(f"/buckets/{bucket.bucket_id}/find")
    page.get_by_label("How to match").select_option("glob")
    page.get_by_role("searchbox", name="Name").fill("photos/[jpg")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("alert")).to_contain_text("unclosed '['")
    expect(page.get_by_role("searchbox", name="Name")).to_have_value("photos/[jpg")
