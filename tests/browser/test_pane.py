"""The Object Storage pane driven end to end in a real Chromium.

Every test signs in (once through the login form, otherwise with a session cookie), works the
pane like a user would, and checks the outcome three ways where it applies: what the page shows,
the bytes a download delivers, and what the service layer has stored.
"""

import re
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from buckets.models import Bucket
from buckets.services import bucket_create
from objects import services
from objects.models import Object

from ..conftest import PASSWORD, put, stored_blobs
from .conftest import sign_in

pytestmark = pytest.mark.browser

BUCKET_ID = re.compile(
    r"^objstore-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


# ---- helpers ---------------------------------------------------------------------------------


def browser_path(bucket: Bucket, prefix: str = "") -> str:
    url = reverse("object_browser", args=[bucket.bucket_id])
    return f"{url}?prefix={prefix}" if prefix else url


def names(bucket: Bucket) -> list[str]:
    return sorted(Object.objects.filter(bucket=bucket).values_list("name", flat=True))


def stored_bytes(bucket: Bucket, name: str) -> bytes:
    obj = services.object_get(bucket=bucket, name=name)
    with services.object_open(obj) as handle:
        return handle.read()


def listing(page: Page):
    return page.locator("#listing")


def file_row(page: Page, basename: str):
    return (
        listing(page)
        .locator("tr.file-row")
        .filter(has=page.locator(".object-name").get_by_text(basename, exact=True))
    )


def folder_link(page: Page, label: str):
    return listing(page).get_by_role("link", name=label, exact=True)


def confirm_in_page(page: Page, seen: list[str]) -> None:
    """Answer the page's own confirmation dialog: note what it asks, press its Delete."""
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    seen.append(f"{dialog.locator('h2').inner_text()} {dialog.locator('p').inner_text()}")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden()


def current_prefix(page: Page) -> str:
    return parse_qs(urlsplit(page.url).query).get("prefix", [""])[0]


def expect_uploaded(page: Page, paths: list[str]) -> None:
    """Wait until the upload list shows one finished row per path."""
    rows = page.locator("#uploads li.upload")
    expect(rows).to_have_count(len(paths))
    shown = sorted(rows.locator(".upload-name").all_inner_texts())
    assert shown == sorted(paths)
    for row in rows.all():
        expect(row.locator(".upload-status")).to_have_text("Uploaded")
        expect(row).to_have_class(re.compile(r"\bdone\b"))


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


# ---- 1. signing in and out --------------------------------------------------------------------


def test_sign_in_through_the_form_lists_buckets_and_sign_out_works(page: Page, alice, charlie):
    mine = bucket_create(owner=alice, name="holiday pictures")
    bucket_create(owner=charlie, name="charlie's secrets")

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/buckets/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # A wrong password is refused on the form itself.
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/buckets/$"))
    expect(page.get_by_role("heading", name="Object Storage", level=1)).to_be_visible()
    expect(page.locator(".account")).to_contain_text("alice")
    cards = page.locator(".bucket-cards .bucket-card")
    expect(cards).to_have_count(1)
    expect(cards.get_by_role("link", name="holiday pictures")).to_have_attribute(
        "href", browser_path(mine)
    )
    expect(cards.locator("code")).to_have_text(mine.bucket_id)
    expect(page.get_by_text("charlie's secrets")).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    # The session really is gone: the bucket list asks for a login again.
    page.goto("/buckets/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/buckets/$"))


# ---- 2. creating a bucket ---------------------------------------------------------------------


def test_create_a_bucket_lands_on_its_empty_objects_tab(alice_page: Page, alice):
    page = alice_page
    page.goto("/buckets/")
    expect(page.get_by_text("You have no buckets yet.")).to_be_visible()

    page.get_by_label("Bucket name").fill("  reports  ")
    page.get_by_role("button", name="Create a Bucket").click()

    bucket = Bucket.objects.get(owner=alice)
    assert bucket.name == "reports"
    expect(page).to_have_url(re.compile(re.escape(browser_path(bucket)) + "$"))
    expect(page.get_by_role("heading", name="reports", level=1)).to_be_visible()
    tabs = page.get_by_role("navigation", name="Bucket sections")
    expect(tabs.get_by_role("link", name="Objects")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("status").first).to_contain_text("Created bucket “reports”.")
    expect(listing(page).get_by_text("This bucket is empty.")).to_be_visible()
    expect(listing(page).locator("table")).to_have_count(0)
    sidebar = page.get_by_role("navigation", name="Buckets")
    expect(sidebar.get_by_role("link", name="reports")).to_have_attribute("aria-current", "page")

    # The same name again is refused with the reason, and no second bucket appears.
    page.goto("/buckets/")
    page.get_by_label("Bucket name").fill("reports")
    page.get_by_role("button", name="Create a Bucket").click()
    expect(page.locator(".field-error")).to_have_text("You already have a bucket named “reports”.")
    assert Bucket.objects.filter(owner=alice).count() == 1


# ---- 3. the bucket ID on Settings -------------------------------------------------------------


def test_settings_shows_the_bucket_id_and_copies_it(alice_page: Page, context, server, bucket):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    put(bucket, "a.txt", b"12345")
    put(bucket, "docs/b.txt", b"123")
    page = alice_page
    page.goto(browser_path(bucket))
    page.get_by_role("navigation", name="Bucket sections").get_by_role(
        "link", name="Settings"
    ).click()
    settings_path = reverse("bucket_settings", args=[bucket.bucket_id])
    expect(page).to_have_url(re.compile(re.escape(settings_path) + "$"))

    shown = page.locator("#bucket-id").inner_text().strip()
    assert shown == Bucket.objects.get(pk=bucket.pk).bucket_id
    assert BUCKET_ID.match(shown), shown
    assert uuid.UUID(shown.removeprefix("objstore-")).version == 4
    expect(page.get_by_test_id("object-count")).to_have_text("2")
    expect(page.get_by_test_id("total-size")).to_have_text("8\xa0bytes")

    copy = page.get_by_role("button", name="Copy bucket ID")
    copy.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == shown


# ---- 4. uploading files with the button --------------------------------------------------------


def test_upload_files_with_the_button(alice_page: Page, bucket, tmp_path):
    binary = bytes(range(256)) * 6  # 1536 bytes, every byte value
    files = {"notes.txt": b"hello, bucket\n", "blob.bin": binary, "data.json": b'{"a": 1}'}
    make_tree(tmp_path / "pick", files)
    page = alice_page
    page.goto(browser_path(bucket))
    expect(listing(page).get_by_text("This bucket is empty.")).to_be_visible()

    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload files").click()
    assert chooser.value.is_multiple()
    chooser.value.set_files([str(tmp_path / "pick" / name) for name in files])

    expect_uploaded(page, list(files))
    expect(listing(page).locator("tr.file-row")).to_have_count(3)
    expect(file_row(page, "notes.txt").locator("td.num")).to_have_text("14\xa0bytes")
    expect(file_row(page, "blob.bin").locator("td.num")).to_have_text("1.5\xa0KB")
    expect(file_row(page, "data.json").locator("td.num")).to_have_text("8\xa0bytes")
    expect(file_row(page, "data.json").locator("td.type")).to_have_text("application/json")
    # Listed in name order.
    expect(listing(page).locator(".object-name")).to_have_text(
        ["blob.bin", "data.json", "notes.txt"]
    )

    assert names(bucket) == ["blob.bin", "data.json", "notes.txt"]
    for name, data in files.items():
        assert stored_bytes(bucket, name) == data
    assert services.object_get(bucket=bucket, name="blob.bin").size == 1536


def test_upload_reports_a_too_large_file_on_its_own_row(
    alice_page: Page, bucket, tmp_path, settings
):
    settings.OBJSTORE_MAX_OBJECT_SIZE = 10
    make_tree(tmp_path, {"small.txt": b"tiny", "big.txt": b"x" * 11})
    page = alice_page
    page.goto(browser_path(bucket))

    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload files").click()
    chooser.value.set_files([str(tmp_path / "small.txt"), str(tmp_path / "big.txt")])

    rows = page.locator("#uploads li.upload")
    big = rows.filter(has=page.get_by_text("big.txt", exact=True))
    small = rows.filter(has=page.get_by_text("small.txt", exact=True))
    expect(big).to_have_class(re.compile(r"\bfailed\b"))
    expect(big.get_by_role("alert")).to_have_text("Larger than the upload limit of 10 bytes.")
    expect(small.locator(".upload-status")).to_have_text("Uploaded")
    expect(file_row(page, "small.txt")).to_be_visible()
    expect(file_row(page, "big.txt")).to_have_count(0)
    assert names(bucket) == ["small.txt"]

    # Without the page's own check, the server refuses it too and the row shows its reason.
    page.locator("#upload-form").evaluate("form => form.removeAttribute('data-max-size')")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload files").click()
    chooser.value.set_files(str(tmp_path / "big.txt"))
    # A new batch clears the rows that went well; the earlier failure stays until dismissed.
    expect(rows).to_have_count(2)
    expect(small).to_have_count(0)
    # The tray lists rows in the order they were added.
    expect(rows.get_by_role("alert")).to_have_text(
        [
            "Larger than the upload limit of 10 bytes.",
            "This file is larger than the upload limit of 10\xa0bytes.",
        ]
    )
    assert names(bucket) == ["small.txt"]
    page.get_by_role("button", name="Dismiss big.txt").first.click()
    expect(rows).to_have_count(1)


# ---- 5. uploading a folder with the button -----------------------------------------------------


def test_upload_folder_keeps_relative_paths_under_the_current_folder(
    alice_page: Page, bucket, tmp_path
):
    services.folder_create(bucket=bucket, prefix="dest/")
    tree = {
        "a.txt": b"top of the folder",
        "sub/b.txt": b"one level down",
        "sub/deeper/c.txt": b"two levels down",
    }
    make_tree(tmp_path / "myfolder", tree)
    page = alice_page
    page.goto(browser_path(bucket))
    folder_link(page, "dest/").click()
    expect(page.get_by_text("This folder is empty.")).to_be_visible()
    assert current_prefix(page) == "dest/"

    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload folder").click()
    chooser.value.set_files(str(tmp_path / "myfolder"))

    expect_uploaded(page, [f"myfolder/{path}" for path in tree])
    expect(folder_link(page, "myfolder/")).to_be_visible()
    assert names(bucket) == [
        "dest/",
        "dest/myfolder/a.txt",
        "dest/myfolder/sub/b.txt",
        "dest/myfolder/sub/deeper/c.txt",
    ]
    for path, data in tree.items():
        assert stored_bytes(bucket, f"dest/myfolder/{path}") == data

    folder_link(page, "myfolder/").click()
    expect(file_row(page, "a.txt")).to_be_visible()
    expect(folder_link(page, "sub/")).to_be_visible()


# ---- 6. drag and drop ------------------------------------------------------------------------


def drop_paths(page: Page, selector: str, paths: list[Path]) -> None:
    """Drop files and folders from disk onto ``selector``, as the OS would, through CDP."""
    box = page.locator(selector).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    data = {"items": [], "files": [str(path) for path in paths], "dragOperationsMask": 1}
    cdp = page.context.new_cdp_session(page)
    try:
        for kind in ("dragEnter", "dragOver"):
            cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})
        # While something is dragged over it, the drop zone says so.
        expect(page.locator(selector)).to_have_class(re.compile(r"\bdragging\b"))
        cdp.send("Input.dispatchDragEvent", {"type": "drop", "x": x, "y": y, "data": data})
    finally:
        cdp.detach()


def test_drag_and_drop_files_and_a_folder(alice_page: Page, bucket, tmp_path):
    put(bucket, "existing.txt", b"already here")
    make_tree(tmp_path, {"loose.txt": b"a loose file", "second.csv": b"a,b\n1,2\n"})
    make_tree(
        tmp_path / "dropped",
        {"x.txt": b"in the dropped folder", "nested/y.txt": b"nested", "nested/z/w.md": b"# w"},
    )
    page = alice_page
    page.goto(browser_path(bucket))
    expect(file_row(page, "existing.txt")).to_be_visible()

    drop_paths(
        page,
        "#dropzone",
        [tmp_path / "loose.txt", tmp_path / "second.csv", tmp_path / "dropped"],
    )

    expect_uploaded(
        page,
        [
            "loose.txt",
            "second.csv",
            "dropped/x.txt",
            "dropped/nested/y.txt",
            "dropped/nested/z/w.md",
        ],
    )
    expect(page.locator("#dropzone")).not_to_have_class(re.compile(r"\bdragging\b"))
    expect(folder_link(page, "dropped/")).to_be_visible()
    expect(file_row(page, "loose.txt")).to_be_visible()
    expect(file_row(page, "second.csv")).to_be_visible()
    assert names(bucket) == [
        "dropped/nested/y.txt",
        "dropped/nested/z/w.md",
        "dropped/x.txt",
        "existing.txt",
        "loose.txt",
        "second.csv",
    ]
    assert stored_bytes(bucket, "dropped/nested/z/w.md") == b"# w"
    assert stored_bytes(bucket, "loose.txt") == b"a loose file"


def test_drop_into_a_subfolder_uploads_there(alice_page: Page, bucket, tmp_path):
    put(bucket, "inbox/old.txt", b"old")
    make_tree(tmp_path / "batch", {"one.txt": b"1", "two/three.txt": b"3"})
    page = alice_page
    page.goto(browser_path(bucket, "inbox/"))
    expect(file_row(page, "old.txt")).to_be_visible()

    drop_paths(page, "#dropzone", [tmp_path / "batch"])

    expect_uploaded(page, ["batch/one.txt", "batch/two/three.txt"])
    expect(folder_link(page, "batch/")).to_be_visible()
    assert names(bucket) == ["inbox/batch/one.txt", "inbox/batch/two/three.txt", "inbox/old.txt"]


# ---- 7. creating a folder --------------------------------------------------------------------


def test_create_folder_survives_while_empty(alice_page: Page, bucket):
    page = alice_page
    page.goto(browser_path(bucket))
    popover = page.locator("#new-folder")
    expect(popover).to_be_hidden()

    page.get_by_role("button", name="Create folder").click()
    expect(popover).to_be_visible()
    expect(page.get_by_label("Folder name")).to_be_focused()
    page.get_by_label("Folder name").fill("reports")
    popover.get_by_role("button", name="Create").click()

    expect(folder_link(page, "reports/")).to_be_visible()
    expect(popover).to_be_hidden()
    expect(page.locator("#toast-status")).to_contain_text("Created folder “reports/”.")
    assert names(bucket) == ["reports/"]

    page.reload()
    expect(folder_link(page, "reports/")).to_be_visible()
    folder_link(page, "reports/").click()
    expect(page.get_by_text("This folder is empty.")).to_be_visible()
    assert current_prefix(page) == "reports/"

    # A folder inside the folder lands under the current prefix.
    page.get_by_role("button", name="Create folder").click()
    page.get_by_label("Folder name").fill("2024")
    popover.get_by_role("button", name="Create").click()
    expect(folder_link(page, "2024/")).to_be_visible()
    assert names(bucket) == ["reports/", "reports/2024/"]


# ---- 8. navigating folders -------------------------------------------------------------------


def test_navigate_into_folders_and_back_with_breadcrumbs(alice_page: Page, bucket):
    for name in ["top.txt", "photos/readme.txt", "photos/2024/jan/cat.jpg", "photos/2024/dog.jpg"]:
        put(bucket, name, b"x")
    page = alice_page
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    page.goto(browser_path(bucket))
    expect(crumbs.get_by_role("link")).to_have_text(["photos"])
    expect(listing(page).locator(".object-name")).to_have_text(["top.txt"])

    folder_link(page, "photos/").click()
    expect(page).to_have_url(re.compile(r"prefix=photos%2F$"))
    expect(crumbs.get_by_role("link")).to_have_text(["photos", "photos"])
    expect(crumbs.get_by_role("link").last).to_have_attribute("aria-current", "page")
    expect(listing(page).locator(".object-name")).to_have_text(["readme.txt"])
    expect(folder_link(page, "2024/")).to_be_visible()

    folder_link(page, "2024/").click()
    assert current_prefix(page) == "photos/2024/"
    expect(listing(page).locator(".object-name")).to_have_text(["dog.jpg"])
    folder_link(page, "jan/").click()
    assert current_prefix(page) == "photos/2024/jan/"
    expect(crumbs.get_by_role("link")).to_have_text(["photos", "photos", "2024", "jan"])
    expect(listing(page).locator(".object-name")).to_have_text(["cat.jpg"])
    expect(listing(page).get_by_role("heading")).to_have_text("Objects in photos/photos/2024/jan/")

    crumbs.get_by_role("link", name="2024").click()
    assert current_prefix(page) == "photos/2024/"
    expect(listing(page).locator(".object-name")).to_have_text(["dog.jpg"])

    crumbs.get_by_role("link").first.click()  # the bucket's own name: the root
    expect(page).to_have_url(re.compile(re.escape(browser_path(bucket)) + "$"))
    expect(crumbs.get_by_role("link")).to_have_count(1)
    expect(listing(page).locator(".object-name")).to_have_text(["top.txt"])


def test_load_more_appends_the_next_page(alice_page: Page, bucket, settings):
    settings.OBJSTORE_PAGE_SIZE = 2
    for name in ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "zz/inner.txt"]:
        put(bucket, name, b"x")
    page = alice_page
    page.goto(browser_path(bucket))
    expect(listing(page).locator("tbody tr.folder-row, tbody tr.file-row")).to_have_count(2)
    more = listing(page).get_by_role("link", name="Load more")

    # Folders come first: the first page is zz/ and a.txt.
    expect(listing(page).locator("tbody tr").first).to_contain_text("zz")
    more.click()
    expect(listing(page).locator(".object-name")).to_have_text(["a.txt", "b.txt", "c.txt"])
    more.click()
    expect(listing(page).locator(".object-name")).to_have_text(
        ["a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]
    )
    expect(folder_link(page, "zz/")).to_be_visible()
    expect(more).to_have_count(0)
    assert "page_token" not in page.url  # rows were appended in place, no navigation


def test_a_folder_name_full_of_url_syntax_round_trips(alice_page: Page, bucket, tmp_path):
    """Create, enter, upload into, download from and empty a folder named with ``& # + % ?``."""
    folder = "Q&A #1 + 50%? 日本"
    (tmp_path / "notes.txt").write_bytes(b"notes")
    page = alice_page
    page.goto(browser_path(bucket))
    page.get_by_role("button", name="Create folder").click()
    page.get_by_label("Folder name").fill(folder)
    page.locator("#new-folder").get_by_role("button", name="Create").click()

    folder_link(page, f"{folder}/").click()
    assert current_prefix(page) == f"{folder}/"
    expect(page.get_by_role("navigation", name="Breadcrumb").get_by_role("link")).to_have_text(
        ["photos", folder]
    )
    expect(page.get_by_text("This folder is empty.")).to_be_visible()

    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload files").click()
    chooser.value.set_files(str(tmp_path / "notes.txt"))
    expect_uploaded(page, ["notes.txt"])
    expect(file_row(page, "notes.txt")).to_be_visible()
    assert names(bucket) == [f"{folder}/", f"{folder}/notes.txt"]

    with page.expect_download() as info:
        page.get_by_role("link", name="Download notes.txt", exact=True).click()
    assert Path(info.value.path()).read_bytes() == b"notes"

    page.get_by_role("button", name="Delete notes.txt", exact=True).click()
    confirm_in_page(page, [])
    expect(page.get_by_text("This folder is empty.")).to_be_visible()
    assert names(bucket) == [f"{folder}/"]


# ---- 9. downloading --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, data",
    [
        ("docs/report.csv", b"id,total\n1,42\n"),
        ("docs/résumé 日本.txt", "Résumé — 日本語のテキスト\n".encode()),
        ("docs/all-bytes.bin", bytes(range(256)) * 4),
    ],
    ids=["csv", "unicode-name", "binary"],
)
def test_download_a_file(alice_page: Page, bucket, tmp_path, name, data):
    put(bucket, name, data)
    put(bucket, "docs/other.txt", b"not this one")
    basename = name.rsplit("/", 1)[-1]
    page = alice_page
    page.goto(browser_path(bucket, "docs/"))

    with page.expect_download() as info:
        page.get_by_role("link", name=f"Download {basename}", exact=True).click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename == basename
    saved = tmp_path / "saved"
    download.save_as(saved)
    assert saved.read_bytes() == data
    # Downloading does not navigate away from the pane.
    expect(file_row(page, basename)).to_be_visible()


# ---- 10. deleting files and folders ----------------------------------------------------------


def test_delete_a_file_and_a_folder_with_the_trashcans(alice_page: Page, bucket):
    for name in [
        "photos/gone.txt",
        "photos/keep.txt",
        "photos/2024/a.jpg",
        "photos/2024/b/c.jpg",
        "photos/2024-old/z.jpg",
        "photos/2024-old/y/x.jpg",
    ]:
        put(bucket, name, name.encode())
    page = alice_page
    page.goto(browser_path(bucket, "photos/"))
    dialogs: list[str] = []

    # Cancelling the confirmation (here with Escape) deletes nothing.
    dialog = page.locator("#confirm-dialog")
    page.get_by_role("button", name="Delete gone.txt", exact=True).click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(file_row(page, "gone.txt")).to_be_visible()
    assert "photos/gone.txt" in names(bucket)

    page.get_by_role("button", name="Delete gone.txt", exact=True).click()
    confirm_in_page(page, dialogs)
    expect(file_row(page, "gone.txt")).to_have_count(0)
    expect(page.locator("#toast-status")).to_contain_text("Deleted “photos/gone.txt”.")
    expect(file_row(page, "keep.txt")).to_be_visible()
    # New buckets keep deleted files for 7 days, and the confirmation says so.
    assert dialogs[-1] == "Delete “photos/gone.txt”? Deleted files can be restored for 7 days."
    with pytest.raises(services.ObjectNotFound):
        services.object_get(bucket=bucket, name="photos/gone.txt")
    assert [v.state for v in services.object_versions(bucket=bucket, name="photos/gone.txt")] == [
        "deleted"
    ]

    page.get_by_role("button", name="Delete 2024/", exact=True).click()
    confirm_in_page(page, dialogs)
    expect(folder_link(page, "2024/")).to_have_count(0)
    expect(page.locator("#toast-status")).to_contain_text(
        "Deleted folder “photos/2024/” and 2 objects."
    )
    assert dialogs[-1] == (
        "Delete the folder “photos/2024/”? "
        "This deletes 2 objects under it. Deleted files can be restored for 7 days."
    )
    expect(folder_link(page, "2024-old/")).to_be_visible()
    expect(file_row(page, "keep.txt")).to_be_visible()
    assert names(bucket) == ["photos/2024-old/y/x.jpg", "photos/2024-old/z.jpg", "photos/keep.txt"]
    assert stored_bytes(bucket, "photos/2024-old/z.jpg") == b"photos/2024-old/z.jpg"

    # The neighbour's content is intact in the pane as well.
    page.reload()
    folder_link(page, "2024-old/").click()
    expect(file_row(page, "z.jpg")).to_be_visible()
    expect(folder_link(page, "y/")).to_be_visible()


# ---- 11. deleting the bucket -----------------------------------------------------------------


def test_delete_the_bucket_from_settings(alice_page: Page, alice, bucket, blob_dir):
    other = bucket_create(owner=alice, name="keeper")
    put(other, "stays.txt", b"stays")
    put(bucket, "a.txt", b"a")
    put(bucket, "deep/b.txt", b"bb")
    services.folder_create(bucket=bucket, prefix="empty/")
    mine = [key for key in stored_blobs(blob_dir) if key.startswith(bucket.bucket_id + "/")]
    assert len(mine) == 3
    page = alice_page
    page.goto(reverse("bucket_settings", args=[bucket.bucket_id]))
    confirm = page.get_by_label("Type photos to confirm")

    # The wrong name deletes nothing.
    confirm.fill("photo")
    page.get_by_role("button", name="Delete bucket").click()
    expect(page.get_by_role("alert")).to_have_text(
        "That is not this bucket's name; nothing was deleted."
    )
    assert Bucket.objects.filter(pk=bucket.pk).exists()

    page.get_by_label("Type photos to confirm").fill("photos")
    page.get_by_role("button", name="Delete bucket").click()

    expect(page).to_have_url(re.compile(r"/buckets/$"))
    expect(page.get_by_role("status").first).to_have_text(
        "Deleted bucket “photos” and its 3 objects."
    )
    expect(page.locator(".bucket-cards").get_by_role("link")).to_have_text(["keeper"])
    assert not Bucket.objects.filter(pk=bucket.pk).exists()
    assert not Object.objects.filter(bucket_id=bucket.pk).exists()
    assert [key for key in stored_blobs(blob_dir) if key.startswith(bucket.bucket_id)] == []
    # The other bucket and its bytes are untouched.
    assert stored_bytes(other, "stays.txt") == b"stays"
    assert len(stored_blobs(blob_dir)) == 1
    assert page.goto(browser_path(bucket)).status == 404


# ---- 12. names that look like HTML -----------------------------------------------------------


def test_html_in_names_is_shown_as_text(alice_page: Page, alice, tmp_path):
    bucket = bucket_create(owner=alice, name="<script>alert('bucket')</script>")
    put(bucket, "<svg onload=alert('folder')>/inner.txt", b"inner")
    evil = "<img src=x onerror=alert(1)>.txt"
    (tmp_path / evil).write_bytes(b"harmless")
    page = alice_page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(browser_path(bucket))
    expect(page.get_by_role("heading", level=1)).to_have_text(bucket.name)

    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload files").click()
    chooser.value.set_files(str(tmp_path / evil))
    expect_uploaded(page, [evil])

    expect(file_row(page, evil)).to_be_visible()
    expect(file_row(page, evil).locator(".object-name")).to_have_text(evil)
    expect(page.get_by_role("link", name=f"Download {evil}", exact=True)).to_be_visible()
    expect(folder_link(page, "<svg onload=alert('folder')>/")).to_be_visible()
    assert page.locator("img, svg[onload]").count() == 0
    assert page.locator("script:not([src])").count() == 0  # the CSP allows no inline script
    assert stored_bytes(bucket, evil) == b"harmless"

    folder_link(page, "<svg onload=alert('folder')>/").click()
    expect(file_row(page, "inner.txt")).to_be_visible()
    expect(page.get_by_role("navigation", name="Breadcrumb").get_by_role("link")).to_have_text(
        [bucket.name, "<svg onload=alert('folder')>"]
    )
    page.goto(reverse("bucket_settings", args=[bucket.bucket_id]))
    expect(page.get_by_role("heading", level=1)).to_have_text(bucket.name)
    assert page.locator("img, svg[onload]").count() == 0
    assert dialogs == []


# ---- 13. other people's buckets --------------------------------------------------------------


def test_another_users_bucket_answers_404(alice_page: Page, charlie):
    theirs = bucket_create(owner=charlie, name="charlie-private")
    put(theirs, "secret.txt", b"top secret")
    page = alice_page
    for path in [
        browser_path(theirs),
        browser_path(theirs, "docs/"),
        reverse("bucket_settings", args=[theirs.bucket_id]),
        reverse("object_download", args=[theirs.bucket_id]) + "?name=secret.txt",
    ]:
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.get_by_text("charlie-private")).to_have_count(0)
        expect(page.get_by_text("top secret")).to_have_count(0)
    assert stored_bytes(theirs, "secret.txt") == b"top secret"


def test_sign_in_by_cookie_reaches_the_pane(page: Page, context, server, charlie):
    """The cookie helper the other tests rely on signs in the right user."""
    sign_in(context, server, charlie)
    page.goto("/buckets/")
    expect(page.locator(".account")).to_contain_text("charlie")
