"""Versions, deleted files, undo and the Settings tab's protection and lifecycle sections,
driven in a real Chromium: what the page shows, the bytes a download delivers, and what the
service layer has stored."""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from buckets.models import Bucket
from buckets.services import bucket_update_settings
from objects import services
from objects.models import ObjectVersion

from ..conftest import put
from .test_pane import browser_path, file_row, folder_link, names, stored_bytes
from .test_place import in_viewport

pytestmark = pytest.mark.browser

DAY = 24 * 3600


@pytest.fixture
def csp_violations(alice_page: Page) -> list[str]:
    """Content-Security-Policy violations the page reports; each test expects none."""
    found: list[str] = []
    alice_page.on(
        "console",
        lambda message: (
            found.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield found
    assert found == []


def confirm_in_page(page: Page, seen: list[str]) -> None:
    """Answer the page's own confirmation dialog (no native confirm() any more): note what it
    asks, then press its destructive button."""
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    seen.append(f"{dialog.locator('h2').inner_text()} {dialog.locator('p').inner_text()}")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()


# ---- undo after a trashcan delete -----------------------------------------------------------


def test_undo_a_file_delete(alice_page: Page, bucket, csp_violations):
    put(bucket, "docs/report.csv", b"id,total\n1,42\n")
    put(bucket, "docs/keep.txt", b"keep")
    page = alice_page
    page.goto(browser_path(bucket, "docs/"))
    dialogs: list[str] = []

    page.get_by_role("button", name="Delete report.csv", exact=True).click()
    confirm_in_page(page, dialogs)
    expect(file_row(page, "report.csv")).to_have_count(0)
    status = page.locator("#toast-status")
    expect(status).to_contain_text("Deleted “docs/report.csv”.")
    assert dialogs == ["Delete “docs/report.csv”? Deleted files can be restored for 7 days."]

    status.get_by_role("button", name="Undo").click()
    expect(status).to_contain_text("Restored “docs/report.csv”.")
    expect(file_row(page, "report.csv")).to_be_visible()
    expect(status.get_by_role("button", name="Undo")).to_have_count(0)
    assert stored_bytes(bucket, "docs/report.csv") == b"id,total\n1,42\n"
    assert not ObjectVersion.objects.filter(bucket=bucket).exists()


def test_undo_a_folder_delete(alice_page: Page, bucket, csp_violations):
    tree = {"photos/2024/a.jpg": b"a", "photos/2024/b/c.jpg": b"c", "photos/2024-old/z.jpg": b"z"}
    for name, data in tree.items():
        put(bucket, name, data)
    page = alice_page
    page.goto(browser_path(bucket, "photos/"))
    dialogs: list[str] = []

    page.get_by_role("button", name="Delete 2024/", exact=True).click()
    confirm_in_page(page, dialogs)
    expect(folder_link(page, "2024/")).to_have_count(0)
    status = page.locator("#toast-status")
    expect(status).to_contain_text("Deleted folder “photos/2024/” and 2 objects.")
    assert names(bucket) == ["photos/2024-old/z.jpg"]

    status.get_by_role("button", name="Undo").click()
    expect(status).to_contain_text("Restored 2 objects in “photos/2024/”.")
    expect(folder_link(page, "2024/")).to_be_visible()
    assert names(bucket) == sorted(tree)
    assert stored_bytes(bucket, "photos/2024/b/c.jpg") == b"c"


def test_without_soft_delete_a_delete_is_final_and_offers_no_undo(
    alice_page: Page, bucket, csp_violations
):
    bucket_update_settings(bucket=bucket, soft_delete_seconds=0)
    put(bucket, "a.txt", b"a")
    page = alice_page
    page.goto(browser_path(bucket))
    dialogs: list[str] = []
    page.get_by_role("button", name="Delete a.txt", exact=True).click()
    confirm_in_page(page, dialogs)
    status = page.locator("#toast-status")
    expect(status).to_contain_text("Deleted “a.txt”.")
    expect(status.get_by_role("button", name="Undo")).to_have_count(0)
    assert dialogs == ["Delete “a.txt”? This cannot be undone."]
    assert services.object_versions(bucket=bucket, name="a.txt") == []


# ---- the Deleted files view -----------------------------------------------------------------


def test_restore_from_the_deleted_files_view(alice_page: Page, bucket, csp_violations):
    for name in ["docs/a.txt", "docs/b.txt", "docs/sub/c.txt"]:
        put(bucket, name, name.encode())
        services.object_delete(bucket=bucket, name=name)
    put(bucket, "docs/live.txt", b"live")
    page = alice_page
    page.goto(browser_path(bucket, "docs/"))
    page.get_by_role("link", name="Deleted files").click()
    expect(page).to_have_url(re.compile(r"/deleted\?prefix=docs%2F$"))
    expect(page.get_by_role("heading", name="Deleted files in “docs/”")).to_be_visible()

    panel = page.locator("#deleted")
    rows = panel.locator("tr.file-row")
    expect(rows.locator(".object-name")).to_have_text(["a.txt", "b.txt"])
    hard = ObjectVersion.objects.get(name="docs/a.txt").hard_delete_time
    expect(rows.first).to_contain_text(f"{hard:%Y-%m-%d %H:%M}")

    panel.get_by_role("button", name="Restore a.txt", exact=True).click()
    expect(page.locator("#toast-status")).to_contain_text("Restored “docs/a.txt”.")
    expect(rows.locator(".object-name")).to_have_text(["b.txt"])
    assert stored_bytes(bucket, "docs/a.txt") == b"docs/a.txt"

    # Delete forever asks first, then the bytes are gone.
    dialogs: list[str] = []
    panel.get_by_role("button", name="Delete b.txt forever").click()
    confirm_in_page(page, dialogs)
    expect(rows).to_have_count(0)
    assert len(dialogs) == 1 and re.fullmatch(
        r"Delete generation \d+ of “docs/b\.txt” forever\? "
        r"Its bytes are gone for good\. This cannot be undone\.",
        dialogs[0],
    )
    assert services.object_versions(bucket=bucket, name="docs/b.txt") == []

    # What is left sits in a subfolder: "Restore all in this folder" brings it back too.
    expect(panel.get_by_role("link", name="sub/")).to_be_visible()
    panel.get_by_role("button", name="Restore all in this folder").click()
    expect(page.locator("#toast-status")).to_contain_text("Restored 1 file in “docs/”.")
    expect(panel.get_by_text("No deleted files in this folder.")).to_be_visible()
    assert names(bucket) == ["docs/a.txt", "docs/live.txt", "docs/sub/c.txt"]

    page.get_by_role("link", name="Back to the files").click()
    expect(file_row(page, "a.txt")).to_be_visible()
    expect(folder_link(page, "sub/")).to_be_visible()


# ---- the Versions view ----------------------------------------------------------------------


def test_download_and_restore_an_old_version(alice_page: Page, bucket, tmp_path, csp_violations):
    bucket_update_settings(bucket=bucket, versioning=True)
    bucket.refresh_from_db()
    old_bytes = bytes(range(256)) * 2
    first = put(bucket, "data/table.bin", old_bytes)
    second = put(bucket, "data/table.bin", b"the newer bytes")
    page = alice_page
    page.goto(browser_path(bucket, "data/"))
    page.get_by_role("link", name="Versions of table.bin").click()
    expect(page.get_by_role("heading", name="Versions of “data/table.bin”")).to_be_visible()

    panel = page.locator("#versions")
    rows = panel.locator("tr.version-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Live")
    expect(rows.nth(1)).to_contain_text("Old version")

    with page.expect_download() as info:
        panel.get_by_role("link", name=f"Download generation {first.generation}").click()
    assert info.value.suggested_filename == "table.bin"
    assert Path(info.value.path()).read_bytes() == old_bytes

    panel.get_by_role("button", name=f"Restore generation {first.generation}").click()
    expect(page.locator("#toast-status")).to_contain_text(
        f"Restored “data/table.bin” from generation {first.generation}."
    )
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Live")
    assert stored_bytes(bucket, "data/table.bin") == old_bytes
    states = [v.state for v in services.object_versions(bucket=bucket, name="data/table.bin")]
    assert states == ["live", "noncurrent", "noncurrent"]
    assert services.object_get(bucket=bucket, name="data/table.bin").generation > (
        second.generation
    )

    # The live download is the restored bytes.
    page.get_by_role("link", name="Back to the folder").click()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download table.bin", exact=True).click()
    assert Path(info.value.path()).read_bytes() == old_bytes


# ---- Settings -------------------------------------------------------------------------------


def test_the_versioning_switch(alice_page: Page, bucket, csp_violations):
    page = alice_page
    page.goto(reverse("bucket_settings", args=[bucket.bucket_id]))
    switch = page.get_by_role("switch", name="Keep old versions")
    expect(switch).not_to_be_checked()
    expect(page.get_by_test_id("protection-now")).to_contain_text("Versioning is off")

    switch.check()
    page.get_by_label("Days to keep deleted files").fill("30")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_have_text(
        "Saved: versioning is on; deleted files are kept for 30 days."
    )
    expect(page.get_by_role("switch", name="Keep old versions")).to_be_checked()
    fresh = Bucket.objects.get(pk=bucket.pk)
    assert fresh.versioning_enabled and fresh.soft_delete_seconds == 30 * DAY

    # A bad retention is refused on the form, and nothing changes.
    page.get_by_label("Days to keep deleted files").fill("91")
    page.get_by_role("switch", name="Keep old versions").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_have_text("Keep deleted files for 1 to 90 days.")
    assert Bucket.objects.get(pk=bucket.pk).versioning_enabled

    page.get_by_label("Off: deleted files are gone at once").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_have_text(
        "Saved: versioning is off; soft delete is off."
    )
    fresh = Bucket.objects.get(pk=bucket.pk)
    assert not fresh.versioning_enabled and fresh.soft_delete_seconds == 0


def test_add_see_and_remove_a_lifecycle_rule(alice_page: Page, bucket, csp_violations):
    put(bucket, "logs/old.log", b"12345")
    put(bucket, "keep.txt", b"keep")
    page = alice_page
    page.goto(reverse("bucket_settings", args=[bucket.bucket_id]))
    expect(page.get_by_test_id("no-rules")).to_be_visible()
    preview = page.locator("#lifecycle-preview")
    expect(preview).to_contain_text("the next run would delete nothing")

    # A rule missing its number of days is refused in place.
    page.get_by_label("Action").select_option(label="Delete files")
    page.get_by_label("Under folder").fill("logs/")
    page.get_by_role("button", name="Add rule").click()
    expect(page.get_by_role("alert")).to_contain_text("Give the number of days")
    assert Bucket.objects.get(pk=bucket.pk).lifecycle_rules == []

    expect(page.get_by_label("Under folder")).to_have_value("logs/")
    page.get_by_label("Days after created").fill("0")
    page.get_by_role("button", name="Add rule").click()
    rules = page.get_by_role("list", name="Lifecycle rules")
    expect(rules.get_by_role("listitem")).to_have_text(
        ['Delete live files under "logs/" whatever their age Remove']
    )
    assert Bucket.objects.get(pk=bucket.pk).lifecycle_rules == [
        {
            "action": {"type": "Delete"},
            "condition": {"isLive": True, "age": 0, "matchesPrefix": ["logs/"]},
        }
    ]
    # The preview, loaded after the page, names what the next run would delete.
    expect(preview.get_by_test_id("preview-summary")).to_have_text("1 item, 5\xa0bytes.")
    expect(preview.locator("tbody tr")).to_have_count(1)
    expect(preview.locator("tbody tr")).to_contain_text("logs/old.log")
    assert names(bucket) == ["keep.txt", "logs/old.log"]  # a preview changes nothing

    rules.get_by_role("button", name=re.compile(r"^Remove the rule")).click()
    expect(page.get_by_role("status").first).to_contain_text("Removed the rule")
    expect(page.get_by_test_id("no-rules")).to_be_visible()
    assert Bucket.objects.get(pk=bucket.pk).lifecycle_rules == []


# ---- keeping the user's place on long lists (issue 13) --------------------------------------


def expect_focused(page: Page, button_name: str) -> None:
    expect(page.get_by_role("button", name=button_name, exact=True)).to_be_focused()


def scroll_y(page: Page) -> float:
    return page.evaluate("window.scrollY")


def toast_in_viewport(page: Page) -> bool:
    return page.evaluate(
        """() => [...document.querySelectorAll('#toasts .toast')].some((toast) => {
            const box = toast.getBoundingClientRect();
            return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight; })"""
    )


def deleted_row(page: Page, basename: str):
    return page.locator("#deleted tr.file-row").filter(
        has=page.locator(".object-name").get_by_text(basename, exact=True)
    )


@pytest.fixture
def thirty_deleted(bucket):
    for index in range(1, 31):
        name = f"docs/f{index:02}.txt"
        put(bucket, name, name.encode())
        services.object_delete(bucket=bucket, name=name)
    return bucket


def scrolled_to(page: Page, row) -> float:
    """Scroll ``row`` to the middle of a short window, far from both ends of the page: a panel
    rebuilt would jump back, and the page is not at its end, where the browser must scroll
    back by the height of a row that goes."""
    page.set_viewport_size({"width": 1280, "height": 480})
    row.evaluate("(row) => row.scrollIntoView({block: 'center'})")
    before = scroll_y(page)
    room = page.evaluate("document.documentElement.scrollHeight - window.innerHeight") - before
    assert before > 300 and room > row.bounding_box()["height"], (before, room)
    return before


def test_restore_row_25_of_30_keeps_the_scroll_and_moves_focus_to_the_next_row(
    alice_page: Page, thirty_deleted, csp_violations
):
    page = alice_page
    page.goto(reverse("deleted_list", args=[thirty_deleted.bucket_id]) + "?prefix=docs%2F")
    rows = page.locator("#deleted tr.file-row")
    expect(rows).to_have_count(30)
    before = scrolled_to(page, deleted_row(page, "f25.txt"))

    page.get_by_role("button", name="Restore f25.txt", exact=True).click()
    expect(page.locator("#toast-status")).to_contain_text("Restored “docs/f25.txt”.")
    expect(deleted_row(page, "f25.txt")).to_have_count(0)
    expect(rows).to_have_count(29)  # the others stay where they were
    assert abs(scroll_y(page) - before) < 5
    expect_focused(page, "Restore f26.txt")
    assert toast_in_viewport(page)
    assert stored_bytes(thirty_deleted, "docs/f25.txt") == b"docs/f25.txt"

    # Enter goes on with the next one.
    page.keyboard.press("Enter")
    expect(deleted_row(page, "f26.txt")).to_have_count(0)
    expect_focused(page, "Restore f27.txt")


def test_delete_forever_row_25_of_30_keeps_the_scroll_and_moves_focus_to_the_next_row(
    alice_page: Page, thirty_deleted, csp_violations
):
    page = alice_page
    page.goto(reverse("deleted_list", args=[thirty_deleted.bucket_id]) + "?prefix=docs%2F")
    rows = page.locator("#deleted tr.file-row")
    expect(rows).to_have_count(30)
    before = scrolled_to(page, deleted_row(page, "f25.txt"))

    page.get_by_role("button", name="Delete f25.txt forever").click()
    dialogs: list[str] = []
    confirm_in_page(page, dialogs)
    assert "“docs/f25.txt” forever?" in dialogs[0]
    expect(page.locator("#toast-status")).to_contain_text("of “docs/f25.txt” for good.")
    expect(deleted_row(page, "f25.txt")).to_have_count(0)
    expect(rows).to_have_count(29)
    assert abs(scroll_y(page) - before) < 5
    expect_focused(page, "Delete f26.txt forever")
    assert toast_in_viewport(page)
    assert services.object_versions(bucket=thirty_deleted, name="docs/f25.txt") == []

    # The last row (by keyboard: at the page's end the toast covers its buttons): focus goes
    # to the row before it.
    last = deleted_row(page, "f30.txt")
    last.get_by_role("button", name="Delete f30.txt forever").focus()
    page.keyboard.press("Enter")
    confirm_in_page(page, dialogs)
    expect(last).to_have_count(0)
    expect_focused(page, "Delete f29.txt forever")


def test_the_last_deleted_row_leaves_the_empty_state_and_focus_on_the_heading(
    alice_page: Page, bucket, csp_violations
):
    for name in ["docs/a.txt", "docs/b.txt"]:
        put(bucket, name)
        services.object_delete(bucket=bucket, name=name)
    page = alice_page
    page.goto(reverse("deleted_list", args=[bucket.bucket_id]) + "?prefix=docs%2F")
    page.get_by_role("button", name="Restore a.txt", exact=True).click()
    expect(deleted_row(page, "a.txt")).to_have_count(0)
    page.get_by_role("button", name="Restore b.txt", exact=True).click()
    expect(page.get_by_text("No deleted files in this folder.")).to_be_visible()
    expect(page.locator("#toast-status")).to_contain_text("Restored “docs/b.txt”.")
    expect(page.locator("#deleted-heading")).to_be_focused()


def test_restore_all_focuses_the_heading_and_says_how_many(
    alice_page: Page, thirty_deleted, csp_violations
):
    page = alice_page
    page.goto(reverse("deleted_list", args=[thirty_deleted.bucket_id]) + "?prefix=docs%2F")
    page.get_by_role("button", name="Restore all in this folder").click()
    expect(page.locator("#toast-status")).to_contain_text("Restored 30 files in “docs/”.")
    expect(page.get_by_text("No deleted files in this folder.")).to_be_visible()
    expect(page.locator("#deleted-heading")).to_be_focused()
    assert in_viewport(page, "#deleted-heading")
    assert len(names(thirty_deleted)) == 30


@pytest.fixture
def thirty_versions(bucket):
    bucket_update_settings(bucket=bucket, versioning=True)
    bucket.refresh_from_db()
    kept = [put(bucket, "log.txt", f"v{index}".encode()) for index in range(1, 31)]
    return bucket, kept


def version_row(page: Page, generation: int):
    return page.locator(f"#versions tr#generation-{generation}")


def test_delete_an_old_version_far_down_changes_only_its_row(
    alice_page: Page, thirty_versions, csp_violations
):
    bucket, kept = thirty_versions
    page = alice_page
    page.goto(reverse("object_versions", args=[bucket.bucket_id]) + "?name=log.txt")
    rows = page.locator("#versions tr.version-row")
    expect(rows).to_have_count(30)
    # Newest first: row 25 is the sixth version written.
    target = kept[5]
    expect(rows.nth(24)).to_have_attribute("data-generation", str(target.generation))
    before = scrolled_to(page, rows.nth(24))

    rows.nth(24).get_by_role("button", name=f"Delete generation {target.generation}").click()
    expect(page.locator("#toast-status")).to_contain_text(
        f"Deleted generation {target.generation} of “log.txt”. It can be restored for 7 days."
    )
    # Kept as a deleted version: its row changes in place, and focus stays in it.
    expect(version_row(page, target.generation)).to_contain_text("Deleted")
    expect(rows).to_have_count(30)
    assert abs(scroll_y(page) - before) < 5
    expect_focused(page, f"Delete forever: generation {target.generation}")
    assert toast_in_viewport(page)
    assert (
        dict(
            (v.generation, v.state) for v in services.object_versions(bucket=bucket, name="log.txt")
        )[target.generation]
        == ObjectVersion.SOFT_DELETED
    )

    # Deleted for good, after the dialog: the row goes and focus moves to the next one.
    page.keyboard.press("Enter")
    dialogs: list[str] = []
    confirm_in_page(page, dialogs)
    expect(version_row(page, target.generation)).to_have_count(0)
    expect(rows).to_have_count(29)
    assert abs(scroll_y(page) - before) < 5
    following = kept[4].generation
    expect_focused(page, f"Delete generation {following}")
    expect(page.locator("#toast-status")).to_contain_text("for good.")
    assert toast_in_viewport(page)
