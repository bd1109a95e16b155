"""A file's Details page (issue 15, "Look inside"): what it shows and its content type and
metadata form, through Django's test client."""

import base64
import hashlib
import html
import io
import wave
from urllib.parse import urlencode

from django.urls import reverse

from buckets.models import Bucket
from objects import services
from objects.models import Object

from .conftest import put, read

EVIL = '<img src=x onerror="alert(1)">/../x "q".txt'


def details(bucket: Bucket, name: str = "") -> str:
    base = reverse("object_details", args=[bucket.bucket_id])
    return f"{base}?{urlencode({'name': name})}" if name else base


def save(client, bucket: Bucket, obj: Object, content_type: str, rows=(), **extra):
    keys = [key for key, _ in rows]
    values = [value for _, value in rows]
    data = {
        "name": obj.name,
        "generation": str(obj.generation),
        "metageneration": str(obj.metageneration),
        "content_type": content_type,
        "meta_key": keys,
        "meta_value": values,
        **extra,
    }
    return client.post(details(bucket), data)


def test_the_page_shows_everything_stored_about_the_file(alice_client, bucket):
    data = b"hello details\n"
    obj = put(bucket, "docs/2026/report.txt", data, content_type="text/plain")
    services.object_patch(
        bucket=bucket, name=obj.name, changes={}, metadata_patch={"owner": "ops", "tier": "gold"}
    )
    page = alice_client.get(details(bucket, obj.name))
    assert page.status_code == 200
    text = page.content.decode()
    md5 = hashlib.md5(data).digest()
    assert md5.hex() in text and base64.b64encode(md5).decode() in text
    assert f"gs://{bucket.bucket_id}/docs/2026/report.txt" in text
    assert f"http://testserver/storage/v1/b/{bucket.bucket_id}/o/docs%2F2026%2Freport.txt" in text
    assert "14\xa0bytes" in text and "text/plain" in text
    assert f"<code>{obj.generation}</code>" in text and "metageneration 2" in text
    assert "<code>owner</code>" in text and '<code class="wrap-anywhere">ops</code>' in text
    # Breadcrumbs back to each folder, the download, the versions.
    assert "?prefix=docs%2F2026%2F" in text
    assert "/download?name=docs%2F2026%2Freport.txt" in text
    assert "/versions?name=docs%2F2026%2Freport.txt" in text


def test_the_listing_links_each_file_name_to_its_details(alice_client, bucket):
    put(bucket, "a b.txt")
    page = alice_client.get(reverse("object_browser", args=[bucket.bucket_id]))
    assert f'href="{details(bucket)}?name=a%20b.txt"' in page.content.decode()


def test_saving_changes_the_content_type_and_replaces_the_metadata(alice_client, bucket):
    obj = put(bucket, "a.json", b"{}", content_type="text/plain")
    services.object_patch(bucket=bucket, name=obj.name, changes={}, metadata_patch={"old": "1"})
    obj.refresh_from_db()
    response = save(
        alice_client, bucket, obj, "application/json", [("color", "blue"), ("", ""), ("n", "2")]
    )
    assert response.status_code == 302 and response["Location"] == details(bucket, "a.json")
    saved = Object.objects.get(pk=obj.pk)
    assert saved.content_type == "application/json"
    assert saved.metadata == {"color": "blue", "n": "2"}  # "old" removed: its row was not sent
    assert saved.metageneration == obj.metageneration + 1
    assert saved.generation == obj.generation and read(saved) == b"{}"
    page = alice_client.get(response["Location"])
    assert "Saved the details of “a.json”." in page.content.decode()


def test_add_a_field_keeps_what_was_typed_and_saves_nothing(alice_client, bucket):
    obj = put(bucket, "a.txt", content_type="text/plain")
    response = save(alice_client, bucket, obj, "text/csv", [("k", "v")], add_row="1")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'value="text/csv"' in text and 'name="meta_key" value="k"' in text
    assert text.count('name="meta_key"') == 3  # the typed row and two empty ones
    saved = Object.objects.get(pk=obj.pk)
    assert (saved.content_type, saved.metadata, saved.metageneration) == ("text/plain", {}, 1)


def test_a_change_made_meanwhile_is_never_overwritten(alice_client, bucket):
    obj = put(bucket, "a.txt", content_type="text/plain")
    # Someone else (another tab, the API) changes the metadata after the page was shown.
    services.object_patch(bucket=bucket, name="a.txt", changes={}, metadata_patch={"by": "api"})
    response = save(alice_client, bucket, obj, "text/csv", [("by", "pane")])
    assert response.status_code == 409
    text = response.content.decode()
    assert "Someone changed this file" in text and 'value="text/csv"' in text
    saved = Object.objects.get(bucket=bucket, name="a.txt")
    assert (saved.content_type, saved.metadata) == ("text/plain", {"by": "api"})
    # The form now carries the new metageneration: saving again applies the change.
    assert f'name="metageneration" value="{saved.metageneration}"' in text


def test_a_save_never_lands_on_a_newer_upload_of_the_name(alice_client, bucket):
    obj = put(bucket, "a.txt", b"old", content_type="text/plain")
    put(bucket, "a.txt", b"new", content_type="text/plain")
    response = save(alice_client, bucket, obj, "text/csv")
    assert response.status_code == 409
    assert "replaced by a new upload" in response.content.decode()
    assert Object.objects.get(bucket=bucket, name="a.txt").content_type == "text/plain"


def test_bad_input_gets_a_clear_error_and_changes_nothing(alice_client, bucket):
    obj = put(bucket, "a.txt", content_type="text/plain")
    cases = [
        ("", [], "Enter a content type"),
        ("text/plain\r\nX-Evil: 1", [], "printable ASCII"),
        ("text/plain", [("k", "1"), ("k", "2")], "given twice"),
        ("text/plain", [("", "orphan")], "has no key"),
        ("text/plain", [("big", "x" * 9000)], "larger than"),
    ]
    for content_type, rows, error in cases:
        response = save(alice_client, bucket, obj, content_type, rows)
        assert response.status_code == 400, content_type
        assert error in html.unescape(response.content.decode())
    saved = Object.objects.get(pk=obj.pk)
    assert (saved.content_type, saved.metadata, saved.metageneration) == ("text/plain", {}, 1)


def test_a_missing_file_answers_404_with_where_to_look(alice_client, bucket):
    response = alice_client.get(details(bucket, "gone/x.txt"))
    assert response.status_code == 404
    text = response.content.decode()
    assert "There is no file named “gone/x.txt” here." in text
    assert "/deleted?prefix=gone%2F" in text


def test_names_are_escaped_and_never_reach_the_filesystem(alice_client, bucket):
    obj = put(bucket, EVIL, b"evil")
    page = alice_client.get(details(bucket, EVIL))
    assert page.status_code == 200
    text = page.content.decode()
    assert "<img src=x" not in text and "&lt;img src=x onerror=" in text
    response = save(alice_client, bucket, obj, "text/plain", [("<b>k</b>", "<i>v</i>")])
    assert response.status_code == 302
    text = alice_client.get(details(bucket, EVIL)).content.decode()
    assert "<b>k</b>" not in text and "&lt;b&gt;k&lt;/b&gt;" in text
    assert Object.objects.get(pk=obj.pk).metadata == {"<b>k</b>": "<i>v</i>"}


def test_another_users_bucket_is_a_404_and_changes_nothing(charlie_client, bucket):
    obj = put(bucket, "a.txt", content_type="text/plain")
    assert charlie_client.get(details(bucket, "a.txt")).status_code == 404
    assert save(charlie_client, bucket, obj, "text/csv").status_code == 404
    assert Object.objects.get(pk=obj.pk).content_type == "text/plain"


def test_the_api_sees_what_the_pane_saved(alice_client, bucket):
    from django.test import RequestFactory

    from objects.api.resources import object_resource

    obj = put(bucket, "a.txt", content_type="text/plain")
    save(alice_client, bucket, obj, "text/markdown", [("lang", "en")])
    saved = Object.objects.get(pk=obj.pk)
    resource = object_resource(saved, RequestFactory().get("/"))
    assert resource["contentType"] == "text/markdown"
    assert resource["metadata"] == {"lang": "en"}
    assert resource["metageneration"] == "2"


# ---- previews ---------------------------------------------------------------------------------


def preview_section(response) -> str:
    text = response.content.decode()
    start = text.index('id="preview-title"')
    return text[start : text.index("</section>", start)]


def test_text_is_previewed_escaped_never_rendered(alice_client, bucket):
    put(bucket, "page.html", b"<h1>hi</h1><script>alert(1)</script>\n", content_type="text/html")
    put(bucket, "icon.svg", b'<svg onload="alert(1)"></svg>', content_type="image/svg+xml")
    put(bucket, "notes.md", "# Notes\n\nÜber *alles*\n".encode(), content_type="text/markdown")
    html_part = preview_section(alice_client.get(details(bucket, "page.html")))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_part and "<script>" not in html_part
    svg_part = preview_section(alice_client.get(details(bucket, "icon.svg")))
    assert "&lt;svg onload=" in svg_part and "<img" not in svg_part
    assert "Über *alles*" in preview_section(alice_client.get(details(bucket, "notes.md")))


def test_json_is_pretty_printed_and_csv_shown_as_a_table(alice_client, bucket):
    put(bucket, "a.json", b'{"b":[1,2],"a":"x"}', content_type="application/json")
    put(bucket, "t.csv", b'name,size\n"a, b",3\n<i>,4\n', content_type="text/csv")
    json_part = preview_section(alice_client.get(details(bucket, "a.json")))
    assert (
        "{\n  &quot;b&quot;: [\n    1,\n    2\n  ],\n  &quot;a&quot;: &quot;x&quot;\n}" in json_part
    )
    csv_part = preview_section(alice_client.get(details(bucket, "t.csv")))
    assert "<td>a, b</td><td>3</td>" in csv_part and "<td>&lt;i&gt;</td>" in csv_part


def test_a_big_file_shows_only_its_beginning(alice_client, bucket):
    from objects.preview import TEXT_LIMIT

    line = b"0123456789abcdef\n"
    put(bucket, "big.log", line * (TEXT_LIMIT // len(line) * 3), content_type="text/plain")
    part = preview_section(alice_client.get(details(bucket, "big.log")))
    assert 'data-testid="preview-truncated"' in part
    assert part.count("0123456789abcdef") == TEXT_LIMIT // len(line)  # and a cut "0"


def test_binary_and_unknown_files_have_no_preview(alice_client, bucket):
    put(bucket, "x.txt", b"text\x00with a NUL", content_type="text/plain")
    put(bucket, "x.bin", b"\x89\x01", content_type="application/octet-stream")
    assert "binary data" in preview_section(alice_client.get(details(bucket, "x.txt")))
    assert "no preview" in preview_section(alice_client.get(details(bucket, "x.bin")))


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_images_are_shown_from_a_sandboxed_preview_and_nothing_active_is(alice_client, bucket):
    obj = put(bucket, "pics/dot.png", PNG, content_type="image/png")
    part = preview_section(alice_client.get(details(bucket, "pics/dot.png")))
    preview_url = (
        reverse("object_preview", args=[bucket.bucket_id])
        + f"?name=pics%2Fdot.png&amp;generation={obj.generation}"
    )
    assert f'<img class="preview-image" src="{preview_url}"' in part
    response = alice_client.get(html.unescape(preview_url))
    assert response.status_code == 200 and b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    # Whatever the stored type claims, nothing but a raster image is served inline.
    put(bucket, "evil.svg", b'<svg onload="alert(1)"/>', content_type="image/svg+xml")
    put(bucket, "evil.html", b"<script>alert(1)</script>", content_type="text/html")
    for name in ("evil.svg", "evil.html"):
        url = reverse("object_preview", args=[bucket.bucket_id]) + f"?name={name}"
        assert alice_client.get(url).status_code == 404


def wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A real WAV file: ``seconds`` of silence, 8-bit mono."""
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(1)
        audio.setframerate(rate)
        audio.writeframes(b"\x80" * int(seconds * rate))
    return out.getvalue()


def test_audio_and_video_play_from_ranges_of_the_preview(alice_client, bucket):
    data = wav()
    obj = put(bucket, "sound/beep.wav", data, content_type="audio/wav")
    put(bucket, "clip.webm", b"\x1aE\xdf\xa3" + bytes(300), content_type="video/webm")
    part = preview_section(alice_client.get(details(bucket, "sound/beep.wav")))
    assert '<audio class="preview-media" controls preload="metadata"' in part
    assert '<video class="preview-media"' in preview_section(
        alice_client.get(details(bucket, "clip.webm"))
    )
    url = reverse("object_preview", args=[bucket.bucket_id])
    query = {"name": "sound/beep.wav", "generation": obj.generation}
    whole = alice_client.get(url, query)
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == data
    assert whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "audio/wav"
    assert whole["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "Content-Disposition" not in whole
    window = alice_client.get(url, query, HTTP_RANGE="bytes=40-49")
    assert window.status_code == 206 and b"".join(window.streaming_content) == data[40:50]
    assert window["Content-Range"] == f"bytes 40-49/{len(data)}"
    assert window["Content-Length"] == "10"
    tail = alice_client.get(url, query, HTTP_RANGE="bytes=-4")
    assert b"".join(tail.streaming_content) == data[-4:]
    past = alice_client.get(url, query, HTTP_RANGE=f"bytes={len(data)}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{len(data)}"


# ---- rename and move --------------------------------------------------------------------------


def move(client, bucket: Bucket, name: str, **data: str):
    headers = {key: data.pop(key) for key in list(data) if key.startswith("HTTP_")}
    url = reverse("object_move", args=[bucket.bucket_id])
    return client.post(url, {"name": name, **data}, **headers)


def test_rename_moves_bytes_and_metadata_and_opens_the_new_details(alice_client, bucket):
    obj = put(bucket, "docs/old.txt", b"keep me", content_type="text/plain")
    services.object_patch(bucket=bucket, name=obj.name, changes={}, metadata_patch={"k": "v"})
    response = move(alice_client, bucket, "docs/old.txt", new_name="archive/2026/new.txt")
    assert response.status_code == 302
    assert response["Location"] == details(bucket, "archive/2026/new.txt")
    moved = Object.objects.get(bucket=bucket, name="archive/2026/new.txt")
    assert read(moved) == b"keep me"
    assert (moved.content_type, moved.metadata) == ("text/plain", {"k": "v"})
    assert not Object.objects.filter(bucket=bucket, name="docs/old.txt").exists()
    page = alice_client.get(response["Location"]).content.decode()
    assert "Renamed “docs/old.txt” to “archive/2026/new.txt”." in page


def test_the_old_name_is_kept_as_any_delete_keeps_it(alice_client, bucket):
    from objects.models import ObjectVersion

    put(bucket, "a.txt", b"v1")
    move(alice_client, bucket, "a.txt", new_name="b.txt")
    # The bucket keeps deleted files (soft delete is on by default): a.txt can be restored.
    kept = ObjectVersion.objects.get(bucket=bucket, name="a.txt")
    assert kept.state == ObjectVersion.SOFT_DELETED


def test_an_existing_name_is_replaced_only_when_asked(alice_client, bucket):
    put(bucket, "a.txt", b"mine")
    put(bucket, "b.txt", b"theirs")
    response = move(alice_client, bucket, "a.txt", new_name="b.txt")
    assert response.status_code == 409
    text = response.content.decode()
    assert "A file named “b.txt” already exists." in text and 'name="replace"' in text
    assert read(Object.objects.get(bucket=bucket, name="b.txt")) == b"theirs"
    assert Object.objects.filter(bucket=bucket, name="a.txt").exists()
    response = move(alice_client, bucket, "a.txt", new_name="b.txt", replace="yes")
    assert response.status_code == 302
    assert read(Object.objects.get(bucket=bucket, name="b.txt")) == b"mine"
    assert not Object.objects.filter(bucket=bucket, name="a.txt").exists()


def test_bad_new_names_are_refused_and_nothing_moves(alice_client, bucket):
    put(bucket, "a.txt", b"x")
    for new_name, error, status in [
        ("", "Object name is required.", 400),
        ("a.txt", "the same as the old one", 400),
        ("x\ny", "", 400),
    ]:
        response = move(alice_client, bucket, "a.txt", new_name=new_name)
        assert response.status_code == status, new_name
        assert error in html.unescape(response.content.decode())
    assert sorted(Object.objects.filter(bucket=bucket).values_list("name", flat=True)) == ["a.txt"]


def test_names_like_paths_are_just_names(alice_client, bucket, tmp_path):
    put(bucket, "a.txt", b"x")
    response = move(alice_client, bucket, "a.txt", new_name="../../etc/passwd")
    assert response.status_code == 302
    assert read(Object.objects.get(bucket=bucket, name="../../etc/passwd")) == b"x"


def test_dropping_a_file_on_a_folder_moves_it_and_answers_the_listing(alice_client, bucket):
    put(bucket, "top/a.txt", b"x")
    put(bucket, "top/sub/b.txt", b"y")
    response = move(
        alice_client,
        bucket,
        "top/a.txt",
        folder="top/sub/",
        prefix="top/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="listing",
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Moved “a.txt” to “top/sub/a.txt”." in text and 'id="listing"' in text
    assert read(Object.objects.get(bucket=bucket, name="top/sub/a.txt")) == b"x"
    # Onto a folder that holds the name already: refused, the listing as it was.
    put(bucket, "top/a.txt", b"new")
    response = move(alice_client, bucket, "top/a.txt", folder="top/sub/", prefix="top/")
    assert response.status_code == 302  # without htmx: back to the folder
    page = alice_client.get(response["Location"]).content.decode()
    assert "A file named “top/sub/a.txt” already exists." in page
    assert read(Object.objects.get(bucket=bucket, name="top/sub/a.txt")) == b"x"


def test_another_users_file_cannot_be_moved(charlie_client, bucket):
    put(bucket, "a.txt", b"x")
    assert move(charlie_client, bucket, "a.txt", new_name="b.txt").status_code == 404
    assert Object.objects.filter(bucket=bucket, name="a.txt").exists()
