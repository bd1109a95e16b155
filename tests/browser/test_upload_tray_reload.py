"""The upload tray survives a reload: its rows are kept in sessionStorage (per bucket, never the
files), uploads the page was sending come back "Interrupted" with a Resume that asks for the file
again, and a chunked one then continues from the bytes the server has.
"""

import hashlib
import json
import re

import pytest
from playwright.sync_api import Page, expect

from objects import uploads
from objects.models import UploadSession

from .test_axe import axe_violations
from .test_pane import browser_path, make_tree, names, stored_bytes
from .test_uploads import (
    CHUNK_URL,
    FILE_URL,
    Held,
    MiB,
    hold_chunks_after_the_first,
    offset_of,
    pick_files,
    random_file,
    row,
    summary,
    tray,
    wait_for,
)

pytestmark = pytest.mark.browser


def stored_tray(page: Page, bucket) -> list[dict] | None:
    kept = page.evaluate(
        "(key) => sessionStorage.getItem(key)", f"objstore-tray:{bucket.bucket_id}"
    )
    return None if kept is None else json.loads(kept)


def reload_leaving_uploads(page: Page, held: Held) -> None:
    """Reload while uploads run, answering "leave the page?" with yes. The held requests never
    reach the server (unrouted, Playwright would send them on)."""
    page.once("dialog", lambda dialog: dialog.accept())
    page.reload()
    for route in held.routes:
        try:
            route.abort()
        except Exception:  # the reload ended it already
            pass
    page.unroute_all()


def chunks_received(monkeypatch) -> list[tuple[int, int]]:
    """(offset, length) of every chunk the server takes in (Chromium reports no body size for
    a Blob it sends, so the count is the server's)."""
    received: list[tuple[int, int]] = []
    real_append = uploads.session_append

    def append(**kwargs):
        received.append((kwargs["offset"], kwargs["length"]))
        return real_append(**kwargs)

    monkeypatch.setattr(uploads, "session_append", append)
    return received


def test_a_chunked_upload_interrupted_by_a_reload_resumes_from_the_tray(
    alice_page: Page, bucket, tmp_path, monkeypatch
):
    # The real threshold and chunk size (8 MiB): the first chunk goes through, the second is
    # held (a slow upload) when the page reloads.
    data = random_file(tmp_path / "movie.bin", 20 * MiB)
    make_tree(tmp_path / "other", {"movie.bin": b"another file of the same name"})
    page = alice_page
    page.goto(browser_path(bucket, "clips/"))
    held = hold_chunks_after_the_first(page)
    pick_files(page, [tmp_path / "movie.bin"])
    wait_for(page, lambda: len(held.routes) == 1, timeout=30)
    session = UploadSession.objects.get(bucket=bucket)
    assert (session.name, session.received) == ("clips/movie.bin", 8 * MiB)

    reload_leaving_uploads(page, held)
    sent = chunks_received(monkeypatch)

    interrupted = row(page, "movie.bin")
    expect(tray(page)).to_be_visible()
    expect(summary(page)).to_have_text("0 uploaded, 1 interrupted")
    expect(interrupted).to_have_class(re.compile(r"\binterrupted\b"))
    expect(interrupted.locator(".upload-status")).to_have_text(
        "Interrupted at 40% (8.0 MB on the server): pick the file again to resume"
    )
    resume = interrupted.get_by_role("button", name="Resume movie.bin")
    expect(resume).to_be_visible()
    assert axe_violations(page) == []
    # What is kept: the row's description and its session, never the file's bytes.
    (kept,) = stored_tray(page, bucket)
    assert kept["name"] == "clips/movie.bin" and kept["state"] == "interrupted"
    assert kept["size"] == len(data) and kept["uploadId"] == session.upload_id
    assert len(json.dumps(kept)) < 1000

    # Another file of the same name is refused: nothing is sent in its place.
    with page.expect_file_chooser() as chooser:
        resume.click()
    chooser.value.set_files(str(tmp_path / "other" / "movie.bin"))
    expect(interrupted.locator(".upload-status")).to_contain_text(
        "is not the file this row was uploading"
    )
    expect(interrupted).to_have_class(re.compile(r"\binterrupted\b"))
    assert sent == []

    with page.expect_file_chooser() as chooser:
        resume.click()
    chooser.value.set_files(str(tmp_path / "movie.bin"))
    expect(summary(page)).to_have_text("1 uploaded", timeout=30_000)
    expect(interrupted.locator(".upload-status")).to_have_text("Uploaded")

    # It resumed (continued at the server's 8 MiB), it did not restart.
    assert sent == [(8 * MiB, 8 * MiB), (16 * MiB, 4 * MiB)]
    assert sum(length for _, length in sent) == 12 * MiB < len(data)
    assert hashlib.sha256(stored_bytes(bucket, "clips/movie.bin")).hexdigest() == (
        hashlib.sha256(data).hexdigest()
    )
    assert not UploadSession.objects.filter(completed_generation=None).exists()
    wait_for(page, lambda: stored_tray(page, bucket)[0]["state"] == "done")  # saved soon after
    assert stored_tray(page, bucket)[0]["uploadId"] is None


def test_a_small_upload_interrupted_by_a_reload_is_sent_again(alice_page: Page, bucket, tmp_path):
    make_tree(tmp_path, {"note.txt": b"sent twice, stored once"})
    page = alice_page
    page.goto(browser_path(bucket))
    held = Held()
    page.route(FILE_URL, held)
    pick_files(page, [tmp_path / "note.txt"])
    wait_for(page, lambda: len(held.routes) == 1)

    reload_leaving_uploads(page, held)
    expect(row(page, "note.txt").locator(".upload-status")).to_have_text(
        "Interrupted: pick the file again to resume"
    )
    assert names(bucket) == []
    # Picking it again with "Upload files" also resumes the row rather than adding one.
    pick_files(page, [tmp_path / "note.txt"])
    expect(summary(page)).to_have_text("1 uploaded")
    expect(page.locator("#uploads li.upload")).to_have_count(1)
    assert stored_bytes(bucket, "note.txt") == b"sent twice, stored once"


def test_completed_rows_survive_a_reload_until_cleared(
    alice_page: Page, bucket, other_bucket, tmp_path
):
    make_tree(tmp_path, {"a.txt": b"a", "b.txt": b"b"})
    page = alice_page
    page.goto(browser_path(bucket))
    pick_files(page, [tmp_path / "a.txt", tmp_path / "b.txt"])
    expect(summary(page)).to_have_text("2 uploaded")

    page.reload()
    expect(summary(page)).to_have_text("2 uploaded")
    expect(row(page, "a.txt").locator(".upload-status")).to_have_text("Uploaded")
    expect(row(page, "b.txt").locator(".upload-status")).to_have_text("Uploaded")
    # Elsewhere in the same bucket too; not in another bucket.
    page.goto(browser_path(bucket, "sub/"))
    expect(summary(page)).to_have_text("2 uploaded")
    page.goto(browser_path(other_bucket))
    expect(tray(page)).to_be_hidden()
    page.go_back()
    expect(summary(page)).to_have_text("2 uploaded")

    page.get_by_role("button", name="Clear completed").click()
    expect(tray(page)).to_be_hidden()
    page.reload()
    expect(page.get_by_role("button", name="Upload files")).to_be_visible()
    page.wait_for_timeout(300)
    expect(tray(page)).to_be_hidden()
    assert stored_tray(page, bucket) is None


def test_cancel_and_dismiss_forget_an_interrupted_upload(alice_page: Page, bucket, tmp_path):
    random_file(tmp_path / "big.bin", 12 * MiB)
    page = alice_page
    page.goto(browser_path(bucket))
    held = Held()
    page.route(
        CHUNK_URL,
        lambda route: route.continue_() if offset_of(route.request.url) == 0 else held(route),
    )
    pick_files(page, [tmp_path / "big.bin"])
    wait_for(page, lambda: len(held.routes) == 1, timeout=30)
    reload_leaving_uploads(page, held)

    interrupted = row(page, "big.bin")
    interrupted.get_by_role("button", name="Cancel big.bin").click()
    expect(interrupted.locator(".upload-status")).to_have_text("Cancelled")
    wait_for(page, lambda: not UploadSession.objects.exists())
    expect(summary(page)).to_have_text("0 uploaded, 1 cancelled")

    page.reload()
    interrupted.get_by_role("button", name="Dismiss big.bin").click()
    expect(tray(page)).to_be_hidden()
    page.reload()
    page.wait_for_timeout(300)
    expect(tray(page)).to_be_hidden()
    assert stored_tray(page, bucket) is None
    assert names(bucket) == []
