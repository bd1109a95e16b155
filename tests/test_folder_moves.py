"""Moving and renaming folders (issue 15): a batch at a time, resumable, never over a name
unless asked, undoable (objects/folder_moves.py, objects/move_views.py)."""

import pytest
from django.urls import reverse

from buckets.models import Bucket
from objects import folder_moves, services
from objects.folder_moves import MoveRefused, folder_move_start, folder_move_step
from objects.models import FolderMove, Object, ObjectVersion

from .conftest import put, read


def live(bucket: Bucket) -> list[str]:
    return sorted(Object.objects.filter(bucket=bucket).values_list("name", flat=True))


def bytes_of(bucket: Bucket, name: str) -> bytes:
    return read(services.object_get(bucket=bucket, name=name))


@pytest.fixture
def tree(bucket):
    for name in ("a/", "a/1.txt", "a/2.txt", "a/sub/3.txt", "a-b/keep.txt", "top.txt"):
        put(bucket, name, b"" if name.endswith("/") else name.encode())
    return bucket


def test_a_folder_moves_whole_keeping_bytes_and_leaving_its_neighbours(tree):
    move = folder_move_step(folder_move_start(bucket=tree, source="a/", destination="x/y/"))
    assert move.state == FolderMove.DONE and (move.moved, move.total) == (4, 4)
    assert live(tree) == [
        "a-b/keep.txt",
        "top.txt",
        "x/y/",
        "x/y/1.txt",
        "x/y/2.txt",
        "x/y/sub/3.txt",
    ]
    assert bytes_of(tree, "x/y/sub/3.txt") == b"a/sub/3.txt"
    # The old names went as any delete goes: soft-deleted, restorable.
    assert ObjectVersion.objects.filter(bucket=tree, name="a/1.txt").exists()


def test_a_big_folder_moves_in_batches_and_resumes_after_a_stop(tree, monkeypatch):
    monkeypatch.setattr(folder_moves, "BATCH", 2)
    move = folder_move_step(folder_move_start(bucket=tree, source="a/", destination="b/"))
    assert move.state == FolderMove.MOVING and move.moved == 2 and move.cursor == "a/1.txt"
    assert live(tree) == ["a-b/keep.txt", "a/2.txt", "a/sub/3.txt", "b/", "b/1.txt", "top.txt"]
    folder_moves.folder_move_stop(move)
    assert folder_move_step(move).moved == 2  # a stopped move does nothing
    assert folder_moves.unfinished(tree) == [move]
    folder_moves.folder_move_resume(move)
    while move.state == FolderMove.MOVING:
        move = folder_move_step(move)
    assert move.state == FolderMove.DONE and move.moved == 4
    assert live(tree) == ["a-b/keep.txt", "b/", "b/1.txt", "b/2.txt", "b/sub/3.txt", "top.txt"]
    assert folder_moves.unfinished(tree) == []


def test_a_batch_another_request_runs_is_left_to_it(tree):
    move = folder_move_start(bucket=tree, source="a/", destination="b/")
    FolderMove.objects.filter(pk=move.pk).update(
        lease_until=services.timezone.now() + folder_moves.LEASE
    )
    assert folder_move_step(move).moved == 0
    assert "a/1.txt" in live(tree)


def test_a_stop_pressed_during_a_batch_stands(tree, monkeypatch):
    move = folder_move_start(bucket=tree, source="a/", destination="b/")
    real = services.object_move

    def stopped_from_another_tab(**kwargs):
        FolderMove.objects.filter(pk=move.pk).update(state=FolderMove.STOPPED)
        return real(**kwargs)

    monkeypatch.setattr(services, "object_move", stopped_from_another_tab)
    move = folder_move_step(move)
    assert move.state == FolderMove.STOPPED and move.moved == 1 and move.lease_until is None
    assert live(tree).count("a/1.txt") == 1  # the rest waits for Resume


def test_names_taken_at_the_destination_stay_unless_replace(tree):
    put(tree, "b/2.txt", b"already there")
    move = folder_move_step(folder_move_start(bucket=tree, source="a/", destination="b/"))
    assert move.state == FolderMove.DONE and (move.moved, move.skipped) == (3, 1)
    assert move.skipped_names == ["b/2.txt"] and move.merged
    assert bytes_of(tree, "b/2.txt") == b"already there" and bytes_of(tree, "a/2.txt") == b"a/2.txt"
    assert not folder_moves.can_undo(move)  # b/ held files before: no undo
    again = folder_move_start(bucket=tree, source="a/", destination="b/", replace=True)
    assert folder_move_step(again).moved == 1
    assert bytes_of(tree, "b/2.txt") == b"a/2.txt" and "a/2.txt" not in live(tree)


def test_undo_moves_back_what_was_moved(tree, monkeypatch):
    monkeypatch.setattr(folder_moves, "BATCH", 2)
    move = folder_move_step(folder_move_start(bucket=tree, source="a/", destination="b/"))
    folder_moves.folder_move_stop(move)
    assert folder_moves.can_undo(move)
    back = folder_moves.folder_move_undo(move)
    move.refresh_from_db()
    assert move.state == FolderMove.LEFT and back.undo_of == move and back.total == 2
    while back.state == FolderMove.MOVING:
        back = folder_move_step(back)
    assert live(tree) == ["a-b/keep.txt", "a/", "a/1.txt", "a/2.txt", "a/sub/3.txt", "top.txt"]
    assert not folder_moves.can_undo(move)  # once
    with pytest.raises(MoveRefused):
        folder_moves.folder_move_undo(move)


@pytest.mark.parametrize(
    ("source", "destination", "reason"),
    [
        ("a/", "a/", "the same"),
        ("a/", "a/sub/in/", "into itself"),
        ("a/sub/", "a/", "a folder that holds it"),  # its new names would be moved again
        ("nothing/", "b/", "holds nothing"),
        ("a", "b/", "ends with"),
    ],
)
def test_moves_that_cannot_start_are_refused(tree, source, destination, reason):
    with pytest.raises(MoveRefused, match=reason):
        folder_move_start(bucket=tree, source=source, destination=destination)
    assert not FolderMove.objects.exists()


def test_a_new_name_too_long_stops_the_move_and_says_why(tree):
    destination = "d" * 1020 + "/"
    move = folder_move_step(folder_move_start(bucket=tree, source="a/", destination=destination))
    assert move.state == FolderMove.STOPPED and "could not be moved" in move.error
    assert "a/1.txt" in live(tree)


# ---- the pane -----------------------------------------------------------------------------


def move_form(client, bucket: Bucket, **data):
    return client.post(reverse("folder_move", args=[bucket.bucket_id]), data)


def test_the_form_renames_a_small_folder_at_once(alice_client, tree):
    page = alice_client.get(reverse("folder_move", args=[tree.bucket_id]), {"folder": "a/"})
    assert page.status_code == 200 and 'name="new_path" value="a/"' in page.content.decode()
    done = move_form(alice_client, tree, folder="a/", new_path="renamed")
    assert done.status_code == 302 and done["Location"] == reverse(
        "object_browser", args=[tree.bucket_id]
    )
    assert "renamed/sub/3.txt" in live(tree) and "a/1.txt" not in live(tree)


def test_a_refused_move_comes_back_to_the_form_with_the_reason(alice_client, tree):
    page = move_form(alice_client, tree, folder="a/", new_path="a/inner/")
    assert page.status_code == 400 and "cannot be moved into itself" in page.content.decode()
    assert 'aria-invalid="true"' in page.content.decode()
    assert not FolderMove.objects.exists()


def test_a_big_folder_goes_on_on_its_page_until_done(alice_client, tree, monkeypatch):
    monkeypatch.setattr(folder_moves, "BATCH", 1)
    started = move_form(alice_client, tree, folder="a/", new_path="b/")
    move = FolderMove.objects.get()
    page_url = reverse("folder_move_page", args=[tree.bucket_id, move.pk])
    assert started.status_code == 302 and started["Location"] == page_url
    page = alice_client.get(page_url).content.decode()
    assert "Moving: 1 of 4." in page and 'hx-trigger="load delay:50ms"' in page
    # The listing says a move is under way.
    listing = alice_client.get(reverse("object_browser", args=[tree.bucket_id])).content.decode()
    assert "Moving “a/” to “b/”, 1 of 4 moved." in listing
    step = reverse("folder_move_step", args=[tree.bucket_id, move.pk])
    for _ in range(3):
        answer = alice_client.post(step, HTTP_HX_REQUEST="true").content.decode()
    assert "Done: 4 moved." in answer and "Undo: move 4 back" in answer
    assert "hx-trigger" not in answer  # nothing more to ask for
    assert live(tree) == ["a-b/keep.txt", "b/", "b/1.txt", "b/2.txt", "b/sub/3.txt", "top.txt"]


def test_dropping_a_folder_on_a_folder_moves_it_inside(alice_client, tree):
    answer = alice_client.post(
        reverse("folder_move", args=[tree.bucket_id]),
        {"folder": "a/", "into": "a-b/", "prefix": ""},
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 200
    assert "Moved “a/” to “a-b/a/”: 4 objects." in answer.content.decode()
    assert "a-b/a/sub/3.txt" in live(tree)


def test_another_users_move_is_a_404(charlie_client, tree):
    move = folder_move_start(bucket=tree, source="a/", destination="b/")
    for url in (
        reverse("folder_move_page", args=[tree.bucket_id, move.pk]),
        reverse("folder_move_step", args=[tree.bucket_id, move.pk]),
        reverse("folder_move_control", args=[tree.bucket_id, move.pk, "stop"]),
    ):
        assert charlie_client.post(url).status_code == 404
    assert move_form(charlie_client, tree, folder="a/", new_path="c/").status_code == 404
    assert "a/1.txt" in live(tree)
