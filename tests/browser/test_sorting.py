"""Issue 13, "sortable columns": the listing sorts by name (natural, case-insensitive), size,
type and date on the server; the headings say which sort is on; the address keeps it through
Load more, a delete and a reload. Driven in Chromium."""

import re

import pytest
from playwright.sync_api import Page, expect

from ..conftest import put
from .test_pane import browser_path, listing

pytestmark = pytest.mark.browser


def file_names(page: Page) -> list[str]:
    return (
        listing(page)
        .locator("tbody tr.file-row .object-name")
        .evaluate_all("links => links.map(a => a.getAttribute('aria-label'))")
    )


def heading(page: Page, label: str):
    return listing(page).get_by_role("columnheader", name=label)


def test_headings_sort_the_listing_and_keep_focus(alice_page: Page, bucket):
    page = alice_page
    for name, size in [("file10.txt", 5), ("File2.txt", 300), ("README.md", 40), ("app.log", 1)]:
        put(bucket, name, b"x" * size)
    put(bucket, "docs/guide.md")
    page.goto(browser_path(bucket))
    # Natural and case-insensitive by default, folders first.
    assert file_names(page) == ["app.log", "File2.txt", "file10.txt", "README.md"]
    expect(heading(page, "Name")).to_have_attribute("aria-sort", "ascending")

    # The keyboard: Tab to the Size heading's link and press Enter: biggest first.
    page.locator("#sort-size").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"sort=size&order=desc$"))
    expect(heading(page, "Size")).to_have_attribute("aria-sort", "descending")
    expect(heading(page, "Name")).not_to_have_attribute("aria-sort", re.compile(".*"))
    assert file_names(page) == ["File2.txt", "README.md", "file10.txt", "app.log"]
    expect(page.locator("#sort-size")).to_be_focused()
    expect(listing(page).locator("tbody tr.folder-row").first).to_contain_text("docs")

    # Again: smallest first. A reload shows the same order.
    page.locator("#sort-size").click()
    expect(page).to_have_url(re.compile(r"sort=size&order=asc$"))
    assert file_names(page)[0] == "app.log"
    page.reload()
    assert file_names(page) == ["app.log", "file10.txt", "README.md", "File2.txt"]
    expect(heading(page, "Size")).to_have_attribute("aria-sort", "ascending")

    # Name, descending.
    page.locator("#sort-name").click()
    page.locator("#sort-name").click()
    expect(page).to_have_url(re.compile(r"sort=name&order=desc$"))
    assert file_names(page) == ["README.md", "file10.txt", "File2.txt", "app.log"]


def test_load_more_and_delete_keep_the_sort(alice_page: Page, bucket):
    page = alice_page
    for index in range(1, 131):
        put(bucket, f"big/f{index}.bin", b"x" * index)
    page.goto(browser_path(bucket, "big/") + "&sort=size&order=desc")
    names = file_names(page)
    assert names[:3] == ["f130.bin", "f129.bin", "f128.bin"] and len(names) == 100
    listing(page).get_by_role("link", name="Load more").click()
    expect(listing(page).locator("tbody tr.file-row")).to_have_count(130)
    assert file_names(page)[-1] == "f1.bin"
    expect(page).to_have_url(re.compile(r"sort=size&order=desc&shown=130$"))
    # Delete a row near the end: only that row goes; the order stays.
    row = listing(page).locator("tbody tr.file-row", has_text="f5.bin")
    row.get_by_role("button", name="Delete f5.bin").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Delete").click()
    expect(listing(page).locator("tbody tr.file-row")).to_have_count(129)
    assert file_names(page)[-4:] == ["f4.bin", "f3.bin", "f2.bin", "f1.bin"]
    page.reload()
    assert file_names(page)[:2] == ["f130.bin", "f129.bin"]
    assert file_names(page)[-1] == "f1.bin" and "f5.bin" not in file_names(page)


def test_a_phone_sorts_with_the_form(alice_page: Page, bucket):
    page = alice_page
    page.set_viewport_size({"width": 390, "height": 844})
    put(bucket, "old.txt")
    put(bucket, "new.txt")
    page.goto(browser_path(bucket))
    # The Date heading is hidden on a phone; the form offers its sort.
    expect(page.locator("#sort-date")).to_be_hidden()
    page.get_by_label("Sort by").select_option("date")
    expect(page).to_have_url(re.compile(r"sort=date&order=asc$"))
    assert file_names(page) == ["old.txt", "new.txt"]
    page.get_by_label("Order").select_option("desc")
    expect(page).to_have_url(re.compile(r"sort=date&order=desc$"))
    assert file_names(page) == ["new.txt", "old.txt"]
    expect(page.get_by_label("Sort by")).to_be_focused()
