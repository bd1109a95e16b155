"""Select many in Chromium (issue 15): tick rows, then delete (with Undo), move or download
them; select every row shown, then everything in the folder; the keyboard all the way."""

import zipfile

import pytest
from playwright.sync_api import Page, expect

from ..conftest import put
from .test_pane import browser_path, file_row, listing, names
from .test_versions import csp_violations  # noqa: F401 (a fixture)


def tick(page: Page, basename: str, **options) -> None:
    file_row(page, basename).get_by_role("checkbox").click(**options)


@pytest.mark.usefixtures("csp_violations")
def test_tick_files_delete_them_and_undo(alice_page: Page, bucket):
    page = alice_page
    for name in ("a.txt", "b.txt", "c.txt", "keep/d.txt"):
        put(bucket, name, name.encode())
    page.goto(browser_path(bucket))
    bar = page.get_by_role("form", name="Selected files and folders")
    delete = bar.get_by_role("button", name="Delete")
    expect(delete).to_be_disabled()  # nothing selected yet

    tick(page, "a.txt")
    tick(page, "c.txt")
    expect(bar.get_by_role("status")).to_have_text("2 selected")
    delete.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete 2 files?")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator("#toast-status")).to_contain_text("Deleted 2 files.")
    expect(file_row(page, "a.txt")).to_have_count(0)
    expect(file_row(page, "b.txt")).to_be_visible()
    assert names(bucket) == ["b.txt", "keep/d.txt"]
    expect(page.locator("#bulk-status")).to_be_empty()  # the new listing starts unticked

    page.locator("#toast-status").get_by_role("button", name="Undo").click()
    expect(file_row(page, "a.txt")).to_be_visible()
    assert names(bucket) == ["a.txt", "b.txt", "c.txt", "keep/d.txt"]


def test_shift_click_selects_a_range_and_move_asks_where(alice_page: Page, bucket):
    page = alice_page
    for name in ("1.txt", "2.txt", "3.txt", "4.txt", "archive/old.txt"):
        put(bucket, name, name.encode())
    page.goto(browser_path(bucket))
    tick(page, "1.txt")
    tick(page, "3.txt", modifiers=["Shift"])
    bar = page.get_by_role("form", name="Selected files and folders")
    expect(bar.get_by_role("status")).to_have_text("3 selected")
    bar.get_by_role("button", name="Move…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Move 3 files")
    destination = dialog.get_by_label("To the folder")
    expect(destination).to_be_focused()
    destination.fill("archive/")
    destination.press("Enter")
    expect(page.locator("#toast-status")).to_contain_text("Moved 3 files to “archive/”.")
    assert names(bucket) == [
        "4.txt",
        "archive/1.txt",
        "archive/2.txt",
        "archive/3.txt",
        "archive/old.txt",
    ]
    # A folder in the selection moves with its files.
    listing(page).get_by_role("checkbox", name="Select folder archive/").check()
    file_row(page, "4.txt").get_by_role("checkbox").check()
    bar.get_by_role("button", name="Move…").click()
    dialog.get_by_label("To the folder").fill("kept/")
    dialog.get_by_role("button", name="Move").click()
    expect(page.locator("#toast-status")).to_contain_text("Moved 1 file and 1 folder to “kept/”.")
    assert names(bucket) == [
        "kept/4.txt",
        "kept/archive/1.txt",
        "kept/archive/2.txt",
        "kept/archive/3.txt",
        "kept/archive/old.txt",
    ]


def test_select_all_then_everything_in_the_folder_and_download_it(
    alice_page: Page, bucket, settings, tmp_path
):
    settings.OBJSTORE_PAGE_SIZE = 3
    page = alice_page
    for number in range(5):
        put(bucket, f"logs/{number}.log", f"line {number}".encode())
    page.goto(browser_path(bucket, "logs/"))
    page.get_by_role("checkbox", name="Select all shown").check()
    bar = page.get_by_role("form", name="Selected files and folders")
    expect(bar.get_by_role("status")).to_have_text("3 selected")
    everything = bar.get_by_role("button", name="Select all 5 in this folder")
    everything.click()
    expect(bar.get_by_role("status")).to_have_text("All 5 in this folder are selected")
    expect(bar.get_by_role("button", name="Move…")).to_be_disabled()  # that is the folder's move
    with page.expect_download() as download_info:
        bar.get_by_role("button", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == "logs.zip"
    download.save_as(tmp_path / "logs.zip")
    with zipfile.ZipFile(tmp_path / "logs.zip") as archive:
        assert archive.namelist() == [f"{n}.log" for n in range(5)]
        assert archive.read("4.log") == b"line 4"
    # Unticking one row makes the selection the ticked rows again.
    tick(page, "0.log")
    expect(bar.get_by_role("status")).to_have_text("2 selected")


def test_the_keyboard_ticks_rows_and_reaches_the_bar(alice_page: Page, bucket):
    page = alice_page
    put(bucket, "only.txt", b"1")
    page.goto(browser_path(bucket))
    box = file_row(page, "only.txt").get_by_role("checkbox", name="Select only.txt")
    box.focus()
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    bar = page.get_by_role("form", name="Selected files and folders")
    expect(bar.get_by_role("status")).to_have_text("1 selected")
    download = bar.get_by_role("button", name="Download")
    download.focus()
    page.keyboard.press("Tab")
    expect(bar.get_by_role("button", name="Move…")).to_be_focused()
    page.keyboard.press("Tab")
    expect(bar.get_by_role("button", name="Delete")).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()  # Enter never deletes
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert names(bucket) == ["only.txt"]
