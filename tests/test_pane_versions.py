"""The pane's versions, deleted files, undo, and the Settings tab's versioning, soft delete and
lifecycle sections (issue 12), through Django's test client."""

import re
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse

from buckets.models import Bucket
from buckets.services import bucket_update_settings
from objects import services, version_views
from objects.models import Object, ObjectVersion
from objects.templatetags.pane import row_id
from objects.version_views import deleted_row_id, version_row_id

from .conftest import put, read, stored_blobs

EVIL = "<script>x</script>.txt"
DAY = 24 * 3600


def url(view: str, bucket: Bucket, **query: str) -> str:
    base = reverse(view, args=[bucket.bucket_id])
    return f"{base}?{urlencode(query)}" if query else base


def versioned(bucket: Bucket, soft_delete_days: int = 7) -> None:
    bucket_update_settings(
        bucket=bucket, versioning=True, soft_delete_seconds=soft_delete_days * DAY
    )
    bucket.refresh_from_db()


def keeping_nothing(bucket: Bucket) -> None:
    bucket_update_settings(bucket=bucket, versioning=False, soft_delete_seconds=0)
    bucket.refresh_from_db()


def generations(bucket: Bucket, name: str) -> list[tuple[int, str]]:
    return [(v.generation, v.state) for v in services.object_versions(bucket=bucket, name=name)]


def live_bytes(bucket: Bucket, name: str) -> bytes:
    return read(services.object_get(bucket=bucket, name=name))


def three_generations(bucket: Bucket) -> tuple[Object, Object, Object]:
    """notes.txt in a versioned bucket: v3 live, v2 an old version, v1 soft-deleted."""
    versioned(bucket)
    v1 = put(bucket, "docs/notes.txt", b"one")
    v2 = put(bucket, "docs/notes.txt", b"two")
    v3 = put(bucket, "docs/notes.txt", b"three")
    services.object_delete(bucket=bucket, name="docs/notes.txt", generation=v1.generation)
    return v1, v2, v3


def strict_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


# ---- every view: owner only, verbs, CSRF -------------------------------------------------------

GET_VIEWS = ["object_versions", "deleted_list", "lifecycle_preview", "bucket_settings"]
POST_VIEWS = [
    "delete_undo",
    "version_restore",
    "version_delete",
    "deleted_restore",
    "bucket_protection",
    "lifecycle_rule_add",
    "lifecycle_rule_remove",
]


@pytest.mark.parametrize("view", GET_VIEWS)
def test_pages_of_another_users_bucket_are_404(charlie_client, client, bucket, view):
    put(bucket, "secret.txt")
    assert charlie_client.get(url(view, bucket, name="secret.txt")).status_code == 404
    missing = reverse(view, args=["objstore-missing"])
    assert charlie_client.get(missing).status_code == 404
    response = client.get(url(view, bucket))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("view", POST_VIEWS)
def test_changes_to_another_users_bucket_are_404_and_change_nothing(charlie_client, bucket, view):
    v1, v2, _ = three_generations(bucket)
    before = generations(bucket, "docs/notes.txt")
    rules_before = Bucket.objects.get(pk=bucket.pk).lifecycle_rules
    data = {
        "name": "docs/notes.txt",
        "generation": str(v2.generation),
        "confirmed": "yes",
        "scope": "folder",
        "folder": "",
        "since": "2000-01-01T00:00:00+00:00",
        "versioning": "",
        "soft_delete": "off",
        "action": "delete-files",
        "age": "0",
        "index": "0",
    }
    assert charlie_client.post(url(view, bucket), data).status_code == 404
    assert generations(bucket, "docs/notes.txt") == before
    fresh = Bucket.objects.get(pk=bucket.pk)
    assert fresh.versioning_enabled and fresh.soft_delete_seconds == 7 * DAY
    assert fresh.lifecycle_rules == rules_before


@pytest.mark.parametrize("view", POST_VIEWS)
def test_changes_are_post_only(alice_client, bucket, view):
    assert alice_client.get(url(view, bucket)).status_code == 405


@pytest.mark.parametrize("view", GET_VIEWS)
def test_pages_refuse_post(alice_client, bucket, view):
    assert alice_client.post(url(view, bucket)).status_code == 405


@pytest.mark.parametrize("view", POST_VIEWS)
def test_changes_need_the_csrf_token(alice, bucket, view):
    v1, v2, _ = three_generations(bucket)
    before = generations(bucket, "docs/notes.txt")
    response = strict_client(alice).post(
        url(view, bucket),
        {"name": "docs/notes.txt", "generation": str(v2.generation), "confirmed": "yes"},
    )
    assert response.status_code == 403
    assert generations(bucket, "docs/notes.txt") == before


# ---- the versions page --------------------------------------------------------------------------


def test_versions_lists_every_generation_with_its_state(alice_client, bucket):
    v1, v2, v3 = three_generations(bucket)
    response = alice_client.get(url("object_versions", bucket, name="docs/notes.txt"))
    assert response.status_code == 200
    text = response.text
    rows = [f'data-generation="{v.generation}"' for v in (v3, v2, v1)]
    assert text.index(rows[0]) < text.index(rows[1]) < text.index(rows[2])  # newest first
    assert ">Live</span>" in text and ">Old version</span>" in text and ">Deleted</span>" in text
    hard = ObjectVersion.objects.get(generation=v1.generation).hard_delete_time
    assert f'gone for good on <time datetime="{hard.isoformat()}">' in text
    assert f"{hard:%Y-%m-%d %H:%M}" in text
    # The live generation can only be downloaded; the others restored and deleted too.
    assert f'aria-label="Restore generation {v3.generation}"' not in text
    assert f'aria-label="Restore generation {v2.generation}"' in text
    assert f'aria-label="Delete generation {v2.generation}"' in text  # soft delete keeps it
    assert f'aria-label="Delete forever: generation {v1.generation}"' in text
    assert f"generation={v1.generation}" in text
    # The breadcrumb leads back to the file's folder.
    assert f'href="{url("object_browser", bucket, prefix="docs/")}"' in text


def test_versions_of_a_name_with_nothing_kept_says_so(alice_client, bucket):
    response = alice_client.get(url("object_versions", bucket, name="never/was.txt"))
    assert response.status_code == 200
    assert "Nothing is kept of “never/was.txt”." in response.text


def test_versions_page_escapes_names(alice_client, bucket):
    put(bucket, EVIL, b"harmless")
    text = alice_client.get(url("object_versions", bucket, name=EVIL)).text
    assert "<script>x</script>" not in text
    assert "&lt;script&gt;x&lt;/script&gt;.txt" in text


def test_versions_with_htmx_returns_only_the_panel(alice_client, bucket):
    put(bucket, "a.txt")
    response = alice_client.get(
        url("object_versions", bucket, name="a.txt"),
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="versions",
    )
    assert 'id="versions"' in response.text and "<html" not in response.text


@pytest.mark.parametrize("which", ["old", "deleted", "live"])
def test_download_a_generation_round_trips_its_bytes(alice_client, bucket, which):
    versioned(bucket)
    old_bytes = bytes(range(256)) * 3
    first = put(bucket, "bin/data.bin", old_bytes)
    live = put(bucket, "bin/data.bin", b"the live bytes")
    if which == "deleted":
        services.object_delete(bucket=bucket, name="bin/data.bin", generation=first.generation)
        assert generations(bucket, "bin/data.bin")[1][1] == ObjectVersion.SOFT_DELETED
    target = live if which == "live" else first
    response = alice_client.get(
        url("object_download", bucket, name="bin/data.bin", generation=str(target.generation))
    )
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == (b"the live bytes" if which == "live" else old_bytes)
    assert response["Content-Length"] == str(len(body))
    assert "sandbox" in response["Content-Security-Policy"]


def test_download_of_a_generation_that_is_gone_or_foreign_is_404(
    alice_client, charlie_client, bucket
):
    first = put(bucket, "a.txt", b"1")
    download = reverse("object_download", args=[bucket.bucket_id])
    assert alice_client.get(download, {"name": "a.txt", "generation": "1"}).status_code == 404
    for generation in ["x1", "", "٣", "9" * 40]:
        response = alice_client.get(download, {"name": "a.txt", "generation": generation})
        assert response.status_code == 404
    assert (
        charlie_client.get(
            download, {"name": "a.txt", "generation": str(first.generation)}
        ).status_code
        == 404
    )


def test_restore_an_old_version_copies_it_onto_the_live_name(alice_client, bucket):
    v1, v2, v3 = three_generations(bucket)
    response = alice_client.post(
        url("version_restore", bucket),
        {"name": "docs/notes.txt", "generation": str(v2.generation)},
    )
    assert response.status_code == 302
    assert response["Location"] == url("object_versions", bucket, name="docs/notes.txt")
    live = services.object_get(bucket=bucket, name="docs/notes.txt")
    assert read(live) == b"two" and live.generation > v3.generation
    states = dict(generations(bucket, "docs/notes.txt"))
    # The replaced live generation is kept as an old version; the restored one stays too.
    assert states[v3.generation] == ObjectVersion.NONCURRENT
    assert states[v2.generation] == ObjectVersion.NONCURRENT
    page = alice_client.get(response["Location"]).text
    assert f"Restored “docs/notes.txt” from generation {v2.generation}." in page


def test_restore_a_soft_deleted_version_with_htmx(alice_client, bucket):
    v1, v2, v3 = three_generations(bucket)
    response = alice_client.post(
        url("version_restore", bucket),
        {"name": "docs/notes.txt", "generation": str(v1.generation)},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'id="versions"' in response.text and "<html" not in response.text
    assert live_bytes(bucket, "docs/notes.txt") == b"one"
    assert not ObjectVersion.objects.filter(state=ObjectVersion.SOFT_DELETED).exists()


def test_restore_that_would_lose_the_live_file_asks_first(alice_client, bucket):
    keeping_nothing(bucket)
    first = put(bucket, "a.txt", b"old")
    # Kept from before soft delete was turned off.
    ObjectVersion.objects.create(
        **{
            field: getattr(first, field)
            for field in ("name", "size", "crc32c", "generation", "blob_key", "created", "updated")
        },
        bucket=bucket,
        state=ObjectVersion.SOFT_DELETED,
        time_deleted=first.created,
        soft_delete_time=first.created,
        hard_delete_time=first.created,
    )
    Object.objects.filter(pk=first.pk).delete()
    put(bucket, "a.txt", b"new")
    data = {"name": "a.txt", "generation": str(first.generation)}
    response = alice_client.post(url("version_restore", bucket), data)
    assert response.status_code == 200
    assert "gone for good" in response.text and "cannot be undone" in response.text
    assert live_bytes(bucket, "a.txt") == b"new"
    response = alice_client.post(url("version_restore", bucket), {**data, "confirmed": "yes"})
    assert response.status_code == 302 and live_bytes(bucket, "a.txt") == b"old"


def test_delete_an_old_version_keeps_it_as_deleted_for_the_retention(alice_client, bucket):
    v1, v2, v3 = three_generations(bucket)
    response = alice_client.post(
        url("version_delete", bucket), {"name": "docs/notes.txt", "generation": str(v2.generation)}
    )
    assert response.status_code == 302
    assert dict(generations(bucket, "docs/notes.txt"))[v2.generation] == "deleted"
    page = alice_client.get(response["Location"]).text
    assert "It can be restored for 7 days." in page


@pytest.mark.django_db(transaction=True)
def test_delete_forever_asks_first_then_purges_bytes_and_row(alice_client, bucket, blob_dir):
    v1, v2, v3 = three_generations(bucket)
    data = {"name": "docs/notes.txt", "generation": str(v1.generation)}
    response = alice_client.post(url("version_delete", bucket), data)
    assert response.status_code == 200
    assert f"Delete generation {v1.generation} of “docs/notes.txt” forever?" in response.text
    assert "cannot be undone" in response.text
    assert v1.blob_key in stored_blobs(blob_dir)

    response = alice_client.post(url("version_delete", bucket), {**data, "confirmed": "yes"})
    assert response.status_code == 302
    assert v1.generation not in dict(generations(bucket, "docs/notes.txt"))
    assert v1.blob_key not in stored_blobs(blob_dir)
    assert v2.blob_key in stored_blobs(blob_dir) and v3.blob_key in stored_blobs(blob_dir)


def test_delete_of_an_old_version_in_a_bucket_keeping_nothing_is_forever(alice_client, bucket):
    bucket_update_settings(bucket=bucket, versioning=True, soft_delete_seconds=0)
    bucket.refresh_from_db()
    first = put(bucket, "a.txt", b"1")
    put(bucket, "a.txt", b"2")
    text = alice_client.get(url("object_versions", bucket, name="a.txt")).text
    assert f'aria-label="Delete forever: generation {first.generation}"' in text
    data = {"name": "a.txt", "generation": str(first.generation)}
    assert "forever?" in alice_client.post(url("version_delete", bucket), data).text
    alice_client.post(url("version_delete", bucket), {**data, "confirmed": "yes"})
    assert not ObjectVersion.objects.exists()


@pytest.mark.parametrize("view", ["version_restore", "version_delete"])
def test_a_version_that_is_gone_or_live_says_so(alice_client, bucket, view):
    live = put(bucket, "a.txt")
    for generation in ["12345", "", "abc", "٣", "9" * 40, str(live.generation)]:
        response = alice_client.post(
            url(view, bucket),
            {"name": "a.txt", "generation": generation, "confirmed": "yes"},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 404
        assert "That version of “a.txt” no longer exists." in response.text
    assert live_bytes(bucket, "a.txt") == b"x"


# ---- the file list: versions link, delete and undo --------------------------------------------


def test_the_listing_links_each_file_to_its_versions_and_the_deleted_files(alice_client, bucket):
    put(bucket, "docs/a b&c.txt")
    text = alice_client.get(url("object_browser", bucket, prefix="docs/")).text
    assert (
        f'href="{reverse("object_versions", args=[bucket.bucket_id])}?name=docs%2Fa%20b%26c.txt"'
        in text
    )
    assert f'href="{url("deleted_list", bucket, prefix="docs/")}"' in text
    # Deleting asks first, saying what the bucket keeps.
    ask = alice_client.post(
        reverse("object_delete", args=[bucket.bucket_id]),
        {"name": "docs/a b&c.txt", "prefix": "docs/"},
        HTTP_HX_REQUEST="true",
    )
    assert "Deleted files can be restored for 7 days." in ask.text


def test_undo_a_file_delete_with_htmx(alice_client, bucket):
    put(bucket, "docs/a.txt", b"precious")
    response = alice_client.post(
        reverse("object_delete", args=[bucket.bucket_id]),
        {"name": "docs/a.txt", "prefix": "docs/", "confirmed": "yes"},
        HTTP_HX_REQUEST="true",
    )
    assert "Deleted “docs/a.txt”." in response.text and ">Undo</button>" in response.text
    since = response.text.split('name="since" value="')[1].split('"')[0]
    response = alice_client.post(
        reverse("delete_undo", args=[bucket.bucket_id]),
        {"name": "docs/a.txt", "since": since, "prefix": "docs/"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Restored “docs/a.txt”." in response.text and ">Undo</button>" not in response.text
    assert live_bytes(bucket, "docs/a.txt") == b"precious"
    assert not ObjectVersion.objects.exists()


def test_undo_a_folder_delete_without_javascript(alice_client, bucket):
    for name in ["f/", "f/a.txt", "f/sub/b.txt", "g.txt"]:
        put(bucket, name, name.encode())
    # Deleted earlier than the folder: an undo of the folder's delete leaves it deleted.
    put(bucket, "f/older.txt")
    services.object_delete(bucket=bucket, name="f/older.txt")
    response = alice_client.post(
        reverse("folder_delete", args=[bucket.bucket_id]), {"folder": "f/", "confirmed": "yes"}
    )
    assert response.status_code == 302
    page = alice_client.get(response["Location"]).text
    assert ">Undo</button>" in page and 'name="folder" value="f/"' in page
    since = page.split('name="since" value="')[1].split('"')[0]
    # The offer is shown once, like the message it belongs to.
    assert ">Undo</button>" not in alice_client.get(response["Location"]).text

    response = alice_client.post(
        reverse("delete_undo", args=[bucket.bucket_id]), {"folder": "f/", "since": since}
    )
    assert response.status_code == 302
    assert sorted(Object.objects.values_list("name", flat=True)) == [
        "f/",
        "f/a.txt",
        "f/sub/b.txt",
        "g.txt",
    ]
    assert live_bytes(bucket, "f/sub/b.txt") == b"f/sub/b.txt"
    assert "Restored 3 objects in “f/”." in alice_client.get(response["Location"]).text
    assert ObjectVersion.objects.get().name == "f/older.txt"


def test_undo_in_a_versioned_bucket_brings_back_the_old_version(alice_client, bucket):
    versioned(bucket, soft_delete_days=0)
    put(bucket, "a.txt", b"kept")
    response = alice_client.post(
        reverse("object_delete", args=[bucket.bucket_id]),
        {"name": "a.txt", "confirmed": "yes"},
        HTTP_HX_REQUEST="true",
    )
    since = response.text.split('name="since" value="')[1].split('"')[0]
    alice_client.post(
        reverse("delete_undo", args=[bucket.bucket_id]), {"name": "a.txt", "since": since}
    )
    assert live_bytes(bucket, "a.txt") == b"kept"


def test_undo_leaves_a_name_written_again_alone(alice_client, bucket):
    put(bucket, "a.txt", b"deleted")
    alice_client.post(
        reverse("object_delete", args=[bucket.bucket_id]), {"name": "a.txt", "confirmed": "yes"}
    )
    put(bucket, "a.txt", b"written again")
    response = alice_client.post(
        reverse("delete_undo", args=[bucket.bucket_id]),
        {"name": "a.txt", "since": "2000-01-01T00:00:00+00:00"},
        HTTP_HX_REQUEST="true",
    )
    assert "Nothing was restored" in response.text
    assert live_bytes(bucket, "a.txt") == b"written again"


@pytest.mark.parametrize(
    "data",
    [
        {"name": "a.txt"},
        {"name": "a.txt", "since": "yesterday"},
        {"name": "a.txt", "since": "2030-01-01T00:00:00"},  # no time zone
        {"since": "2030-01-01T00:00:00+00:00"},
        # More than a delete offers to undo (UNDO_MAX): Deleted files is the way back.
        {"name": [f"n{i}" for i in range(101)], "since": "2030-01-01T00:00:00+00:00"},
    ],
)
def test_undo_refuses_a_malformed_request(alice_client, bucket, data):
    response = alice_client.post(
        reverse("delete_undo", args=[bucket.bucket_id]), data, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400 and "There is nothing to undo." in response.text


def test_undo_shows_names_as_text(alice_client, bucket):
    put(bucket, EVIL)
    response = alice_client.post(
        reverse("object_delete", args=[bucket.bucket_id]),
        {"name": EVIL, "confirmed": "yes"},
        HTTP_HX_REQUEST="true",
    )
    assert "<script>x</script>" not in response.text
    assert 'name="name" value="&lt;script&gt;x&lt;/script&gt;.txt"' in response.text


# ---- the deleted files -------------------------------------------------------------------------


def deleted(bucket: Bucket, *names: str) -> None:
    for name in names:
        put(bucket, name, name.encode())
        services.object_delete(bucket=bucket, name=name)


def test_deleted_files_lists_the_folder_with_when_each_is_gone_for_good(alice_client, bucket):
    deleted(bucket, "docs/a.txt", "docs/old/b.txt", "top.txt")
    put(bucket, "docs/live.txt")
    response = alice_client.get(url("deleted_list", bucket, prefix="docs/"))
    assert response.status_code == 200
    text = response.text
    assert ">a.txt</span>" in text and "old/" in text
    assert "top.txt" not in text and "live.txt" not in text
    hard = ObjectVersion.objects.get(name="docs/a.txt").hard_delete_time
    assert f"{hard:%Y-%m-%d %H:%M}" in text
    assert "Deleted files stay here for 7 days" in text
    assert 'aria-label="Restore a.txt"' in text and 'aria-label="Delete a.txt forever"' in text
    assert 'aria-label="Restore old/"' in text
    assert ">Restore all in this folder</button>" in text


def test_deleted_files_empty_state(alice_client, bucket):
    text = alice_client.get(url("deleted_list", bucket)).text
    assert "No deleted files in this bucket." in text
    text = alice_client.get(url("deleted_list", bucket, prefix="x/")).text
    assert "No deleted files in this folder." in text
    keeping_nothing(bucket)
    text = alice_client.get(url("deleted_list", bucket)).text
    assert "Soft delete is off in this bucket" in text


def test_deleted_files_are_paged(alice_client, bucket, settings):
    settings.OBJSTORE_PAGE_SIZE = 2
    deleted(bucket, "a", "b", "c")
    first = alice_client.get(url("deleted_list", bucket))
    assert "Load more" in first.text
    more = alice_client.get(first.context["next_url"], HTTP_HX_REQUEST="true")
    assert ">c</span>" in more.text and ">a</span>" not in more.text
    assert "<html" not in more.text and "Load more" not in more.text
    garbage = alice_client.get(url("deleted_list", bucket, page_token="!!"))
    assert garbage.status_code == 200 and ">a</span>" in garbage.text


def test_restore_one_deleted_file(alice_client, bucket):
    deleted(bucket, "docs/a.txt")
    version = ObjectVersion.objects.get()
    response = alice_client.post(
        url("deleted_restore", bucket),
        {
            "scope": "file",
            "name": "docs/a.txt",
            "generation": str(version.generation),
            "prefix": "docs/",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'id="deleted"' in response.text and "Restored “docs/a.txt”." in response.text
    assert "No deleted files in this folder." in response.text
    assert live_bytes(bucket, "docs/a.txt") == b"docs/a.txt"
    assert not ObjectVersion.objects.exists()


def test_restore_does_not_replace_a_file_written_again(alice_client, bucket):
    deleted(bucket, "a.txt")
    version = ObjectVersion.objects.get()
    put(bucket, "a.txt", b"new")
    response = alice_client.post(
        url("deleted_restore", bucket),
        {"scope": "file", "name": "a.txt", "generation": str(version.generation)},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409 and "“a.txt” exists again" in response.text
    assert live_bytes(bucket, "a.txt") == b"new"
    assert ObjectVersion.objects.get().state == ObjectVersion.SOFT_DELETED


def test_restore_a_purged_file_says_so(alice_client, bucket):
    response = alice_client.post(
        url("deleted_restore", bucket), {"scope": "file", "name": "a.txt", "generation": "7"}
    )
    assert response.status_code == 302
    assert "no longer exists" in alice_client.get(response["Location"]).text


def test_restore_all_under_a_folder(alice_client, bucket):
    deleted(bucket, "docs/a.txt", "docs/sub/b.txt", "other/c.txt")
    response = alice_client.post(
        url("deleted_restore", bucket), {"scope": "folder", "folder": "docs/", "prefix": "docs/"}
    )
    assert response.status_code == 302
    assert response["Location"] == url("deleted_list", bucket, prefix="docs/")
    assert sorted(Object.objects.values_list("name", flat=True)) == ["docs/a.txt", "docs/sub/b.txt"]
    assert "Restored 2 files in “docs/”." in alice_client.get(response["Location"]).text
    # At the root, "Restore all" covers the whole bucket.
    alice_client.post(url("deleted_restore", bucket), {"scope": "folder", "folder": ""})
    assert Object.objects.count() == 3 and not ObjectVersion.objects.exists()
    response = alice_client.post(
        url("deleted_restore", bucket), {"scope": "folder", "folder": ""}, HTTP_HX_REQUEST="true"
    )
    assert "There was nothing to restore in this bucket." in response.text


@pytest.mark.django_db(transaction=True)
def test_delete_forever_from_the_deleted_files(alice_client, bucket, blob_dir):
    deleted(bucket, "docs/a.txt")
    version = ObjectVersion.objects.get()
    response = alice_client.post(
        url("version_delete", bucket),
        {
            "name": "docs/a.txt",
            "generation": str(version.generation),
            "back": "deleted",
            "prefix": "docs/",
            "confirmed": "yes",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and 'id="deleted"' in response.text
    assert "No deleted files in this folder." in response.text
    assert not ObjectVersion.objects.exists() and stored_blobs(blob_dir) == []


def test_delete_forever_without_javascript_confirms_and_comes_back(alice_client, bucket):
    deleted(bucket, "docs/a.txt")
    version = ObjectVersion.objects.get()
    data = {
        "name": "docs/a.txt",
        "generation": str(version.generation),
        "back": "deleted",
        "prefix": "docs/",
    }
    page = alice_client.post(url("version_delete", bucket), data).text
    assert 'name="back" value="deleted"' in page
    assert f'href="{url("deleted_list", bucket, prefix="docs/")}"' in page  # Cancel
    response = alice_client.post(url("version_delete", bucket), {**data, "confirmed": "yes"})
    assert response["Location"] == url("deleted_list", bucket, prefix="docs/")
    assert not ObjectVersion.objects.exists()


def test_deleted_files_escape_names(alice_client, bucket):
    # "<script>x</script>.txt" holds a "/": it is "script>.txt" in the folder "<script>x</".
    deleted(bucket, EVIL, "<img src=x onerror=alert(1)>.txt")
    text = alice_client.get(url("deleted_list", bucket)).text
    assert "<script>x" not in text and "<img src=x" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in text and "&lt;script&gt;x&lt;/" in text
    text = alice_client.get(url("deleted_list", bucket, prefix="<script>x</")).text
    assert "<script>x" not in text and ">script&gt;.txt</span>" in text


# ---- one row at a time: htmx answers change only the row acted on (issue 13) --------------------

ROW = re.compile(r"<tr\b")


def htmx_post(client: Client, view: str, bucket: Bucket, data: dict, *, target: str):
    """POST as a form of the page does with htmx: ``target`` is the id of what it swaps."""
    return client.post(url(view, bucket), data, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=target)


def deleted_row_data(name: str, prefix: str = "docs/") -> dict:
    version = ObjectVersion.objects.get(name=name)
    return {"name": name, "generation": str(version.generation), "prefix": prefix}


def deleted_row(data: dict) -> str:
    return deleted_row_id(data["name"], int(data["generation"]))


def restore_file(client: Client, bucket: Bucket, name: str):
    data = {"scope": "file", **deleted_row_data(name)}
    return htmx_post(client, "deleted_restore", bucket, data, target=deleted_row(data))


def test_each_deleted_row_has_the_id_its_answers_target(alice_client, bucket):
    deleted(bucket, "docs/a.txt", "docs/sub/b.txt")
    data = {**deleted_row_data("docs/a.txt"), "back": "deleted"}
    text = alice_client.get(url("deleted_list", bucket, prefix="docs/")).text
    assert f'<tr class="file-row" id="{deleted_row(data)}">' in text
    assert f'<tr class="folder-row" id="{row_id("docs/sub/")}">' in text
    # A row's forms answer in place of their row; "Restore all" answers with the panel.
    assert text.count('hx-target="closest tr"') == 3
    assert text.count('hx-target="#deleted"') == 1
    # Delete forever asks in the dialog, whose answer replaces the same row.
    ask = htmx_post(alice_client, "version_delete", bucket, data, target=deleted_row(data))
    assert ask["HX-Retarget"] == "#confirm-dialog"
    assert f'hx-target="#{deleted_row(data)}"' in ask.text


def test_restore_one_of_many_deleted_files_answers_only_a_toast(alice_client, bucket):
    deleted(bucket, "docs/a.txt", "docs/b.txt", "docs/c.txt")
    response = restore_file(alice_client, bucket, "docs/b.txt")
    assert response.status_code == 200
    assert "HX-Retarget" not in response and "HX-Reswap" not in response
    # Nothing takes the row's place; the other rows are not sent again.
    assert not ROW.search(response.text)
    assert "a.txt" not in response.text and "c.txt" not in response.text
    toast = 'id="toast-status" class="toast-region" role="status" aria-live="polite" hx-swap-oob'
    assert toast in response.text and "Restored “docs/b.txt”." in response.text
    assert live_bytes(bucket, "docs/b.txt") == b"docs/b.txt"


@pytest.mark.django_db(transaction=True)
def test_delete_forever_one_of_many_deleted_files_answers_only_a_toast(
    alice_client, bucket, blob_dir
):
    deleted(bucket, "docs/a.txt", "docs/b.txt", "docs/c.txt")
    data = {**deleted_row_data("docs/b.txt"), "back": "deleted", "confirmed": "yes"}
    response = htmx_post(alice_client, "version_delete", bucket, data, target=deleted_row(data))
    assert response.status_code == 200
    assert "HX-Retarget" not in response and "HX-Reswap" not in response
    assert not ROW.search(response.text)
    assert "a.txt" not in response.text and "c.txt" not in response.text
    assert f"Deleted generation {data['generation']} of “docs/b.txt” for good." in response.text
    assert sorted(ObjectVersion.objects.values_list("name", flat=True)) == [
        "docs/a.txt",
        "docs/c.txt",
    ]
    assert len(stored_blobs(blob_dir)) == 2


def test_the_last_deleted_row_brings_the_empty_panel(alice_client, bucket):
    deleted(bucket, "docs/a.txt", "other.txt")
    response = restore_file(alice_client, bucket, "docs/a.txt")
    assert response["HX-Retarget"] == "#deleted" and response["HX-Reswap"] == "outerHTML"
    assert 'id="deleted"' in response.text and "No deleted files in this folder." in response.text
    assert "Restored “docs/a.txt”." in response.text


def test_a_deleted_file_purged_meanwhile_loses_its_row_and_says_so(alice_client, bucket):
    deleted(bucket, "docs/a.txt", "docs/b.txt")
    data = {"scope": "file", **deleted_row_data("docs/a.txt")}
    ObjectVersion.objects.filter(name="docs/a.txt").delete()
    response = htmx_post(alice_client, "deleted_restore", bucket, data, target=deleted_row(data))
    assert response.status_code == 404 and not ROW.search(response.text)
    assert "HX-Reswap" not in response
    assert "That deleted version of “docs/a.txt” no longer exists." in response.text


def test_a_refused_restore_leaves_the_row_and_says_why(alice_client, bucket):
    deleted(bucket, "docs/a.txt", "docs/b.txt")
    put(bucket, "docs/a.txt", b"new")
    response = restore_file(alice_client, bucket, "docs/a.txt")
    assert response.status_code == 409 and response["HX-Reswap"] == "none"
    assert "“docs/a.txt” exists again" in response.text and not ROW.search(response.text)


def test_restore_a_subfolder_row(alice_client, bucket):
    deleted(bucket, "docs/a.txt", "docs/sub/b.txt", "docs/sub/c.txt", "docs/full/d.txt")
    put(bucket, "docs/full/d.txt", b"taken")
    data = {"scope": "folder", "folder": "docs/sub/", "prefix": "docs/"}
    response = htmx_post(alice_client, "deleted_restore", bucket, data, target=row_id("docs/sub/"))
    # Everything in it came back: its row goes, and only its row.
    assert response.status_code == 200
    assert "HX-Retarget" not in response and "HX-Reswap" not in response
    assert not ROW.search(response.text) and "a.txt" not in response.text
    assert "Restored 2 files in “docs/sub/”." in response.text
    # A subfolder with a file whose name is taken keeps its row.
    data = {"scope": "folder", "folder": "docs/full/", "prefix": "docs/"}
    response = htmx_post(alice_client, "deleted_restore", bucket, data, target=row_id("docs/full/"))
    assert response["HX-Reswap"] == "none"
    assert "There was nothing to restore in “docs/full/”." in response.text


def test_restore_all_answers_with_the_panel_and_how_many_came_back(alice_client, bucket):
    deleted(bucket, "docs/a.txt", "docs/b.txt", "docs/sub/c.txt")
    put(bucket, "docs/b.txt", b"taken")
    data = {"scope": "folder", "folder": "docs/", "prefix": "docs/"}
    response = htmx_post(alice_client, "deleted_restore", bucket, data, target="deleted")
    assert response.status_code == 200 and "HX-Retarget" not in response
    assert 'id="deleted"' in response.text and "Restored 2 files in “docs/”." in response.text
    # What could not come back is still listed.
    assert ">b.txt</span>" in response.text and ">a.txt</span>" not in response.text


def test_each_version_row_has_the_id_its_answers_target(alice_client, bucket):
    v1, v2, v3 = three_generations(bucket)
    text = alice_client.get(url("object_versions", bucket, name="docs/notes.txt")).text
    for version in (v1, v2, v3):
        assert f'id="{version_row_id(version.generation)}"' in text
    # Restore changes several rows (a new live one): it answers with the panel; a delete, its row.
    assert text.count('hx-target="#versions"') == 2
    assert text.count('hx-target="closest tr"') == 2
    data = {"name": "docs/notes.txt", "generation": str(v1.generation)}
    ask = htmx_post(
        alice_client, "version_delete", bucket, data, target=version_row_id(v1.generation)
    )
    assert f'hx-target="#{version_row_id(v1.generation)}"' in ask.text


def test_delete_an_old_version_answers_with_its_row_only(alice_client, bucket):
    v1, v2, v3 = three_generations(bucket)
    data = {"name": "docs/notes.txt", "generation": str(v2.generation)}
    response = htmx_post(
        alice_client, "version_delete", bucket, data, target=version_row_id(v2.generation)
    )
    assert response.status_code == 200
    assert "HX-Retarget" not in response and "HX-Reswap" not in response
    # Its row, now deleted, and no other.
    assert len(ROW.findall(response.text)) == 1
    assert response.text.lstrip().startswith(
        f'<tr class="version-row deleted" id="{version_row_id(v2.generation)}"'
    )
    assert version_row_id(v1.generation) not in response.text
    assert version_row_id(v3.generation) not in response.text
    assert f'aria-label="Delete forever: generation {v2.generation}"' in response.text
    assert "It can be restored for 7 days." in response.text
    assert 'id="versions-note" class="muted table-note" hx-swap-oob="true" hidden' in response.text


def test_delete_a_version_forever_takes_its_row_away_and_keeps_the_note_right(
    alice_client, bucket, monkeypatch
):
    monkeypatch.setattr(version_views, "MAX_VERSIONS_SHOWN", 2)
    versioned(bucket, soft_delete_days=0)
    put(bucket, "a.txt", b"1")
    second = put(bucket, "a.txt", b"2")
    put(bucket, "a.txt", b"3")
    page = alice_client.get(url("object_versions", bucket, name="a.txt")).text
    assert "The newest 2 of 3 versions are shown." in page
    data = {"name": "a.txt", "generation": str(second.generation), "confirmed": "yes"}
    response = htmx_post(
        alice_client, "version_delete", bucket, data, target=version_row_id(second.generation)
    )
    assert response.status_code == 200 and not ROW.search(response.text)
    assert f"Deleted generation {second.generation} of “a.txt” for good." in response.text
    # The page now shows 1 of the 2 left (a reload would show both).
    assert "The newest 1 of 2 versions are shown." in response.text


def test_deleting_the_last_version_brings_the_empty_panel(alice_client, bucket):
    deleted(bucket, "a.txt")
    version = ObjectVersion.objects.get()
    data = {"name": "a.txt", "generation": str(version.generation), "confirmed": "yes"}
    response = htmx_post(
        alice_client, "version_delete", bucket, data, target=version_row_id(version.generation)
    )
    assert response["HX-Retarget"] == "#versions" and response["HX-Reswap"] == "outerHTML"
    assert "Nothing is kept of “a.txt”." in response.text


def test_restore_a_version_answers_with_the_panel(alice_client, bucket):
    v1, v2, v3 = three_generations(bucket)
    data = {"name": "docs/notes.txt", "generation": str(v2.generation)}
    response = htmx_post(alice_client, "version_restore", bucket, data, target="versions")
    assert response.status_code == 200 and "HX-Retarget" not in response
    assert 'id="versions"' in response.text
    assert len(ROW.findall(response.text)) == 5  # the header, the new live one and the three
    assert f"Restored “docs/notes.txt” from generation {v2.generation}." in response.text


# ---- Settings: usage, versioning and soft delete ------------------------------------------------


def settings_url(bucket: Bucket) -> str:
    return reverse("bucket_settings", args=[bucket.bucket_id])


def test_usage_counts_live_old_and_deleted_bytes_apart(alice_client, bucket):
    versioned(bucket)
    first = put(bucket, "a.txt", b"x" * 1000)
    put(bucket, "a.txt", b"y" * 2000)
    put(bucket, "b.txt", b"z" * 10)
    deleted(bucket, "gone.txt")  # 8 bytes: noncurrent in a versioned bucket
    services.object_delete(bucket=bucket, name="a.txt", generation=first.generation)
    text = alice_client.get(settings_url(bucket)).text
    hard = ObjectVersion.objects.get(generation=first.generation).hard_delete_time
    summary = text.split('data-testid="usage-summary">')[1].split("</p>")[0]
    assert summary.startswith("2 files, 2.0\xa0KB · old versions 8\xa0bytes")
    assert "deleted files 1000\xa0bytes (gone for good by" in summary
    assert f"{hard:%Y-%m-%d %H:%M}" in summary
    assert '<dd data-testid="object-count">2</dd>' in text
    assert "its old versions and its deleted files" in text and "cannot be undone" in text


def test_turn_versioning_on_and_soft_delete_to_30_days(alice_client, bucket):
    response = alice_client.post(
        reverse("bucket_protection", args=[bucket.bucket_id]),
        {"versioning": "on", "soft_delete": "on", "soft_delete_days": "30"},
    )
    assert response.status_code == 302 and response["Location"] == settings_url(bucket)
    fresh = Bucket.objects.get(pk=bucket.pk)
    assert fresh.versioning_enabled and fresh.soft_delete_seconds == 30 * DAY
    text = alice_client.get(settings_url(bucket)).text
    assert "Saved: versioning is on; deleted files are kept for 30 days." in text
    assert 'role="switch"' in text and "checked" in text.split('name="versioning"')[1].split(">")[0]


def test_turn_both_off(alice_client, bucket):
    versioned(bucket)
    alice_client.post(
        reverse("bucket_protection", args=[bucket.bucket_id]),
        {"soft_delete": "off", "soft_delete_days": "7"},
    )
    fresh = Bucket.objects.get(pk=bucket.pk)
    assert not fresh.versioning_enabled and fresh.soft_delete_seconds == 0
    assert "soft delete is off" in alice_client.get(settings_url(bucket)).text


def test_a_retention_set_through_the_api_survives_a_versioning_change(alice_client, bucket):
    bucket_update_settings(bucket=bucket, soft_delete_seconds=3600)
    page = alice_client.get(settings_url(bucket)).text
    assert "deleted files are kept for <strong>1 hour</strong>" in page
    alice_client.post(
        reverse("bucket_protection", args=[bucket.bucket_id]),
        {"versioning": "on", "soft_delete": "on", "soft_delete_days": "1"},
    )
    fresh = Bucket.objects.get(pk=bucket.pk)
    assert fresh.versioning_enabled and fresh.soft_delete_seconds == 3600


@pytest.mark.parametrize("days", ["0", "91", "", "seven"])
def test_a_bad_retention_is_refused_in_place_and_nothing_is_saved(alice_client, bucket, days):
    response = alice_client.post(
        reverse("bucket_protection", args=[bucket.bucket_id]),
        {"versioning": "on", "soft_delete": "on", "soft_delete_days": days},
    )
    assert response.status_code == 400
    assert 'class="field-error" role="alert"' in response.text
    assert 'aria-invalid="true"' in response.text
    fresh = Bucket.objects.get(pk=bucket.pk)
    assert not fresh.versioning_enabled and fresh.soft_delete_seconds == 7 * DAY


# ---- Settings: lifecycle ------------------------------------------------------------------------


def add_rule(client: Client, bucket: Bucket, **data: str):
    return client.post(reverse("lifecycle_rule_add", args=[bucket.bucket_id]), data)


@pytest.mark.parametrize(
    "data, rule, words",
    [
        (
            {"action": "delete-files", "age": "30", "prefix": "logs/", "suffix": ".log"},
            {
                "action": {"type": "Delete"},
                "condition": {
                    "isLive": True,
                    "age": 30,
                    "matchesPrefix": ["logs/"],
                    "matchesSuffix": [".log"],
                },
            },
            "Delete live files under &quot;logs/&quot; ending in &quot;.log&quot; 30 days after",
        ),
        (
            {"action": "delete-old-versions", "newer_versions": "3", "noncurrent_days": "7"},
            {
                "action": {"type": "Delete"},
                "condition": {"isLive": False, "numNewerVersions": 3, "daysSinceNoncurrentTime": 7},
            },
            "Delete old versions",
        ),
        (
            {"action": "abort-uploads", "age": "2"},
            {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 2}},
            "Abort unfinished uploads after 2 days",
        ),
    ],
)
def test_add_a_lifecycle_rule_without_code(alice_client, bucket, data, rule, words):
    response = add_rule(alice_client, bucket, **data)
    assert response.status_code == 302
    assert Bucket.objects.get(pk=bucket.pk).lifecycle_rules == [rule]
    text = alice_client.get(settings_url(bucket)).text
    assert "Added the rule" in text
    assert words in text.split('aria-label="Lifecycle rules"')[1]


@pytest.mark.parametrize(
    "data, error",
    [
        ({"action": "delete-files"}, "Give the number of days"),
        ({"action": "delete-files", "age": "1", "newer_versions": "2"}, "Only old versions"),
        ({"action": "abort-uploads", "noncurrent_days": "2", "age": "1"}, "Only old versions"),
        ({"action": "delete-old-versions", "prefix": "x/"}, "Say when old versions are deleted"),
        ({"action": "delete-files", "age": "-1"}, "greater than or equal to 0"),
        ({"action": "nuke", "age": "1"}, "Select a valid choice"),
        ({"action": "delete-files", "age": "1", "prefix": "a\x00b"}, "Null characters"),
    ],
)
def test_a_bad_rule_is_refused_in_place_and_nothing_is_saved(alice_client, bucket, data, error):
    response = add_rule(alice_client, bucket, **data)
    assert response.status_code == 400
    assert error in response.text and 'role="alert"' in response.text
    assert Bucket.objects.get(pk=bucket.pk).lifecycle_rules == []


def test_a_rule_the_lifecycle_module_refuses_is_shown_and_not_saved(alice_client, bucket):
    existing = [{"action": {"type": "Delete"}, "condition": {"age": 1}}] * 100
    bucket_update_settings(bucket=bucket, lifecycle_rules=existing)
    response = add_rule(alice_client, bucket, action="delete-files", age="5")
    assert response.status_code == 400 and "at most 100" in response.text
    assert len(Bucket.objects.get(pk=bucket.pk).lifecycle_rules) == 100


def test_remove_a_rule(alice_client, bucket):
    add_rule(alice_client, bucket, action="delete-files", age="30")
    add_rule(alice_client, bucket, action="abort-uploads", age="2")
    text = alice_client.get(settings_url(bucket)).text
    key = text.split('name="index" value="0"')[1].split('name="key" value="')[1].split('"')[0]
    remove = reverse("lifecycle_rule_remove", args=[bucket.bucket_id])
    # A stale form (the list changed meanwhile) removes nothing.
    response = alice_client.post(remove, {"index": "1", "key": key})
    assert response.status_code == 302
    assert len(Bucket.objects.get(pk=bucket.pk).lifecycle_rules) == 2
    assert "nothing was removed" in alice_client.get(settings_url(bucket)).text
    alice_client.post(remove, {"index": "0", "key": key})
    rules = Bucket.objects.get(pk=bucket.pk).lifecycle_rules
    assert rules == [
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 2}}
    ]
    assert "Removed the rule “Delete live files" in alice_client.get(settings_url(bucket)).text


def test_rules_are_shown_as_text(alice_client, bucket):
    add_rule(alice_client, bucket, action="delete-files", age="1", prefix=EVIL)
    text = alice_client.get(settings_url(bucket)).text
    assert "<script>x</script>" not in text and "&lt;script&gt;x&lt;/script&gt;" in text


def test_the_preview_lists_what_the_next_run_would_delete(alice_client, bucket):
    put(bucket, "logs/a.log", b"12345")
    put(bucket, "keep.txt")
    add_rule(alice_client, bucket, action="delete-files", age="0", prefix="logs/")
    settings_page = alice_client.get(settings_url(bucket)).text
    preview = reverse("lifecycle_preview", args=[bucket.bucket_id])
    assert f'hx-get="{preview}"' in settings_page and f'href="{preview}"' in settings_page
    response = alice_client.get(preview, HTTP_HX_REQUEST="true")
    assert "<html" not in response.text
    assert "logs/a.log" in response.text and "keep.txt" not in response.text
    assert "1 item, 5\xa0bytes" in response.text
    # A preview changes nothing.
    assert Object.objects.filter(name="logs/a.log").exists()
    page = alice_client.get(preview)
    assert "<html" in page.text and "Back to Settings" in page.text


def test_the_preview_of_a_bucket_without_rules_is_empty(alice_client, bucket):
    put(bucket, "a.txt")
    response = alice_client.get(reverse("lifecycle_preview", args=[bucket.bucket_id]))
    assert "the next run would delete nothing" in response.text


def test_turning_soft_delete_off_ignores_the_days(alice_client, bucket):
    response = alice_client.post(
        reverse("bucket_protection", args=[bucket.bucket_id]),
        {"soft_delete": "off", "soft_delete_days": "seven"},
    )
    assert response.status_code == 302
    assert Bucket.objects.get(pk=bucket.pk).soft_delete_seconds == 0
