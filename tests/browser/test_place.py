"""Issue 13, "you never lose your place": deletes that remove only their row, focus that stays
where the user is, toasts in the viewport, busy states, a listing whose address keeps its rows,
sign-in that leads back, and the pane's own dialogs. Driven in Chromium."""

import re
from urllib.parse import quote

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import Page, expect

from objects.models import Object

from ..conftest import PASSWORD, put
from .test_pane import browser_path, file_row, folder_link, listing

pytestmark = pytest.mark.browser

ROWS = "tbody tr.file-row, tbody tr.folder-row"


def focused_row_text(page: Page) -> str:
    return page.evaluate(
        "() => { const row = document.activeElement.closest('tr');"
        " return row ? row.querySelector('.object-name, .folder-link').textContent.trim() : ''; }"
    )


def in_viewport(page: Page, selector: str) -> bool:
    return page.evaluate(
        """(selector) => { const box = document.querySelector(selector).getBoundingClientRect();
        return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight; }""",
        selector,
    )


@pytest.fixture
def big_folder(bucket):
    for index in range(1, 251):
        put(bucket, f"big/f{index:03}.txt", b"x")
    return bucket


def test_delete_after_two_load_more_keeps_the_rows_the_scroll_and_the_focus(
    alice_page: Page, big_folder
):
    page = alice_page
    page.goto(browser_path(big_folder, "big/"))
    rows = listing(page).locator(ROWS)
    count = page.locator("#listing-count")
    expect(count).to_have_text("100 of 250")
    more = listing(page).get_by_role("link", name="Load more")

    more.click()
    expect(rows).to_have_count(200)
    expect(count).to_have_text("200 of 250")
    # Focus is on the first new row, and the address keeps the rows shown.
    assert focused_row_text(page) == "f101.txt"
    expect(page).to_have_url(re.compile(r"shown=200$"))
    more.click()
    expect(rows).to_have_count(250)
    assert focused_row_text(page) == "f201.txt"

    file_row(page, "f240.txt").scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    assert before > 3000
    file_row(page, "f240.txt").get_by_role("button", name="Delete f240.txt").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Delete “big/f240.txt”?")
    dialog.get_by_role("button", name="Delete", exact=True).click()

    expect(file_row(page, "f240.txt")).to_have_count(0)
    expect(rows).to_have_count(249)  # the others stay: no listing rebuilt at 100 rows
    expect(count).to_have_text("249 of 249")
    assert abs(page.evaluate("window.scrollY") - before) < 40
    expect(page.locator("#toast-status")).to_contain_text("Deleted “big/f240.txt”.")
    assert in_viewport(page, "#toast-status .toast")
    page.wait_for_function("document.activeElement.closest('tr') !== null")
    assert focused_row_text(page) == "f241.txt"
    assert not Object.objects.filter(name="big/f240.txt").exists()

    # The Undo in the toast brings the file back, in its place.
    page.locator("#toast-status").get_by_role("button", name="Undo").click()
    expect(file_row(page, "f240.txt")).to_be_visible()
    expect(page.locator("#toast-status")).to_contain_text("Restored “big/f240.txt”.")
    assert Object.objects.filter(name="big/f240.txt").exists()


def test_a_reload_after_load_more_shows_the_same_rows(alice_page: Page, big_folder):
    page = alice_page
    page.goto(browser_path(big_folder, "big/"))
    listing(page).get_by_role("link", name="Load more").click()
    expect(listing(page).locator(ROWS)).to_have_count(200)
    page.reload()
    expect(listing(page).locator(ROWS)).to_have_count(200)
    expect(page.locator("#listing-count")).to_have_text("200 of 250")
    # A shared link shows the same.
    page.goto(page.url)
    expect(listing(page).locator(ROWS)).to_have_count(200)


def test_slow_requests_show_they_are_busy_and_double_clicks_are_harmless(alice_page: Page, bucket):
    for name in ["a.txt", "b.txt", "c.txt"]:
        put(bucket, name)
    page = alice_page
    page.goto(browser_path(bucket))
    held = []
    page.route(re.compile(r"/objects/delete$"), lambda route: held.append(route))

    row = file_row(page, "b.txt")
    button = row.get_by_role("button", name="Delete b.txt")
    button.dblclick()
    page.wait_for_function("document.querySelector('tr[aria-busy=true]') !== null")
    # While the answer is held back (a slow server), the row says it is busy and its button
    # is disabled, so the second click did nothing.
    expect(row).to_have_attribute("aria-busy", "true")
    expect(button).to_be_disabled()
    assert len(held) == 1
    held.pop().continue_()

    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    confirm = dialog.get_by_role("button", name="Delete", exact=True)
    confirm.dblclick()
    page.wait_for_function("document.querySelector('#confirm-dialog button[disabled]') !== null")
    expect(confirm).to_be_disabled()
    assert len(held) == 1
    held.pop().continue_()

    expect(file_row(page, "b.txt")).to_have_count(0)
    expect(page.locator("#toast-status")).to_contain_text("Deleted “b.txt”.")
    expect(page.locator("#toast-alerts .toast")).to_have_count(0)  # no "no longer exists"
    assert sorted(Object.objects.values_list("name", flat=True)) == ["a.txt", "c.txt"]


def test_load_more_is_busy_while_it_loads(alice_page: Page, big_folder):
    page = alice_page
    page.goto(browser_path(big_folder, "big/"))
    held = []
    page.route(re.compile(r"page_token="), lambda route: held.append(route))
    more = listing(page).get_by_role("link", name="Load more")
    more.click()
    expect(more).to_have_attribute("aria-busy", "true")
    expect(more).to_have_attribute("disabled", "")
    held.pop().continue_()
    expect(listing(page).locator(ROWS)).to_have_count(200)


@pytest.mark.parametrize("action", ["delete", "load more"])
def test_after_the_session_ends_htmx_leads_to_sign_in_and_back(
    alice_page: Page, big_folder, action
):
    page = alice_page
    folder = browser_path(big_folder, "big/")
    page.goto(folder)
    expect(page.locator("#listing-count")).to_have_text("100 of 250")
    Session.objects.all().delete()  # signed out elsewhere, or expired

    if action == "delete":
        file_row(page, "f001.txt").get_by_role("button", name="Delete f001.txt").click()
    else:
        listing(page).get_by_role("link", name="Load more").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    assert page.url.endswith("next=" + quote(folder, safe=""))
    expect(page.locator("#listing")).to_have_count(0)

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(folder) + "$"))
    expect(file_row(page, "f001.txt")).to_be_visible()
    assert Object.objects.filter(name="big/f001.txt").exists()


def test_the_folder_delete_dialog_counts_what_goes_and_keeps_focus(alice_page: Page, bucket):
    for name in ["docs/a.txt", "docs/b/c.txt", "docs/b/d.txt", "keep.txt"]:
        put(bucket, name)
    page = alice_page
    page.goto(browser_path(bucket))
    trigger = listing(page).get_by_role("button", name="Delete docs/")
    trigger.click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("This deletes 3 objects under it.")
    expect(dialog).to_contain_text("Deleted files can be restored for 7 days.")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    for _ in range(4):
        page.keyboard.press("Tab")
        assert page.evaluate(
            "document.getElementById('confirm-dialog').contains(document.activeElement)"
        )
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(trigger).to_be_focused()
    assert Object.objects.count() == 4


def test_the_create_folder_dialog_keeps_its_input_and_shows_errors_in_place(
    alice_page: Page, bucket
):
    put(bucket, "photos/cat.png")
    page = alice_page
    page.goto(browser_path(bucket))
    dialog = page.locator("#new-folder")
    opener = page.get_by_role("button", name="Create folder")
    opener.click()
    field = page.get_by_label("Folder name")
    expect(field).to_be_focused()

    field.fill("..")
    dialog.get_by_role("button", name="Create").click()
    error = dialog.locator("#folder-error")
    expect(error).to_contain_text("cannot be named “.” or “..”")
    expect(dialog).to_be_visible()
    field = page.get_by_label("Folder name")
    expect(field).to_have_value("..")
    expect(field).to_be_focused()
    expect(field).to_have_attribute("aria-invalid", "true")
    for _ in range(5):  # Tab stays in the dialog
        page.keyboard.press("Tab")
        assert page.evaluate(
            "document.getElementById('new-folder').contains(document.activeElement)"
        )

    field.fill("photos")
    dialog.get_by_role("button", name="Create").click()
    expect(error).to_have_text("A folder named “photos” already exists here.")
    expect(page.locator("#toast-status")).not_to_contain_text("Created")

    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    opener.click()
    expect(dialog.locator("#folder-error")).to_be_hidden()  # the old error is gone
    expect(page.get_by_label("Folder name")).to_have_value("")

    page.get_by_label("Folder name").fill("reports")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    expect(folder_link(page, "reports/")).to_be_visible()
    expect(page.locator("#toast-status")).to_contain_text("Created folder “reports/”.")
    assert sorted(Object.objects.values_list("name", flat=True)) == ["photos/cat.png", "reports/"]
