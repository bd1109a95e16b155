"""Select many in the listing (issue 15): delete, move and download the ticked rows, or all a
folder holds, through the selection's form (objects/bulk_views.py)."""

import io
import zipfile

import pytest
from django.urls import reverse

from buckets.models import Bucket
from objects import services
from objects.models import Object

from .conftest import put, read


def select(client, bucket: Bucket, action: str, htmx: bool = True, **data):
    data = {"action": action, **data}
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(reverse("bulk_action", args=[bucket.bucket_id]), data, **extra)


def live(bucket: Bucket) -> list[str]:
    return sorted(Object.objects.filter(bucket=bucket).values_list("name", flat=True))


ALL = ["f/a.txt", "f/b.txt", "f/c.txt", "f/sub/d.txt", "f/sub/e/g.txt", "other.txt"]


@pytest.fixture
def folder(bucket):
    for name in ALL:
        put(bucket, name, name.encode())
    return bucket


def test_the_listing_has_a_checkbox_per_row_in_the_selection_form(alice_client, folder):
    page = alice_client.get(reverse("object_browser", args=[folder.bucket_id]), {"prefix": "f/"})
    text = page.content.decode()
    assert '<form id="bulk-form"' in text
    assert 'form="bulk-form" name="names" value="f/a.txt" aria-label="Select a.txt"' in text
    assert 'form="bulk-form" name="folders" value="f/sub/" aria-label="Select folder sub/"' in text
    for action in ("zip", "move", "delete"):
        assert f'name="action" value="{action}"' in text


def test_delete_asks_first_then_deletes_files_and_folders_with_undo(alice_client, folder):
    selection = {"prefix": "f/", "names": ["f/a.txt", "f/b.txt"], "folders": ["f/sub/"]}
    asked = select(alice_client, folder, "delete", **selection)
    assert asked.status_code == 200 and asked["HX-Retarget"] == "#confirm-dialog"
    text = asked.content.decode()
    assert "Delete 2 files and 1 folder?" in text and "This deletes 4 objects." in text
    for value in ("f/a.txt", "f/b.txt", "f/sub/"):
        assert f'value="{value}"' in text
    assert live(folder) == ALL

    done = select(alice_client, folder, "delete", confirmed="yes", **selection)
    assert done.status_code == 200
    assert live(folder) == ["f/c.txt", "other.txt"]
    text = done.content.decode()
    assert "Deleted 2 files and 1 folder: 4 objects." in text
    # Undo brings back all of it (the bucket soft-deletes): the form names each one.
    undo_form = text.split('class="undo-form"')[1].split("</form>")[0]
    assert undo_form.count('name="name"') == 2 and 'name="folder" value="f/sub/"' in undo_form
    since = text.split('name="since" value="')[1].split('"')[0]
    undo = alice_client.post(
        reverse("delete_undo", args=[folder.bucket_id]),
        {"name": ["f/a.txt", "f/b.txt"], "folder": ["f/sub/"], "since": since, "prefix": "f/"},
        HTTP_HX_REQUEST="true",
    )
    assert "Restored 4 objects." in undo.content.decode()
    assert live(folder) == ALL


def test_everything_in_the_folder_goes_even_rows_not_shown(alice_client, folder, settings):
    settings.OBJSTORE_PAGE_SIZE = 2  # the page shows 2 of the folder's 4 entries
    page = alice_client.get(reverse("object_browser", args=[folder.bucket_id]), {"prefix": "f/"})
    assert (
        'id="bulk-all"' in page.content.decode()
        and "Select all 4 in this folder" in page.content.decode()
    )
    asked = select(alice_client, folder, "delete", prefix="f/", everything="yes", names=["f/a.txt"])
    assert "Delete everything in “f/”?" in asked.content.decode()
    assert "This deletes 5 objects." in asked.content.decode()
    select(alice_client, folder, "delete", prefix="f/", everything="yes", confirmed="yes")
    assert live(folder) == ["other.txt"]


def test_everything_at_the_top_empties_the_bucket_but_keeps_it(alice_client, folder):
    select(alice_client, folder, "delete", everything="yes", confirmed="yes")
    assert live(folder) == []
    assert Bucket.objects.filter(pk=folder.pk).exists()


def test_without_javascript_the_question_is_a_page_and_the_answer_a_redirect(alice_client, folder):
    asked = select(alice_client, folder, "delete", htmx=False, prefix="f/", names=["f/a.txt"])
    assert asked.status_code == 200 and "<title>Delete “f/a.txt”?" in asked.content.decode()
    done = select(
        alice_client, folder, "delete", htmx=False, prefix="f/", names=["f/a.txt"], confirmed="yes"
    )
    assert done.status_code == 302 and done["Location"].endswith("?prefix=f%2F")
    assert "f/a.txt" not in live(folder)


def test_move_asks_where_then_moves_each_file_keeping_bytes(alice_client, folder):
    selection = {"prefix": "f/", "names": ["f/a.txt", "f/b.txt"]}
    asked = select(alice_client, folder, "move", **selection)
    assert asked["HX-Retarget"] == "#confirm-dialog"
    text = asked.content.decode()
    assert "Move 2 files" in text and 'name="destination"' in text
    assert '<option value="f/sub/">' in text  # the folders around are suggested

    done = select(alice_client, folder, "move", destination="f/sub", **selection)
    assert done.status_code == 200 and "Moved 2 files to “f/sub/”." in done.content.decode()
    assert read(services.object_get(bucket=folder, name="f/sub/a.txt")) == b"f/a.txt"
    assert read(services.object_get(bucket=folder, name="f/sub/b.txt")) == b"f/b.txt"
    assert "f/a.txt" not in live(folder) and "f/b.txt" not in live(folder)


def test_move_never_replaces_a_name_unless_asked(alice_client, folder):
    put(folder, "a.txt", b"already at the top")
    selection = {"prefix": "f/", "names": ["f/a.txt", "f/b.txt"], "destination": ""}
    done = select(alice_client, folder, "move", **selection)
    assert done.status_code == 409
    text = done.content.decode()
    assert "Moved 1 file to the top of" in text and "the name is taken: “a.txt”" in text
    assert read(services.object_get(bucket=folder, name="a.txt")) == b"already at the top"
    assert "f/a.txt" in live(folder)  # not moved, not lost
    done = select(
        alice_client, folder, "move", replace="yes", **{**selection, "names": ["f/a.txt"]}
    )
    assert done.status_code == 200
    assert read(services.object_get(bucket=folder, name="a.txt")) == b"f/a.txt"


def test_folders_in_the_selection_move_as_folder_moves(alice_client, folder):
    done = select(
        alice_client,
        folder,
        "move",
        prefix="f/",
        folders=["f/sub/"],
        names=["f/a.txt"],
        destination="g",
    )
    assert done.status_code == 200
    assert "Moved 1 file and 1 folder to “g/”." in done.content.decode()
    assert live(folder) == [
        "f/b.txt",
        "f/c.txt",
        "g/a.txt",
        "g/sub/d.txt",
        "g/sub/e/g.txt",
        "other.txt",
    ]


def test_a_big_folder_in_the_selection_goes_on_on_its_page(alice_client, folder, monkeypatch):
    from objects import folder_moves

    monkeypatch.setattr(folder_moves, "BATCH", 1)
    done = select(alice_client, folder, "move", prefix="f/", folders=["f/sub/"], destination="g")
    move = folder_moves.FolderMove.objects.get()
    assert done["HX-Redirect"] == reverse("folder_move_page", args=[folder.bucket_id, move.pk])
    assert move.state == "moving" and move.moved == 1


def test_all_a_folder_holds_is_moved_by_moving_the_folder(alice_client, folder):
    done = select(alice_client, folder, "move", prefix="f/", everything="yes", destination="")
    assert done.status_code == 400 and done["HX-Reswap"] == "none"
    assert "rename or move the folder itself" in done.content.decode()
    assert "f/sub/d.txt" in live(folder)


def test_a_bad_destination_moves_nothing(alice_client, folder):
    done = select(
        alice_client, folder, "move", prefix="f/", names=["f/a.txt"], destination="bad\x00name"
    )
    assert done.status_code == 400
    assert "f/a.txt" in live(folder)


def test_download_zips_the_selection_with_paths_relative_to_the_folder(alice_client, folder):
    response = select(
        alice_client, folder, "zip", htmx=False, prefix="f/", names=["f/a.txt"], folders=["f/sub/"]
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="f.zip"'
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.namelist() == ["a.txt", "sub/d.txt", "sub/e/g.txt"]
    assert archive.read("sub/e/g.txt") == b"f/sub/e/g.txt"


def test_a_selection_over_the_zip_limit_is_refused_before_any_byte(alice_client, folder, settings):
    settings.OBJSTORE_ZIP_MAX_FILES = 2
    response = select(
        alice_client, folder, "zip", prefix="f/", names=["f/a.txt"], folders=["f/sub/"]
    )
    assert response.status_code == 400 and "more than 2 files" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prefix": "f/"}, "Select files or folders first."),
        ({"prefix": "f/", "names": ["other.txt"]}, "Only files and folders of this folder"),
        ({"prefix": "f/", "names": [f"f/{i}" for i in range(1001)]}, "Select at most 1,000"),
    ],
)
def test_bad_selections_are_refused_and_change_nothing(alice_client, folder, data, message):
    before = live(folder)
    for action in ("delete", "move", "zip"):
        response = select(alice_client, folder, action, confirmed="yes", destination="x/", **data)
        assert response.status_code == 400 and message in response.content.decode()
    assert select(alice_client, folder, "rename", names=["f/a.txt"], prefix="f/").status_code == 400
    assert live(folder) == before


def test_another_users_bucket_is_a_404_and_nothing_changes(charlie_client, folder):
    for action in ("delete", "move", "zip"):
        response = select(
            charlie_client, folder, action, prefix="f/", names=["f/a.txt"], confirmed="yes"
        )
        assert response.status_code == 404
    assert "f/a.txt" in live(folder)


def test_names_are_escaped_in_the_question(alice_client, bucket):
    evil = "<script>x</script>.txt"
    put(bucket, evil)
    asked = select(alice_client, bucket, "delete", names=[evil])
    text = asked.content.decode()
    assert "<script>x</script>" not in text and "&lt;script&gt;x&lt;/script&gt;.txt" in text
