"""Share links (issue 15): a file or a folder for anyone with the link, with expiry, password,
download limit and revoke; tokens stored hashed (objects/shares.py, objects/share_views.py)."""

import io
import logging
import re
import zipfile
from datetime import timedelta

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from objects import shares
from objects.models import ShareLink
from objstore_site.logpaths import HideShareTokens
from objstore_site.middleware import RequestLogMiddleware

from .conftest import put


def make(client, bucket, name: str, **data) -> str:
    """Make a link from the pane as its owner; returns its URL, as the page shows it once."""
    response = client.post(
        reverse("share_links", args=[bucket.bucket_id]), {"name": name, "expiry": "7d", **data}
    )
    assert response.status_code == 302, response.content[:500]
    page = client.get(response["Location"]).content.decode()
    url = re.search(r'id="new-link-url" class="copy-value">([^<]+)<', page).group(1)
    assert client.get(response["Location"]).content.decode().count(url) == 0  # shown once
    return url.replace("http://testserver", "")


@pytest.fixture
def files(bucket):
    put(bucket, "report.pdf", b"%PDF-1.4 report", content_type="application/pdf")
    put(bucket, "team/a.txt", b"alpha")
    put(bucket, "team/sub/b.txt", b"bravo")
    put(bucket, "private.txt", b"not shared")
    return bucket


def test_a_file_link_downloads_without_an_account_and_stores_only_a_hash(alice_client, files):
    url = make(alice_client, files, "report.pdf")
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 43
    link = ShareLink.objects.get()
    assert token not in link.token_hash and len(link.token_hash) == 64
    anonymous = Client()
    page = anonymous.get(url)
    assert page.status_code == 200 and "report.pdf" in page.content.decode()
    assert page["Referrer-Policy"] == "same-origin"
    download = anonymous.get(f"{url}/download")
    assert (
        download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.4 report"
    )
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert download["Content-Disposition"] == 'attachment; filename="report.pdf"'
    link.refresh_from_db()
    assert link.downloads == 1
    # It opens nothing else: no other file, no folder listing.
    assert anonymous.get(f"{url}/download", {"name": "private.txt"}).status_code == 200
    assert b"".join(anonymous.get(f"{url}/download", {"name": "x"}).streaming_content) == (
        b"%PDF-1.4 report"
    )
    assert anonymous.get(f"{url}/zip").status_code == 404


def test_a_folder_link_browses_and_downloads_only_inside_the_folder(alice_client, files):
    url = make(alice_client, files, "team/")
    anonymous = Client()
    page = anonymous.get(url).content.decode()
    assert "a.txt" in page and "sub/" in page and "private.txt" not in page
    sub = anonymous.get(url, {"path": "sub/"}).content.decode()
    assert "b.txt" in sub and "a.txt" not in sub
    got = anonymous.get(f"{url}/download", {"name": "sub/b.txt"})
    assert b"".join(got.streaming_content) == b"bravo"
    for outside in ("../private.txt", "../../private.txt", "/private.txt"):
        assert anonymous.get(f"{url}/download", {"name": outside}).status_code == 404
    archive = anonymous.get(f"{url}/zip")
    assert archive["Content-Disposition"] == 'attachment; filename="team.zip"'
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert names == ["a.txt", "sub/b.txt"]
    assert ShareLink.objects.get().downloads == 2


def test_a_download_limit_is_kept_even_by_racing_downloads(alice_client, files):
    url = make(alice_client, files, "report.pdf", max_downloads="2")
    anonymous = Client()
    assert anonymous.get(f"{url}/download").status_code == 200
    assert anonymous.get(f"{url}/download").status_code == 200
    used = anonymous.get(f"{url}/download")
    assert (
        used.status_code == 410
        and "as many downloads as its owner allowed" in used.content.decode()
    )
    link = ShareLink.objects.get()
    assert link.downloads == 2 and not shares.share_count_download(link)


def test_expired_and_revoked_links_answer_a_clear_page_never_the_bytes(alice_client, files):
    url = make(alice_client, files, "report.pdf")
    link = ShareLink.objects.get()
    ShareLink.objects.filter(pk=link.pk).update(expires=timezone.now() - timedelta(seconds=1))
    anonymous = Client()
    for path in (url, f"{url}/download"):
        gone = anonymous.get(path)
        assert gone.status_code == 410 and "It has expired." in gone.content.decode()
    ShareLink.objects.filter(pk=link.pk).update(expires=None)
    assert anonymous.get(f"{url}/download").status_code == 200
    revoke = alice_client.post(reverse("share_revoke", args=[files.bucket_id, link.pk]))
    assert revoke.status_code == 302
    gone = anonymous.get(f"{url}/download")
    assert gone.status_code == 410 and "revoked" in gone.content.decode()
    assert Client().get("/s/not-a-real-token").status_code == 404


def test_a_password_is_asked_once_per_session_and_wrong_guesses_are_throttled(
    alice_client, files, settings
):
    settings.OBJSTORE_LOGIN_MAX_FAILURES = 3
    url = make(alice_client, files, "report.pdf", password="s3cret")
    assert ShareLink.objects.get().password_hash.startswith(("pbkdf2", "argon2", "md5"))
    anonymous = Client()
    asked = anonymous.get(url)
    assert asked.status_code == 200 and 'type="password"' in asked.content.decode()
    assert anonymous.get(f"{url}/download").status_code == 302  # to the password page
    for _ in range(3):
        wrong = anonymous.post(url, {"password": "guess"})
        assert wrong.status_code == 403 and "That is not the password." in wrong.content.decode()
    locked = anonymous.post(url, {"password": "s3cret"})  # right, but too many wrong before
    assert locked.status_code == 429 and "Too many" in locked.content.decode()

    other = Client()
    assert other.post(url, {"password": "s3cret"}).status_code in (302, 429)


def test_the_right_password_opens_the_link(alice_client, files):
    url = make(alice_client, files, "team/", password="s3cret")
    anonymous = Client()
    assert anonymous.post(url, {"password": "s3cret"}).status_code == 302
    assert "a.txt" in anonymous.get(url).content.decode()
    assert anonymous.get(f"{url}/zip").status_code == 200


def test_the_owner_lists_links_with_counts_and_only_they_can(alice_client, charlie_client, files):
    make(alice_client, files, "report.pdf", max_downloads="5")
    page = alice_client.get(reverse("share_links", args=[files.bucket_id])).content.decode()
    assert "report.pdf" in page and "0 of 5" in page and "Revoke" in page
    assert charlie_client.get(reverse("share_links", args=[files.bucket_id])).status_code == 404
    link = ShareLink.objects.get()
    assert (
        charlie_client.post(reverse("share_revoke", args=[files.bucket_id, link.pk])).status_code
        == 404
    )
    assert ShareLink.objects.get().revoked is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"name": "missing.txt"}, "There is no file named"),
        ({"name": "empty/"}, "holds nothing to share"),
        ({"name": "report.pdf", "expiry": "forever"}, "Choose when the link expires."),
        ({"name": "report.pdf", "max_downloads": "0"}, "from 1 to"),
        ({"name": "report.pdf", "max_downloads": "-3"}, "whole number"),
        ({"name": "report.pdf", "password": "p" * 129}, "longer than 128"),
    ],
)
def test_bad_links_are_refused_and_nothing_is_made(alice_client, files, data, reason):
    response = alice_client.post(
        reverse("share_links", args=[files.bucket_id]), {"expiry": "7d", **data}
    )
    assert response.status_code == 400 and reason in response.content.decode()
    assert not ShareLink.objects.exists()


def test_the_request_log_never_holds_a_token(rf, caplog):
    token = "mRljM00dyTDU21PotnZZ9LTXNZd-URUgXLVtXA_yMWg"
    middleware = RequestLogMiddleware(lambda request: HttpResponse())
    with caplog.at_level(logging.INFO, logger="objstore.requests"):
        middleware(rf.get(f"/s/{token}/download"))
        middleware(rf.get(f"/s/{token}"))
    messages = [r.getMessage() for r in caplog.records if r.name == "objstore.requests"]
    assert [m.split(" ")[1] for m in messages] == ["/s/mRlj.../download", "/s/mRlj..."]
    assert all(token not in message for message in messages)


def test_no_log_line_holds_a_token_whole():
    token = "mRljM00dyTDU21PotnZZ9LTXNZd-URUgXLVtXA_yMWg"
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Forbidden: %s", (f"/s/{token}",), None
    )
    assert HideShareTokens().filter(record)
    assert record.getMessage() == "Forbidden: /s/mRlj..."
