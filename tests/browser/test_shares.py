"""Share links in Chromium (issue 15): share a file from its Details page with a password and a
download limit, open the link in a browser with no account, revoke it; share a folder."""

import re
import zipfile

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from ..conftest import put
from .test_pane import browser_path
from .test_versions import csp_violations  # noqa: F401 (a fixture)


@pytest.mark.usefixtures("csp_violations")
def test_share_a_file_with_a_password_open_it_elsewhere_then_revoke(
    alice_page: Page, browser, server, bucket, context, tmp_path
):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = alice_page
    put(bucket, "plans/q3.txt", b"the plan")
    page.goto(reverse("object_details", args=[bucket.bucket_id]) + "?name=plans/q3.txt")
    page.get_by_role("link", name="Share", exact=True).click()
    expect(page.get_by_role("heading", name="Share “plans/q3.txt”")).to_be_visible()
    page.get_by_label("Expires after").select_option(label="1 day")
    page.get_by_label("Password (optional)").fill("open sesame")
    page.get_by_label("Download limit (optional)").fill("1")
    page.get_by_role("button", name="Make the link").click()
    page.get_by_role("button", name="Copy link").click()
    url = page.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(rf"{re.escape(server.url)}/s/[A-Za-z0-9_-]{{43}}", url), url
    links = page.get_by_role("table")
    expect(links).to_contain_text("plans/q3.txt")
    expect(links).to_contain_text("0 of 1")

    # Someone with the link, and no account.
    stranger = browser.new_context()
    try:
        other = stranger.new_page()
        other.goto(url)
        expect(other.get_by_role("heading", name="Password needed")).to_be_visible()
        other.get_by_label("Password").fill("wrong")
        other.get_by_label("Password").press("Enter")
        expect(other.get_by_role("alert")).to_have_text("That is not the password.")
        other.get_by_label("Password").fill("open sesame")
        other.get_by_label("Password").press("Enter")
        expect(other.get_by_role("heading", name="q3.txt")).to_be_visible()
        with other.expect_download() as info:
            other.get_by_role("link", name="Download").click()
        info.value.save_as(tmp_path / "q3.txt")
        assert (tmp_path / "q3.txt").read_bytes() == b"the plan"
        other.reload()  # one download allowed: used up
        expect(other.get_by_role("heading", name="This link opens nothing")).to_be_visible()
        expect(other.get_by_role("main")).to_contain_text("as many downloads as its owner allowed")
    finally:
        stranger.close()

    page.reload()
    expect(page.get_by_role("table")).to_contain_text("1 of 1")
    page.get_by_role("button", name="Revoke the link to plans/q3.txt").click()
    expect(page.locator("#toast-status, .messages")).to_contain_text("Revoked the link")
    expect(page.get_by_role("table")).to_contain_text("Revoked")


@pytest.mark.usefixtures("csp_violations")
def test_share_a_folder_browse_it_and_download_it_as_a_zip(
    alice_page: Page, browser, bucket, tmp_path
):
    page = alice_page
    put(bucket, "trip/day1/photo.jpg", b"jpeg")
    put(bucket, "trip/notes.md", b"# notes")
    put(bucket, "secret.txt", b"no")
    page.goto(browser_path(bucket, "trip/"))
    page.get_by_role("link", name="Share this folder").click()
    page.get_by_role("button", name="Make the link").click()
    url = page.locator("#new-link-url").text_content()

    stranger = browser.new_context()
    try:
        other = stranger.new_page()
        other.goto(url)
        expect(other.get_by_role("heading", name="trip/")).to_be_visible()
        expect(other.get_by_role("main")).not_to_contain_text("secret.txt")
        other.get_by_role("link", name="day1/").click()
        expect(other.get_by_role("link", name="Download photo.jpg")).to_be_visible()
        other.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="trip/").click()
        with other.expect_download() as info:
            other.get_by_role("link", name="Download all as a zip").click()
        info.value.save_as(tmp_path / "trip.zip")
        with zipfile.ZipFile(tmp_path / "trip.zip") as archive:
            assert archive.namelist() == ["day1/photo.jpg", "notes.md"]
    finally:
        stranger.close()
