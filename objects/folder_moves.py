"""Moving and renaming folders.

A folder is only a prefix, so moving ``photos/2024/`` to ``archive/2024/`` moves every object
under it, one ``services.object_move`` each (bytes streamed, metadata kept, the old name deleted
as any delete is: kept as a version or soft-deleted where the bucket keeps them). A big folder
takes many requests, so a move is a row (``FolderMove``) and runs a batch at a time: the
pane asks for the next batch until it is done, showing the progress. The row holds all the
state, so a move stopped midway (its tab closed, *Stop*, a restart) is resumed from where it
stopped, and while it is half done the pane says so.

- A name taken at the destination is never replaced unless the move was started with
  ``replace``: the object stays where it was, counted in ``skipped`` (the first names kept).
- A move into itself (``a/`` to ``a/b/``) is refused: its own new names would come up again.
- Undo moves back what is under the destination, and is offered only when the destination
  held nothing when the move began (else it could not tell the moved objects from the others).
- Two tabs never run the same batch: a batch holds the row's lease (an UPDATE that only one of
  them wins) until it ends.
"""

import time
from datetime import timedelta

from django.utils import timezone

from buckets.models import Bucket

from . import services
from .models import FolderMove
from .names import InvalidObjectName, validate_object_name

BATCH = 200  # objects per batch at most
BATCH_SECONDS = 1.5  # and no new object started after this long
LEASE = timedelta(seconds=60)  # a batch that died (its worker killed) frees the move then
SKIPPED_KEPT = 20


class MoveRefused(Exception):
    """A move that cannot start, with the reason as its message."""


def folder_move_start(
    *, bucket: Bucket, source: str, destination: str, replace: bool = False
) -> FolderMove:
    """A new move of the folder ``source`` to ``destination`` (both end in "/"); nothing is
    moved until ``folder_move_step``."""
    if not source.endswith("/") or not destination.endswith("/"):
        raise MoveRefused("A folder's path ends with “/”.")
    validate_object_name(source)
    validate_object_name(destination)
    if destination == source:
        raise MoveRefused("The new path is the same as the old one.")
    if destination.startswith(source):
        raise MoveRefused(f"“{source}” cannot be moved into itself.")
    if source.startswith(destination):
        # Its new names would land among its own (and be moved again by the next batch).
        raise MoveRefused(f"“{source}” cannot be moved into a folder that holds it.")
    total = services.objects_count_under(bucket=bucket, prefix=source)
    if not total:
        raise MoveRefused(f"“{source}” holds nothing to move.")
    merged = services.objects_count_under(bucket=bucket, prefix=destination, limit=1) > 0
    return FolderMove.objects.create(
        bucket=bucket,
        source=source,
        destination=destination,
        replace=replace,
        merged=merged,
        total=total,
    )


def folder_move_step(move: FolderMove) -> FolderMove:
    """Run the next batch of a move that is ``moving``; returns the move as it is after it. A
    batch another request is running is left to it (the move comes back unchanged). A Stop
    pressed meanwhile ends the batch after the object being moved."""
    lease = timezone.now() + LEASE
    won = (
        FolderMove.objects.filter(pk=move.pk, state=FolderMove.MOVING)
        .exclude(lease_until__gt=timezone.now())
        .update(lease_until=lease)
    )
    move.refresh_from_db()
    if not won:
        return move
    deadline = time.monotonic() + BATCH_SECONDS
    finished = False
    try:
        names = _next_names(move)  # one more than a batch: whether another follows
        finished = len(names) <= BATCH
        for name in names[:BATCH]:
            _move_one(move, name)
            move.cursor = name
            if move.state != FolderMove.MOVING or time.monotonic() > deadline:
                finished = False
                break
            # Still this batch's, and still moving (not stopped from another tab)?
            lease = timezone.now() + LEASE
            if not FolderMove.objects.filter(
                pk=move.pk, state=FolderMove.MOVING, lease_until__isnull=False
            ).update(lease_until=lease):
                finished = False
                break
    finally:
        _save_progress(move, finished)
    move.refresh_from_db()
    return move


def _save_progress(move: FolderMove, finished: bool) -> None:
    """Write what the batch did, and free the move. Its state changes only from ``moving``
    (to done, or to stopped when an object could not be moved): a Stop pressed during the
    batch stands."""
    rows = FolderMove.objects.filter(pk=move.pk)
    rows.update(
        moved=move.moved,
        skipped=move.skipped,
        skipped_names=move.skipped_names,
        cursor=move.cursor,
        error=move.error,
        lease_until=None,
        updated=timezone.now(),
    )
    state = FolderMove.DONE if finished else move.state
    if state != FolderMove.MOVING:
        rows.filter(state=FolderMove.MOVING).update(state=state)


def _next_names(move: FolderMove) -> list[str]:
    rows = services.objects_under(move.bucket, move.source).order_by("name")
    if move.cursor:
        rows = rows.filter(name__gt=move.cursor)
    return list(rows.values_list("name", flat=True)[: BATCH + 1])


def _move_one(move: FolderMove, name: str) -> None:
    new_name = move.destination + name[len(move.source) :]
    try:
        services.object_move(bucket=move.bucket, name=name, new_name=new_name, replace=move.replace)
        move.moved += 1
    except services.DestinationExists:
        move.skipped += 1
        if len(move.skipped_names) < SKIPPED_KEPT:
            move.skipped_names = [*move.skipped_names, new_name]
    except services.ObjectNotFound:
        pass  # deleted since it was listed
    except (
        InvalidObjectName,
        services.InvalidAttribute,
        services.QuotaExceeded,
        services.ObjectTooLarge,
        services.InsufficientStorage,
    ) as exc:
        # The next objects would be refused the same way (a new name too long, a full quota or
        # disk): stop, keep what was done, say why. Resuming tries again.
        move.state = FolderMove.STOPPED
        message = " ".join(exc.messages) if isinstance(exc, InvalidObjectName) else str(exc)
        move.error = f"“{name}” could not be moved: {message}"


def folder_move_stop(move: FolderMove) -> None:
    FolderMove.objects.filter(pk=move.pk, state=FolderMove.MOVING).update(state=FolderMove.STOPPED)
    move.refresh_from_db()


def folder_move_resume(move: FolderMove) -> None:
    FolderMove.objects.filter(pk=move.pk, state=FolderMove.STOPPED).update(
        state=FolderMove.MOVING, error=""
    )
    move.refresh_from_db()


def folder_move_leave(move: FolderMove) -> None:
    """Leave a stopped move as it is (what moved stays moved): it is no longer shown as
    unfinished."""
    FolderMove.objects.filter(pk=move.pk, state=FolderMove.STOPPED).update(state=FolderMove.LEFT)
    move.refresh_from_db()


def can_undo(move: FolderMove) -> bool:
    return (
        not move.merged
        and move.state != FolderMove.MOVING
        and move.moved > 0
        and not FolderMove.objects.filter(undo_of=move).exists()
    )


def folder_move_undo(move: FolderMove) -> FolderMove:
    """A move of what is under the destination back to the source (a new move, run as any
    is). What was left at the source is left alone; a name written there since is never
    replaced."""
    if not can_undo(move):
        raise MoveRefused("This move cannot be undone.")
    total = services.objects_count_under(bucket=move.bucket, prefix=move.destination)
    if not total:
        raise MoveRefused(f"“{move.destination}” holds nothing to move back.")
    if move.state == FolderMove.STOPPED:
        folder_move_leave(move)  # the undo takes over: no longer unfinished itself
    return FolderMove.objects.create(
        bucket=move.bucket,
        source=move.destination,
        destination=move.source,
        merged=True,  # the source may hold what was not moved: an undo is not undone
        total=total,
        undo_of=move,
    )


def unfinished(bucket: Bucket) -> list[FolderMove]:
    """The bucket's moves that are half done (moving, or stopped before the end)."""
    return list(
        FolderMove.objects.filter(bucket=bucket)
        .filter(state__in=[FolderMove.MOVING, FolderMove.STOPPED])
        .order_by("created")
    )
