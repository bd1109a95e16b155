"""Uploads you can follow, cancel and resume: the pane's upload tray driven in Chromium.

Each test checks what the page shows and what the server stored (rows, bytes, sessions).
"""

import hashlib
import os
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import Page, Route, expect

from objects import services
from objects.models import Object, UploadSession

from ..conftest import PASSWORD, put
from .test_pane import browser_path, file_row, listing, make_tree, names, stored_bytes

pytestmark = pytest.mark.browser

MiB = 1024 * 1024
CHUNK_URL = re.compile(r"/uploads/sessions/[^/]+/chunk\?offset=\d+$")
FILE_URL = re.compile(r"/uploads/file$")


def tray(page: Page):
    return page.locator("#upload-tray")


def summary(page: Page):
    return page.locator("#upload-summary")


def row(page: Page, path: str):
    return page.locator("#uploads li.upload").filter(
        has=page.locator(".upload-name").get_by_text(path, exact=True)
    )


def pick_files(page: Page, paths: list[Path]) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload files").click()
    chooser.value.set_files([str(path) for path in paths])


def set_chunking(page: Page, threshold: int, size: int) -> None:
    page.locator("#upload-tray").evaluate(
        "(tray, [threshold, size]) => {"
        " tray.dataset.chunkThreshold = String(threshold); tray.dataset.chunkSize = String(size); }",
        [threshold, size],
    )


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def wait_for(page: Page, condition, timeout: float = 10.0) -> None:
    """Poll ``condition``; waiting through the page lets Playwright run its route handlers."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def offset_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["offset"][0])


def hold_chunks_after_the_first(page: Page) -> "Held":
    """Let a chunked upload's first chunk through and hold the ones after it (a slow upload)."""
    held = Held()

    def hold(route: Route) -> None:
        if offset_of(route.request.url) == 0:
            route.continue_()
        else:
            held(route)

    page.route(CHUNK_URL, hold)
    return held


class Held:
    """Routes whose requests are held (never answered) until released."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def __call__(self, route: Route) -> None:
        self.routes.append(route)

    def release(self) -> None:
        for route in self.routes:
            try:
                route.continue_()
            except Exception:  # the page aborted it meanwhile: nothing to send
                pass


def failed_requests(page: Page) -> list[str]:
    """The URLs of the page's requests that fail from now on (an aborted XHR among them).

    The tray shows *Cancelled* as soon as it aborts a request; the network layer learns of it a
    moment later. A held route released before then would still send the request, so tests that
    cancel wait for the failure before releasing.
    """
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    return failed


def drag(page: Page, x: float, y: float, paths: list[Path], *, drop: bool = True) -> None:
    """Drag files from disk over (x, y) of the viewport, as the OS would, through CDP."""
    data = {"items": [], "files": [str(path) for path in paths], "dragOperationsMask": 1}
    cdp = page.context.new_cdp_session(page)
    try:
        for kind in ("dragEnter", "dragOver"):
            cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})
        if drop:
            cdp.send("Input.dispatchDragEvent", {"type": "drop", "x": x, "y": y, "data": data})
    finally:
        cdp.detach()


# ---- the tray ----------------------------------------------------------------------------------


def test_a_250_file_folder_keeps_the_listing_in_view(alice_page: Page, bucket, tmp_path):
    make_tree(tmp_path / "many", {f"file-{i:03}.txt": b"%d" % i for i in range(250)})
    page = alice_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(browser_path(bucket))

    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload folder").click()
    chooser.value.set_files(str(tmp_path / "many"))

    expect(tray(page)).to_be_visible()
    expect(summary(page)).to_have_text(re.compile(r"^\d+ of 250"))
    top = listing(page).bounding_box()["y"]
    assert top < 800, f"the listing starts {top}px down"
    expect(summary(page)).to_have_text("250 uploaded", timeout=60_000)
    expect(page.get_by_role("link", name="many/", exact=True)).to_be_visible()  # refreshed
    assert listing(page).bounding_box()["y"] == top  # the tray pushed nothing down
    box = tray(page).bounding_box()
    assert box["height"] < 400 and box["y"] + box["height"] <= 800  # fixed, compact
    expect(page.locator("#uploads li.upload.done")).to_have_count(250)
    assert Object.objects.filter(bucket=bucket).count() == 250
    assert stored_bytes(bucket, "many/file-249.txt") == b"249"

    page.get_by_role("button", name="Clear completed").click()
    expect(tray(page)).to_be_hidden()


def test_cancel_one_file_aborts_its_request_and_stores_nothing(alice_page: Page, bucket, tmp_path):
    make_tree(tmp_path, {"keep.txt": b"kept", "stop.txt": b"never stored"})
    page = alice_page
    page.goto(browser_path(bucket))
    held = Held()

    def hold_stop(route: Route) -> None:
        if b"stop.txt" in (route.request.post_data_buffer or b""):
            held(route)
        else:
            route.continue_()

    page.route(FILE_URL, hold_stop)
    pick_files(page, [tmp_path / "keep.txt", tmp_path / "stop.txt"])
    expect(row(page, "keep.txt").locator(".upload-status")).to_have_text("Uploaded")
    wait_for(page, lambda: len(held.routes) == 1)
    expect(summary(page)).to_have_text(re.compile(r"^1 of 2"))

    aborted = failed_requests(page)
    row(page, "stop.txt").get_by_role("button", name="Cancel stop.txt").click()
    expect(row(page, "stop.txt").locator(".upload-status")).to_have_text("Cancelled")
    wait_for(page, lambda: len(aborted) == 1)
    held.release()  # had the request not been aborted, the server would store it now
    expect(summary(page)).to_have_text("1 uploaded, 1 cancelled")
    page.wait_for_timeout(300)
    assert names(bucket) == ["keep.txt"]

    # A cancelled file can be sent again.
    page.unroute(FILE_URL)
    row(page, "stop.txt").get_by_role("button", name="Retry stop.txt").click()
    expect(row(page, "stop.txt").locator(".upload-status")).to_have_text("Uploaded")
    assert stored_bytes(bucket, "stop.txt") == b"never stored"


def test_cancel_a_chunked_upload_ends_its_session_on_the_server(alice_page: Page, bucket, tmp_path):
    data = random_file(tmp_path / "big.bin", 2 * MiB)
    page = alice_page
    page.goto(browser_path(bucket))
    set_chunking(page, threshold=1024, size=512 * 1024)
    held = hold_chunks_after_the_first(page)
    pick_files(page, [tmp_path / "big.bin"])
    wait_for(page, lambda: len(held.routes) == 1)
    session = UploadSession.objects.get(bucket=bucket)
    assert session.received == 512 * 1024 and session.name == "big.bin"

    page.get_by_role("button", name="Cancel big.bin").click()
    expect(row(page, "big.bin").locator(".upload-status")).to_have_text("Cancelled")
    wait_for(page, lambda: not UploadSession.objects.exists())
    held.release()
    assert names(bucket) == []
    assert page.evaluate("() => Object.keys(localStorage)") == []
    assert len(data) == 2 * MiB


def test_cancel_all(alice_page: Page, bucket, tmp_path):
    make_tree(tmp_path, {"one.txt": b"1", "two.txt": b"2"})
    page = alice_page
    page.goto(browser_path(bucket))
    held = Held()
    page.route(FILE_URL, held)
    pick_files(page, [tmp_path / "one.txt", tmp_path / "two.txt"])
    wait_for(page, lambda: len(held.routes) == 2)

    aborted = failed_requests(page)
    page.get_by_role("button", name="Cancel all").click()
    expect(summary(page)).to_have_text("0 uploaded, 2 cancelled")
    wait_for(page, lambda: len(aborted) == 2)
    held.release()
    page.wait_for_timeout(300)
    assert names(bucket) == []

    page.unroute(FILE_URL)
    page.get_by_role("button", name="Retry failed").click()
    expect(summary(page)).to_have_text("2 uploaded")
    assert names(bucket) == ["one.txt", "two.txt"]


def test_a_failed_file_can_be_retried(alice_page: Page, bucket, tmp_path, monkeypatch):
    real_upload = services.object_upload
    failures = {"left": 1}

    def fail_once(**kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise services.InsufficientStorage("The server is out of space just now.")
        return real_upload(**kwargs)

    monkeypatch.setattr(services, "object_upload", fail_once)
    make_tree(tmp_path, {"report.txt": b"the report"})
    page = alice_page
    page.goto(browser_path(bucket))
    pick_files(page, [tmp_path / "report.txt"])

    failed = row(page, "report.txt")
    expect(failed).to_have_class(re.compile(r"\bfailed\b"))
    expect(failed.get_by_role("alert")).to_have_text("The server is out of space just now.")
    expect(summary(page)).to_have_text("0 uploaded, 1 failed")
    assert names(bucket) == []

    failed.get_by_role("button", name="Retry report.txt").click()
    expect(failed.locator(".upload-status")).to_have_text("Uploaded")
    expect(summary(page)).to_have_text("1 uploaded")
    expect(file_row(page, "report.txt")).to_be_visible()
    assert stored_bytes(bucket, "report.txt") == b"the report"


# ---- asking before replacing -------------------------------------------------------------------


def answer_conflict(page: Page, name: str, choice: str, *, apply_to_all: bool = False) -> None:
    dialog = page.locator("dialog#upload-conflict")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".conflict-name")).to_have_text(name)
    if apply_to_all:
        dialog.get_by_role("checkbox").check()
    dialog.get_by_role("button", name=choice, exact=True).click()


def test_replace_keep_both_or_skip_an_existing_name(alice_page: Page, bucket, tmp_path):
    for name in ("a.txt", "b.txt", "c.txt"):
        put(bucket, name, b"old " + name.encode())
    make_tree(
        tmp_path,
        {"a.txt": b"new a", "b.txt": b"new b", "c.txt": b"new c", "d.txt": b"new d"},
    )
    page = alice_page
    page.goto(browser_path(bucket))
    pick_files(page, [tmp_path / name for name in ("a.txt", "b.txt", "c.txt", "d.txt")])

    answer_conflict(page, "a.txt", "Replace")
    answer_conflict(page, "b.txt", "Keep both")
    expect(page.locator("dialog#upload-conflict .conflict-free")).to_have_text("c (1).txt")
    answer_conflict(page, "c.txt", "Skip")
    expect(summary(page)).to_have_text("3 uploaded, 1 skipped")
    expect(row(page, "b (1).txt").locator(".upload-status")).to_have_text("Uploaded")
    expect(row(page, "c.txt").locator(".upload-status")).to_have_text("Skipped (the file exists)")

    assert names(bucket) == ["a.txt", "b (1).txt", "b.txt", "c.txt", "d.txt"]
    assert stored_bytes(bucket, "a.txt") == b"new a"
    assert stored_bytes(bucket, "b.txt") == b"old b.txt"
    assert stored_bytes(bucket, "b (1).txt") == b"new b"
    assert stored_bytes(bucket, "c.txt") == b"old c.txt"
    assert stored_bytes(bucket, "d.txt") == b"new d"


def test_keep_both_for_all(alice_page: Page, bucket, tmp_path):
    put(bucket, "x.txt", b"old x")
    put(bucket, "y.txt", b"old y")
    make_tree(tmp_path, {"x.txt": b"new x", "y.txt": b"new y"})
    page = alice_page
    page.goto(browser_path(bucket))
    pick_files(page, [tmp_path / "x.txt", tmp_path / "y.txt"])

    expect(page.locator("dialog#upload-conflict .conflict-all")).to_contain_text("other 1 ")
    answer_conflict(page, "x.txt", "Keep both", apply_to_all=True)
    expect(summary(page)).to_have_text("2 uploaded")
    expect(page.locator("dialog#upload-conflict")).to_be_hidden()
    assert names(bucket) == ["x (1).txt", "x.txt", "y (1).txt", "y.txt"]
    assert stored_bytes(bucket, "y (1).txt") == b"new y"


def test_a_name_taken_during_the_upload_is_asked_about_too(alice_page: Page, bucket, tmp_path):
    make_tree(tmp_path, {"late.txt": b"mine"})
    page = alice_page
    page.goto(browser_path(bucket))

    def store_first(route: Route) -> None:
        put(bucket, "late.txt", b"someone else's")  # between the check and the upload
        route.continue_()

    page.route(FILE_URL, store_first, times=1)
    pick_files(page, [tmp_path / "late.txt"])
    answer_conflict(page, "late.txt", "Keep both")
    expect(summary(page)).to_have_text("1 uploaded")
    assert stored_bytes(bucket, "late.txt") == b"someone else's"
    assert stored_bytes(bucket, "late (1).txt") == b"mine"


# ---- leaving, dropping, signing in again ----------------------------------------------------


def test_leaving_the_page_mid_upload_asks_first(alice_page: Page, bucket, tmp_path):
    make_tree(tmp_path, {"slow.txt": b"slow"})
    page = alice_page
    page.goto(browser_path(bucket))
    held = Held()
    page.route(FILE_URL, held)
    pick_files(page, [tmp_path / "slow.txt"])
    wait_for(page, lambda: len(held.routes) == 1)
    assert page.evaluate("() => window.objstore.uploads.busy()") is True

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.close(run_before_unload=True)
    wait_for(page, lambda: dialogs == ["beforeunload"] or page.is_closed())
    assert dialogs == ["beforeunload"]  # dismissed: the page stays, the upload goes on
    held.release()
    expect(summary(page)).to_have_text("1 uploaded")
    assert page.evaluate("() => window.objstore.uploads.busy()") is False


def test_drop_anywhere_on_a_long_folder_page(alice_page: Page, bucket, tmp_path, settings):
    settings.OBJSTORE_PAGE_SIZE = 200
    for i in range(120):
        put(bucket, f"row-{i:03}.txt", b"r")
    make_tree(tmp_path, {"dropped.txt": b"dropped at the bottom"})
    page = alice_page
    page.set_viewport_size({"width": 1280, "height": 700})
    page.goto(browser_path(bucket))
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    assert page.evaluate("() => window.scrollY") > 1000

    drag(page, 640, 350, [tmp_path / "dropped.txt"], drop=False)
    overlay = page.locator("#drop-overlay")
    expect(overlay).to_be_visible()
    box = overlay.bounding_box()
    assert 0 <= box["y"] < 700 and box["y"] + box["height"] <= 700  # in the viewport
    drag(page, 640, 350, [tmp_path / "dropped.txt"])
    expect(overlay).to_be_hidden()
    expect(summary(page)).to_have_text("1 uploaded")
    assert stored_bytes(bucket, "dropped.txt") == b"dropped at the bottom"


def test_drop_on_the_page_header_outside_the_listing(alice_page: Page, bucket, tmp_path):
    make_tree(tmp_path, {"head.txt": b"on the heading"})
    page = alice_page
    page.goto(browser_path(bucket))
    heading = page.get_by_role("heading", level=1).bounding_box()
    drag(page, heading["x"] + 5, heading["y"] + 5, [tmp_path / "head.txt"])
    expect(summary(page)).to_have_text("1 uploaded")
    assert stored_bytes(bucket, "head.txt") == b"on the heading"


def test_a_drop_outside_a_bucket_page_never_opens_the_file(alice_page: Page, bucket, tmp_path):
    make_tree(tmp_path, {"stray.txt": b"not for here"})
    page = alice_page
    for path in (reverse("bucket_list"), reverse("token_list")):
        page.goto(path)
        drag(page, 300, 300, [tmp_path / "stray.txt"])
        page.wait_for_timeout(300)
        assert urlsplit(page.url).path == path
    assert names(bucket) == []


def test_an_ended_session_leads_to_sign_in_and_back(
    page: Page, context, server, alice, bucket, tmp_path
):
    from .conftest import sign_in

    make_tree(tmp_path, {"late.txt": b"after signing in"})
    sign_in(context, server, alice)
    folder = browser_path(bucket, "inbox/")
    page.goto(folder)
    context.clear_cookies()  # the session ends (signed out elsewhere, or expired)

    pick_files(page, [tmp_path / "late.txt"])
    failed = row(page, "late.txt")
    expect(failed.get_by_role("alert")).to_have_text(
        "Your session has ended. Sign in again to upload."
    )
    assert "HTTP" not in failed.inner_text()
    link = page.get_by_role("link", name="Sign in again")
    expect(link).to_be_visible()
    link.click()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(folder) + "$"))
    pick_files(page, [tmp_path / "late.txt"])
    expect(summary(page)).to_have_text("1 uploaded")
    assert stored_bytes(bucket, "inbox/late.txt") == b"after signing in"


# ---- chunked uploads ---------------------------------------------------------------------------


def record_chunks(page: Page) -> list[int]:
    """The offset of every chunk request the page sends."""
    sent: list[int] = []

    def on_request(request) -> None:
        if CHUNK_URL.search(request.url):
            sent.append(offset_of(request.url))

    page.on("request", on_request)
    return sent


def test_a_40_mib_file_goes_in_8_mib_chunks(alice_page: Page, bucket, tmp_path):
    data = random_file(tmp_path / "video.bin", 40 * MiB)
    page = alice_page
    page.goto(browser_path(bucket, "media/"))
    sent = record_chunks(page)
    pick_files(page, [tmp_path / "video.bin"])
    expect(summary(page)).to_have_text("1 uploaded", timeout=60_000)
    assert sent == [i * 8 * MiB for i in range(5)]
    obj = services.object_get(bucket=bucket, name="media/video.bin")
    assert obj.size == len(data)
    assert hashlib.sha256(stored_bytes(bucket, "media/video.bin")).digest() == (
        hashlib.sha256(data).digest()
    )
    # Finished (kept until it expires, so that a retried last chunk is answered as done).
    assert not UploadSession.objects.filter(completed_generation=None).exists()
    assert page.evaluate("() => Object.keys(localStorage)") == []


def test_a_dropped_connection_mid_upload_is_retried(alice_page: Page, bucket, tmp_path):
    data = random_file(tmp_path / "flaky.bin", 3 * MiB)
    page = alice_page
    page.goto(browser_path(bucket))
    set_chunking(page, threshold=1024, size=MiB)
    dropped: list[int] = []

    def drop_second_once(route: Route) -> None:
        offset = offset_of(route.request.url)
        if offset == MiB and not dropped:
            dropped.append(offset)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(CHUNK_URL, drop_second_once)
    statuses: list[str] = []
    page.on(
        "request",
        lambda request: (
            statuses.append(request.url)
            if request.method == "GET" and "/uploads/sessions/" in request.url
            else None
        ),
    )
    pick_files(page, [tmp_path / "flaky.bin"])
    expect(summary(page)).to_have_text("1 uploaded", timeout=20_000)
    assert dropped == [MiB]
    assert statuses, "the page asked the server for its offset before resending"
    assert stored_bytes(bucket, "flaky.bin") == data


def test_an_interrupted_upload_resumes_after_a_reload(alice_page: Page, bucket, tmp_path):
    data = random_file(tmp_path / "resume.bin", 6 * MiB)
    page = alice_page
    page.goto(browser_path(bucket))
    set_chunking(page, threshold=1024, size=MiB)

    def only_three(route: Route) -> None:
        if offset_of(route.request.url) < 3 * MiB:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    page.route(CHUNK_URL, only_three)
    pick_files(page, [tmp_path / "resume.bin"])
    wait_for(
        page,
        lambda: UploadSession.objects.filter(bucket=bucket, received=3 * MiB).exists(),
        timeout=20,
    )
    expect(row(page, "resume.bin").locator(".upload-status")).to_contain_text("Connection lost")

    page.unroute(CHUNK_URL)
    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page?": yes
    page.reload()
    set_chunking(page, threshold=1024, size=MiB)
    sent = record_chunks(page)
    pick_files(page, [tmp_path / "resume.bin"])
    expect(summary(page)).to_have_text("1 uploaded", timeout=20_000)
    # Continued from the server's offset: the second attempt sent the last 3 MiB only.
    assert sent == [3 * MiB, 4 * MiB, 5 * MiB]
    assert stored_bytes(bucket, "resume.bin") == data
    # Finished (kept until it expires, so that a retried last chunk is answered as done).
    assert not UploadSession.objects.filter(completed_generation=None).exists()


def test_an_expired_session_starts_over(alice_page: Page, bucket, tmp_path):
    data = random_file(tmp_path / "old.bin", 2 * MiB)
    page = alice_page
    page.goto(browser_path(bucket))
    set_chunking(page, threshold=1024, size=MiB)
    page.route(
        CHUNK_URL,
        lambda route: (
            route.continue_()
            if offset_of(route.request.url) == 0
            else route.abort("internetdisconnected")
        ),
    )
    pick_files(page, [tmp_path / "old.bin"])
    wait_for(page, lambda: UploadSession.objects.filter(bucket=bucket, received=MiB).exists())
    UploadSession.objects.update(expires="2000-01-01T00:00:00Z")

    page.unroute(CHUNK_URL)
    page.on("dialog", lambda dialog: dialog.accept())
    page.reload()
    set_chunking(page, threshold=1024, size=MiB)
    sent = record_chunks(page)
    pick_files(page, [tmp_path / "old.bin"])
    expect(summary(page)).to_have_text("1 uploaded", timeout=20_000)
    assert sent == [0, MiB]  # the server forgot it: from the start
    assert stored_bytes(bucket, "old.bin") == data
