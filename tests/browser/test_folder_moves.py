"""Moving and renaming folders in Chromium (issue 15): drag a folder onto another, rename one
from its row with the keyboard, follow a big move's progress, stop, resume and undo it."""

import pytest
from playwright.sync_api import Page, expect

from objects import folder_moves

from ..conftest import put
from .test_pane import browser_path, listing, names
from .test_versions import csp_violations  # noqa: F401 (a fixture)


def folder_row(page: Page, label: str):
    return listing(page).locator("tr.folder-row").filter(has_text=label)


@pytest.mark.usefixtures("csp_violations")
def test_drag_a_folder_onto_a_folder_or_a_breadcrumb(alice_page: Page, bucket):
    page = alice_page
    put(bucket, "top/inner/a.txt", b"alpha")
    put(bucket, "top/inner/deep/b.txt", b"bravo")
    put(bucket, "top/target/keep.txt", b"k")
    page.goto(browser_path(bucket, "top/"))
    folder_row(page, "inner/").drag_to(folder_row(page, "target/"))
    expect(page.locator("#toast-status")).to_contain_text(
        "Moved “top/inner/” to “top/target/inner/”: 2 objects."
    )
    expect(folder_row(page, "inner/")).to_have_count(0)
    assert names(bucket) == [
        "top/target/inner/a.txt",
        "top/target/inner/deep/b.txt",
        "top/target/keep.txt",
    ]
    # A folder dropped on the bucket's breadcrumb goes to the top.
    folder_row(page, "target/").drag_to(
        page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=bucket.name)
    )
    expect(page.locator("#toast-status")).to_contain_text("Moved “top/target/” to “target/”")
    assert names(bucket)[0] == "target/inner/a.txt"


@pytest.mark.usefixtures("csp_violations")
def test_rename_a_big_folder_watch_it_move_then_undo(alice_page: Page, bucket, monkeypatch):
    monkeypatch.setattr(folder_moves, "BATCH", 2)
    page = alice_page
    for number in range(7):
        put(bucket, f"logs/{number}.log", b"x")
    page.goto(browser_path(bucket))
    rename = folder_row(page, "logs/").get_by_role("link", name="Rename or move logs/")
    rename.focus()
    page.keyboard.press("Enter")
    path = page.get_by_label("New path")
    expect(path).to_be_focused()
    expect(path).to_have_value("logs/")
    path.fill("archive/logs-2026/")
    path.press("Enter")
    # The move goes on, a batch at a time, until it is done.
    expect(page.get_by_test_id("move-state")).to_have_text("Done: 7 moved.")
    expect(page.get_by_role("progressbar", name="Objects handled")).to_have_attribute("value", "7")
    assert names(bucket) == [f"archive/logs-2026/{n}.log" for n in range(7)]

    page.get_by_role("button", name="Undo: move 7 back").click()
    expect(
        page.get_by_role("heading", name="Moving back “archive/logs-2026/” to “logs/”")
    ).to_be_visible()
    expect(page.get_by_test_id("move-state")).to_have_text("Done: 7 moved.")
    assert names(bucket) == [f"logs/{n}.log" for n in range(7)]


@pytest.mark.usefixtures("csp_violations")
def test_a_stopped_move_is_shown_in_the_listing_and_resumes(alice_page: Page, bucket, monkeypatch):
    monkeypatch.setattr(folder_moves, "BATCH", 2)
    for number in range(5):
        put(bucket, f"big/{number}.bin", b"y")
    move = folder_moves.folder_move_step(
        folder_moves.folder_move_start(bucket=bucket, source="big/", destination="huge/")
    )
    folder_moves.folder_move_stop(move)  # as if its tab had been closed and Stop pressed
    page = alice_page
    page.goto(browser_path(bucket))
    notice = page.get_by_role("region", name="Folder moves not finished")
    expect(notice).to_contain_text("Stopped halfway: “big/” to “huge/”, 2 of 5 moved.")
    notice.get_by_role("link", name="Resume or undo it").click()
    expect(page.get_by_test_id("move-state")).to_contain_text("Stopped after 2 of 5")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("move-state")).to_have_text("Done: 5 moved.")
    assert names(bucket) == [f"huge/{n}.bin" for n in range(5)]
    page.get_by_role("link", name="Open “huge/”").click()
    expect(page.get_by_role("region", name="Folder moves not finished")).to_have_count(0)
