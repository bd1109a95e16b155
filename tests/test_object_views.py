from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from objects import services
from objects.models import Object, ObjectVersion
from objects.templatetags.pane import row_id

from .conftest import TEST_STORAGE, put, read, stored_blobs
from .streams import SERVICE_PEAK_LIMIT, GeneratedStream, MiB, drain, traced_peak


def browser_url(bucket, prefix=""):
    url = reverse("object_browser", args=[bucket.bucket_id])
    return f"{url}?prefix={prefix}" if prefix else url


def upload_url(bucket):
    return reverse("object_upload", args=[bucket.bucket_id])


# ---- browsing -------------------------------------------------------------------------------


def test_the_objects_tab_lists_folders_then_files_with_details(alice_client, bucket):
    put(bucket, "zeta.txt", b"z" * 2048, content_type="text/plain")
    put(bucket, "alpha/one.png", b"png")
    put(bucket, "beta/", b"")
    response = alice_client.get(browser_url(bucket))
    assert response.status_code == 200
    text = response.text
    assert text.index("alpha/") < text.index("beta/") < text.index("zeta.txt")
    assert "2.0\xa0KB" in text and "text/plain" in text
    assert 'aria-label="Delete zeta.txt"' in text
    assert 'aria-label="Delete alpha/"' in text
    assert 'aria-label="Download zeta.txt"' in text
    assert 'aria-label="Versions of zeta.txt"' in text


def test_a_folder_shows_breadcrumbs_and_hides_its_own_placeholder(alice_client, bucket):
    put(bucket, "photos/2024/", b"")
    put(bucket, "photos/2024/cat.png", b"meow")
    response = alice_client.get(browser_url(bucket, "photos/2024/"))
    text = response.text
    assert '<nav class="crumbs" aria-label="Breadcrumb">' in text
    assert f'href="{browser_url(bucket, "photos%2F")}"' in text
    assert 'aria-current="page">2024</a>' in text
    assert "cat.png" in text
    assert 'aria-label="Delete 2024/"' not in text  # the folder is not listed inside itself


def test_an_empty_bucket_invites_a_drop(alice_client, bucket):
    text = alice_client.get(browser_url(bucket)).text
    assert "This bucket is empty." in text and "Drag and drop" in text


def test_the_listing_is_paged_with_load_more(alice_client, bucket, settings):
    settings.OBJSTORE_PAGE_SIZE = 2
    for name in ["a", "b", "c"]:
        put(bucket, name)
    first = alice_client.get(browser_url(bucket))
    assert "Load more" in first.text
    token = first.context["next_url"].split("page_token=")[1]
    more = alice_client.get(f"{browser_url(bucket)}?page_token={token}", HTTP_HX_REQUEST="true")
    assert "Load more" not in more.text
    assert ">c</span>" in more.text and ">a</span>" not in more.text
    assert "<html" not in more.text  # only rows come back to htmx


def test_a_bad_page_token_falls_back_to_the_first_page(alice_client, bucket):
    put(bucket, "a")
    response = alice_client.get(f"{browser_url(bucket)}?page_token=garbage!!")
    assert response.status_code == 200 and ">a</span>" in response.text


def test_names_with_html_are_escaped(alice_client, bucket):
    put(bucket, "<img src=x onerror=alert(1)>.txt")
    put(bucket, '"><script>alert(2)</script>/x')
    text = alice_client.get(browser_url(bucket)).text
    assert "<img src=x" not in text and "<script>alert(2)" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in text


def test_outsiders_and_anonymous_visitors_see_nothing(client, charlie_client, bucket):
    put(bucket, "secret.txt")
    assert charlie_client.get(browser_url(bucket)).status_code == 404
    response = client.get(browser_url(bucket))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# ---- uploads ----------------------------------------------------------------------------------


def test_upload_several_files_from_a_plain_form(alice_client, bucket):
    files = [
        SimpleUploadedFile("a.txt", b"aaa", "text/plain"),
        SimpleUploadedFile("b.bin", b"\x00\x01"),
    ]
    response = alice_client.post(upload_url(bucket), {"files": files, "prefix": "docs/"})
    assert response.status_code == 302
    assert response["Location"] == browser_url(bucket, "docs%2F")
    assert read(services.object_get(bucket=bucket, name="docs/a.txt")) == b"aaa"
    assert services.object_get(bucket=bucket, name="docs/a.txt").content_type == "text/plain"
    assert read(services.object_get(bucket=bucket, name="docs/b.bin")) == b"\x00\x01"


def test_the_script_uploads_one_file_with_its_relative_path(alice_client, bucket):
    response = alice_client.post(
        upload_url(bucket),
        {
            "files": SimpleUploadedFile("b.txt", b"bee"),
            "paths": "myfolder/sub/b.txt",
            "prefix": "here/",
        },
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert response.json() == {"results": [{"name": "here/myfolder/sub/b.txt", "size": 3}]}
    assert read(services.object_get(bucket=bucket, name="here/myfolder/sub/b.txt")) == b"bee"


def test_uploading_an_existing_name_replaces_it(alice_client, bucket):
    put(bucket, "a.txt", b"old")
    alice_client.post(upload_url(bucket), {"files": SimpleUploadedFile("a.txt", b"new")})
    assert read(services.object_get(bucket=bucket, name="a.txt")) == b"new"
    assert Object.objects.filter(bucket=bucket).count() == 1


def test_an_invalid_name_gets_a_clear_error(alice_client, bucket, blob_dir):
    response = alice_client.post(
        upload_url(bucket),
        {"files": SimpleUploadedFile("x", b"1"), "paths": "a\nb"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert "carriage return or line feed" in response.json()["results"][0]["error"]
    assert not Object.objects.exists() and stored_blobs(blob_dir) == []


def test_an_oversize_upload_gets_a_clear_error_and_changes_nothing(
    alice_client, bucket, blob_dir, settings
):
    settings.OBJSTORE_MAX_OBJECT_SIZE = 4
    original = put(bucket, "a.txt", b"ok")
    response = alice_client.post(
        upload_url(bucket),
        {"files": SimpleUploadedFile("a.txt", b"too large")},
        HTTP_ACCEPT="application/json",
    )
    # Refused while the body was read: the file never reached the view's loop.
    assert response.status_code == 413
    assert "larger than the upload limit of 4\xa0bytes" in response.json()["error"]
    assert read(services.object_get(bucket=bucket, name="a.txt")) == b"ok"
    assert stored_blobs(blob_dir) == [original.blob_key]


def test_an_upload_without_files_says_so(alice_client, bucket):
    response = alice_client.post(upload_url(bucket), {}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "Choose at least one file" in response.json()["error"]


def test_outsiders_cannot_upload(charlie_client, client, bucket):
    assert (
        charlie_client.post(
            upload_url(bucket), {"files": SimpleUploadedFile("a", b"1")}
        ).status_code
        == 404
    )
    assert (
        client.post(upload_url(bucket), {"files": SimpleUploadedFile("a", b"1")}).status_code == 302
    )
    assert not Object.objects.exists()


def test_upload_is_post_only_and_csrf_protected(alice, alice_client, bucket):
    assert alice_client.get(upload_url(bucket)).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert (
        strict.post(upload_url(bucket), {"files": SimpleUploadedFile("a", b"1")}).status_code == 403
    )
    assert not Object.objects.exists()


def test_a_folder_of_500_files_fits_in_one_plain_form_post(alice_client, bucket):
    files = [SimpleUploadedFile(f"f{i:03}.txt", b"%d" % i) for i in range(500)]
    response = alice_client.post(upload_url(bucket), {"files": files})
    assert response.status_code == 302
    assert Object.objects.filter(bucket=bucket).count() == 500


class MultipartBody:
    """A multipart/form-data request body with one file, made up as the server reads it (the
    test client's own encoder would build the whole body in memory first)."""

    boundary = "objstore-test-boundary"

    def __init__(self, field: str, filename: str, content: GeneratedStream) -> None:
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self._content = content
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.length = len(self._head) + content.size + len(self._tail)

    def read(self, size: int = -1, /) -> bytes:
        assert size is not None and size > 0, "the whole request body was asked for at once"
        if self._head:
            data, self._head = self._head[:size], self._head[size:]
            return data
        if self._content.position < self._content.size:
            return self._content.read(size)
        data, self._tail = self._tail[:size], self._tail[size:]
        return data

    def readline(self, size: int = -1, /) -> bytes:
        raise AssertionError("a multipart body is not read by lines")


def test_a_large_upload_and_download_stream_through_the_pane(alice_client, bucket):
    # 64 MiB through the upload view (Django's multipart parser spools it to a temporary file)
    # and back through the download view, each within a few chunks' worth of memory.
    size, limit = 64 * MiB, SERVICE_PEAK_LIMIT[TEST_STORAGE]
    source = GeneratedStream(size)
    body = MultipartBody("files", "big.bin", source)
    with traced_peak() as upload:
        response = alice_client.generic(
            "POST",
            upload_url(bucket),
            HTTP_ACCEPT="application/json",
            CONTENT_TYPE=f"multipart/form-data; boundary={body.boundary}",
            CONTENT_LENGTH=str(body.length),
            **{"wsgi.input": body},
        )
    assert response.status_code == 200, response.content
    assert response.json() == {"results": [{"name": "big.bin", "size": size}]}
    assert upload.bytes < limit, f"the upload peaked at {upload.mib:.1f} MiB"
    obj = services.object_get(bucket=bucket, name="big.bin")
    assert (obj.size, obj.md5_hash, obj.crc32c) == (size, source.md5_b64, source.crc32c_b64)

    with traced_peak() as download:
        response = alice_client.get(
            reverse("object_download", args=[bucket.bucket_id]), {"name": "big.bin"}
        )
        assert response.status_code == 200 and response["Content-Length"] == str(size)
        received = drain(response.streaming_content)
        response.close()
    assert (received.size, received.md5_b64) == (size, source.md5_b64)
    assert received.largest_chunk <= services.CHUNK_SIZE
    assert download.bytes < limit, f"the download peaked at {download.mib:.1f} MiB"


# ---- folders ----------------------------------------------------------------------------------


def test_create_folder_with_htmx_returns_the_fresh_listing(alice_client, bucket):
    response = alice_client.post(
        reverse("folder_create", args=[bucket.bucket_id]),
        {"name": "reports", "prefix": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert (
        'id="listing"' in response.text
        and "reports/" in response.text
        and "<html" not in response.text
    )
    assert services.object_get(bucket=bucket, name="reports/").size == 0


def test_create_folder_inside_a_folder_without_javascript(alice_client, bucket):
    response = alice_client.post(
        reverse("folder_create", args=[bucket.bucket_id]), {"name": "2024", "prefix": "photos/"}
    )
    assert response.status_code == 302
    assert Object.objects.filter(bucket=bucket, name="photos/2024/").exists()


@pytest.mark.parametrize(
    "name, error",
    [
        ("", "Give the folder a name."),
        ("/", "Give the folder a name."),
        ("a\nb", "carriage return or line feed"),
        ("..", "cannot be named “.” or “..”"),
        (".", "cannot be named “.” or “..”"),
        ("a/../b", "cannot be named “.” or “..”"),
        ("a//b", "cannot contain an empty part"),
        ("/etc", "cannot start with “/”"),
    ],
)
def test_create_folder_refuses_bad_names_in_its_form(alice_client, bucket, name, error):
    response = alice_client.post(
        reverse("folder_create", args=[bucket.bucket_id]), {"name": name}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    # The form comes back in place, with what was typed and the error tied to the field.
    assert response["HX-Retarget"] == "#folder-form" and response["HX-Reswap"] == "outerHTML"
    assert 'id="folder-error" class="field-error">' in response.text and error in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'aria-describedby="folder-error folder-where"' in response.text
    assert not Object.objects.exists()


def test_the_api_keeps_gcs_names_that_the_folder_form_refuses(alice_client, bucket):
    # Folder-only rules: objects named so stay valid (GCS allows them).
    put(bucket, "a//b.txt")
    put(bucket, "../x.txt")
    assert Object.objects.count() == 2


def test_create_folder_keeps_the_typed_name_after_an_error(alice_client, bucket):
    response = alice_client.post(
        reverse("folder_create", args=[bucket.bucket_id]),
        {"name": "a//b", "prefix": ""},
        HTTP_HX_REQUEST="true",
    )
    assert 'value="a//b"' in response.text


def test_create_an_existing_folder_says_it_exists(alice_client, bucket):
    put(bucket, "photos/cat.png")  # a folder by its contents only, no placeholder
    for name in ["photos", "photos/"]:
        response = alice_client.post(
            reverse("folder_create", args=[bucket.bucket_id]),
            {"name": name},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 409
        assert "A folder named “photos” already exists here." in response.text
        assert "Created folder" not in response.text
    assert list(Object.objects.values_list("name", flat=True)) == ["photos/cat.png"]


def test_create_folder_without_javascript_reports_errors_after_a_redirect(alice_client, bucket):
    response = alice_client.post(
        reverse("folder_create", args=[bucket.bucket_id]), {"name": ".."}, follow=True
    )
    assert response.redirect_chain[-1][1] == 302
    assert "cannot be named “.” or “..”" in response.text
    assert not Object.objects.exists()


def test_create_a_nested_folder(alice_client, bucket):
    alice_client.post(reverse("folder_create", args=[bucket.bucket_id]), {"name": "a/b/"})
    assert list(Object.objects.values_list("name", flat=True)) == ["a/b/"]


@pytest.mark.django_db(transaction=True)
def test_delete_a_folder_leaves_its_lookalike_alone(alice_client, bucket, blob_dir):
    for name in ["photos/2024/a.png", "photos/2024/b/c.png", "photos/2024-old/d.png"]:
        put(bucket, name)
    response = alice_client.post(
        reverse("folder_delete", args=[bucket.bucket_id]),
        {"folder": "photos/2024/", "prefix": "photos/", "confirmed": "yes"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Deleted folder “photos/2024/” and 2 objects." in response.text
    # Only the row goes (the answer holds no listing): the message is a toast, out of band.
    assert 'id="listing"' not in response.text and "<tr" not in response.text
    assert 'id="toast-status" class="toast-region" role="status"' in response.text
    assert '<span id="listing-total" hx-swap-oob="true">of 1</span>' in response.text
    assert list(Object.objects.values_list("name", flat=True)) == ["photos/2024-old/d.png"]
    # New buckets keep deleted files for 7 days: the two are soft-deleted, bytes and all.
    assert sorted(
        ObjectVersion.objects.filter(state=ObjectVersion.SOFT_DELETED).values_list(
            "name", flat=True
        )
    ) == ["photos/2024/a.png", "photos/2024/b/c.png"]
    assert len(stored_blobs(blob_dir)) == 3
    assert ">Undo</button>" in response.text


def test_delete_without_javascript_asks_first(alice_client, bucket):
    put(bucket, "photos/a.png")
    response = alice_client.post(
        reverse("folder_delete", args=[bucket.bucket_id]), {"folder": "photos/"}
    )
    assert response.status_code == 200
    assert (
        "Delete the folder “photos/”?" in response.text and "This deletes 1 object" in response.text
    )
    assert "Deleted files can be restored for 7 days." in response.text
    assert Object.objects.count() == 1
    response = alice_client.post(
        reverse("object_delete", args=[bucket.bucket_id]), {"name": "photos/a.png"}
    )
    assert "Deleted files can be restored for 7 days." in response.text
    assert "cannot be undone" not in response.text and Object.objects.count() == 1


def test_the_confirmation_says_so_when_the_bucket_keeps_nothing(alice_client, bucket):
    bucket.soft_delete_seconds = 0
    bucket.save()
    put(bucket, "a.png")
    response = alice_client.post(
        reverse("object_delete", args=[bucket.bucket_id]), {"name": "a.png"}
    )
    assert "This cannot be undone." in response.text and Object.objects.count() == 1


def test_with_htmx_the_confirmation_comes_as_a_dialog_with_the_count(alice_client, bucket):
    for name in ["photos/a.png", "photos/b/c.png", "photos-old/d.png"]:
        put(bucket, name)
    response = alice_client.post(
        reverse("folder_delete", args=[bucket.bucket_id]),
        {"folder": "photos/", "prefix": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#confirm-dialog" and response["HX-Reswap"] == "innerHTML"
    text = response.text
    assert "<html" not in text
    assert 'id="confirm-dialog-title">Delete the folder “photos/”?' in text
    assert "This deletes 2 objects under it. Deleted files can be restored for 7 days." in text
    assert 'name="confirmed" value="yes"' in text
    # The confirmed delete replaces the folder's row only.
    assert f'hx-target="#{row_id("photos/")}"' in text
    assert Object.objects.count() == 3
    listing = alice_client.get(browser_url(bucket)).text
    assert (
        f'<tr class="folder-row" id="{row_id("photos/")}" draggable="true" data-move-to="photos/">'
        in listing
    )


def test_the_listing_counts_its_entries(alice_client, bucket, settings):
    settings.OBJSTORE_PAGE_SIZE = 2
    for name in ["a", "b", "c", "d/e", "d/f/g"]:
        put(bucket, name)
    text = alice_client.get(browser_url(bucket)).text
    # a, b, c and the folder d/: four entries, two shown.
    assert '<span id="listing-shown">2</span> <span id="listing-total">of 4</span>' in text
    inside = alice_client.get(browser_url(bucket, "d/")).text
    assert '<span id="listing-shown">2</span> <span id="listing-total">of 2</span>' in inside


@pytest.mark.parametrize(
    "limit, names",
    [
        ("COUNT_FILES_LIMIT", ["a", "b", "c", "d"]),
        ("COUNT_FOLDERS_LIMIT", ["a/x", "b/x", "c/x", "d/x"]),
    ],
)
def test_a_huge_folder_is_not_counted(alice_client, bucket, settings, monkeypatch, limit, names):
    from objects import browse

    monkeypatch.setattr(browse, limit, 3)
    settings.OBJSTORE_PAGE_SIZE = 2
    for name in names:
        put(bucket, name)
    text = alice_client.get(browser_url(bucket)).text
    assert (
        '<span id="listing-shown">2</span> <span id="listing-total">shown, more below</span>'
        in text
    )


def test_shown_in_the_address_renders_as_many_rows_again(alice_client, bucket, settings):
    settings.OBJSTORE_PAGE_SIZE = 2
    for name in ["a", "b", "c", "d", "e"]:
        put(bucket, name)
    first = alice_client.get(browser_url(bucket))
    more = alice_client.get(first.context["next_url"], HTTP_HX_REQUEST="true")
    # After "Load more" the address says how many rows the page shows now...
    assert more["HX-Replace-Url"] == f"{browser_url(bucket)}?shown=4"
    # ...and that address shows them all again, with "Load more" for the rest.
    again = alice_client.get(more["HX-Replace-Url"]).text
    assert all(f">{n}</span>" in again for n in "abcd") and ">e</span>" not in again
    assert '<span id="listing-shown">4</span> <span id="listing-total">of 5</span>' in again
    assert "Load more" in again
    # Bounded: no address makes a listing render more than a thousand rows at once.
    assert alice_client.get(f"{browser_url(bucket)}?shown=99999999").context["shown_count"] == 5


def test_an_htmx_request_without_a_session_is_sent_to_sign_in_and_back(client, bucket):
    put(bucket, "a.txt")
    page = f"http://testserver{browser_url(bucket, 'docs/')}&shown=300"
    response = client.post(
        reverse("object_delete", args=[bucket.bucket_id]),
        {"name": "a.txt", "confirmed": "yes"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=page,
    )
    assert response.status_code == 200 and response.content == b""
    assert response["HX-Redirect"] == (
        "/accounts/login/?next=" + quote(f"{browser_url(bucket, 'docs/')}&shown=300", safe="")
    )
    # Another site's address is no place to come back to.
    response = client.get(
        browser_url(bucket), HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://evil.example/x"
    )
    assert response["HX-Redirect"].startswith("/accounts/login/?next=%2Fbuckets%2F")
    assert Object.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_delete_a_file(alice_client, bucket, blob_dir):
    deleted = put(bucket, "a.txt", b"deleted bytes")
    kept = put(bucket, "b.txt")
    response = alice_client.post(
        reverse("object_delete", args=[bucket.bucket_id]), {"name": "a.txt", "confirmed": "yes"}
    )
    assert response.status_code == 302
    assert list(Object.objects.values_list("name", flat=True)) == ["b.txt"]
    # Soft delete keeps the generation, and its bytes, until its retention ends.
    version = ObjectVersion.objects.get(name="a.txt")
    assert version.state == ObjectVersion.SOFT_DELETED
    assert version.generation == deleted.generation and read(version) == b"deleted bytes"
    assert stored_blobs(blob_dir) == sorted([kept.blob_key, deleted.blob_key])


@pytest.mark.django_db(transaction=True)
def test_delete_a_file_with_soft_delete_off_frees_its_bytes(alice_client, bucket, blob_dir):
    bucket.soft_delete_seconds = 0
    bucket.save()
    put(bucket, "a.txt")
    kept = put(bucket, "b.txt")
    response = alice_client.post(
        reverse("object_delete", args=[bucket.bucket_id]),
        {"name": "a.txt", "confirmed": "yes"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert list(Object.objects.values_list("name", flat=True)) == ["b.txt"]
    assert not ObjectVersion.objects.exists()
    assert stored_blobs(blob_dir) == [kept.blob_key]
    assert "Undo" not in response.text  # nothing is kept, so nothing to undo


def test_deleting_a_missing_file_says_so(alice_client, bucket):
    response = alice_client.post(
        reverse("object_delete", args=[bucket.bucket_id]),
        {"name": "gone", "confirmed": "yes"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 404 and "no longer exists" in response.text
    assert 'id="toast-alerts" class="toast-region" role="alert" hx-swap-oob="innerHTML"' in (
        response.text
    )


def test_outsiders_cannot_delete(charlie_client, bucket):
    put(bucket, "a.txt")
    put(bucket, "f/b.txt")
    assert (
        charlie_client.post(
            reverse("object_delete", args=[bucket.bucket_id]), {"name": "a.txt", "confirmed": "yes"}
        ).status_code
        == 404
    )
    assert (
        charlie_client.post(
            reverse("folder_delete", args=[bucket.bucket_id]), {"folder": "f/", "confirmed": "yes"}
        ).status_code
        == 404
    )
    assert (
        charlie_client.post(
            reverse("folder_create", args=[bucket.bucket_id]), {"name": "x"}
        ).status_code
        == 404
    )
    assert Object.objects.count() == 2


# ---- downloads --------------------------------------------------------------------------------


def test_download_streams_the_bytes_as_an_attachment(alice_client, bucket):
    put(bucket, "docs/résumé 日本.html", b"<h1>hi</h1>", content_type="text/html")
    response = alice_client.get(
        reverse("object_download", args=[bucket.bucket_id]), {"name": "docs/résumé 日本.html"}
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<h1>hi</h1>"
    assert response["Content-Length"] == "11"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=utf-8''r%C3%A9sum%C3%A9%20%E6%97%A5%E6%9C%AC.html" in disposition
    # Uploaded HTML never runs on our origin.
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_download_of_a_missing_or_foreign_object_is_404(
    alice_client, charlie_client, client, bucket
):
    put(bucket, "a.txt")
    url = reverse("object_download", args=[bucket.bucket_id])
    assert alice_client.get(url, {"name": "missing"}).status_code == 404
    assert charlie_client.get(url, {"name": "a.txt"}).status_code == 404
    assert client.get(url, {"name": "a.txt"}).status_code == 302


# ---- sorting, and the view a reload or a plain form keeps ---------------------------------------


def shown_names(response):
    return [obj.name for obj in response.context["files"]]


def test_files_sort_by_each_column_in_both_directions(alice_client, bucket):
    put(bucket, "b-big.bin", b"x" * 300, content_type="application/zip")
    put(bucket, "a-small.txt", b"x", content_type="text/plain")
    put(bucket, "C-mid.json", b"x" * 20, content_type="application/json")
    put(bucket, "sub/inside.txt")
    url = browser_url(bucket)
    assert shown_names(alice_client.get(url)) == ["a-small.txt", "b-big.bin", "C-mid.json"]
    by_size = alice_client.get(f"{url}?sort=size&order=desc")
    assert shown_names(by_size) == ["b-big.bin", "C-mid.json", "a-small.txt"]
    assert [f.prefix for f in by_size.context["folders"]] == ["sub/"]  # folders first
    assert shown_names(alice_client.get(f"{url}?sort=size&order=asc"))[0] == "a-small.txt"
    by_type = alice_client.get(f"{url}?sort=type")
    assert shown_names(by_type) == ["C-mid.json", "b-big.bin", "a-small.txt"]
    by_date = alice_client.get(f"{url}?sort=date&order=desc")
    assert shown_names(by_date) == ["C-mid.json", "a-small.txt", "b-big.bin"]
    # Anything else is the default order.
    assert shown_names(alice_client.get(f"{url}?sort=<x>&order=up"))[0] == "a-small.txt"


def test_headings_link_to_their_sort_and_say_which_is_current(alice_client, bucket):
    put(bucket, "a.txt")
    text = alice_client.get(f"{browser_url(bucket)}?sort=size&order=desc").text
    assert '<th scope="col" class="num col-size" aria-sort="descending">' in text
    # The current column sorts the other way; another column starts in its own direction.
    assert 'href="?sort=size&amp;order=asc"' in text.replace(browser_url(bucket), "")
    assert 'href="?sort=date&amp;order=desc"' in text.replace(browser_url(bucket), "")
    assert f'href="{browser_url(bucket)}" hx-get' in text  # name, ascending: the plain URL
    assert text.count("aria-sort=") == 1


def test_load_more_without_javascript_shows_every_row_so_far(alice_client, bucket, settings):
    settings.OBJSTORE_PAGE_SIZE = 2
    for name in ["a", "b", "c", "d", "e"]:
        put(bucket, name, b"x" * ord(name))
    first = alice_client.get(f"{browser_url(bucket)}?sort=size&order=desc")
    assert first.context["more_url"] == f"{browser_url(bucket)}?sort=size&order=desc&shown=4"
    second = alice_client.get(first.context["more_url"])
    assert shown_names(second) == ["e", "d", "c", "b"]
    third = alice_client.get(second.context["more_url"])
    assert shown_names(third) == ["e", "d", "c", "b", "a"] and not third.context["next_url"]


def test_a_plain_delete_goes_back_to_the_same_view(alice_client, bucket, settings):
    settings.OBJSTORE_PAGE_SIZE = 2
    for name in ["a", "b", "c", "d", "e"]:
        put(bucket, name, b"x" * ord(name))
    page = alice_client.get(f"{browser_url(bucket)}?sort=size&order=desc&shown=4")
    # The row's form carries the view, and so does the confirmation page it leads to.
    assert '<input type="hidden" name="sort" value="size">' in page.text
    assert '<input type="hidden" name="shown" value="4">' in page.text
    fields = {"name": "d", "sort": "size", "order": "desc", "shown": "4"}
    delete = reverse("object_delete", args=[bucket.bucket_id])
    confirm = alice_client.post(delete, fields)
    assert '<input type="hidden" name="shown" value="4">' in confirm.text
    done = alice_client.post(delete, {**fields, "confirmed": "yes"})
    assert done.status_code == 302
    assert done["Location"] == f"{browser_url(bucket)}?sort=size&order=desc&shown=4"
    assert shown_names(alice_client.get(done["Location"])) == ["e", "c", "b", "a"]


def test_an_htmx_change_renders_the_listing_in_the_pages_view(alice_client, bucket):
    for name in ["a", "bb", "ccc"]:
        put(bucket, name, name.encode())
    response = alice_client.post(
        reverse("folder_create", args=[bucket.bucket_id]),
        {"name": "new"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{browser_url(bucket)}?sort=size&order=desc",
    )
    assert shown_names(response) == ["ccc", "bb", "a"]
    assert [f.prefix for f in response.context["folders"]] == ["new/"]


def test_plain_create_folder_and_upload_go_back_to_the_same_view(alice_client, bucket):
    put(bucket, "a.txt")
    page = alice_client.get(f"{browser_url(bucket)}?sort=date&order=desc")
    # The toolbar's forms carry the view too.
    assert page.text.count('<input type="hidden" name="sort" value="date">') >= 3
    view = {"sort": "date", "order": "desc"}
    made = alice_client.post(
        reverse("folder_create", args=[bucket.bucket_id]), {"name": "new", **view}
    )
    assert made["Location"] == f"{browser_url(bucket)}?sort=date&order=desc"
    sent = alice_client.post(
        upload_url(bucket), {"files": SimpleUploadedFile("b.txt", b"b"), **view}
    )
    assert sent["Location"] == f"{browser_url(bucket)}?sort=date&order=desc"
    assert shown_names(alice_client.get(sent["Location"])) == ["b.txt", "a.txt"]


@pytest.mark.parametrize("language, separator", [("en-us", False), ("fr", False), ("en-us", True)])
def test_listing_sizes_read_as_djangos_filesizeformat(language, separator, settings):
    """The listing writes sizes itself in English (objects/templatetags/pane.py): the same text
    as Django's filter, every unit and rounding edge, and Django's own in other languages."""
    from django.template.defaultfilters import filesizeformat
    from django.utils import translation
    from django.utils.html import escape

    from objects.templatetags.pane import size_formatter

    sizes = {0, 1, 2, 1023, 1024, 1025, 1075, 1076, 10**6, 5 * 2**30, 2**50, 2**62, -1, -5000}
    for unit in (2**10, 2**20, 2**30, 2**40, 2**50):
        for mantissa in range(0, 1100, 7):
            sizes.update({mantissa * unit // 10 - 1, mantissa * unit // 10, unit * 1023 + 51})
    settings.USE_THOUSAND_SEPARATOR = separator
    with translation.override(language):
        write = size_formatter()
        for size in sorted(sizes):
            assert write(size) == escape(filesizeformat(size)), size
