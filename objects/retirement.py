"""When the bytes of a replaced or deleted object go (part of the service layer).

A write points the object's row at a new blob in one transaction; the blob it pointed at before
is then *released*. Usually it is deleted at once, after commit: on local disk a download that
already opened it keeps reading the unlinked file, and one that had read the row but not yet
opened the file opens the new blob instead (``services.object_read``). Two cases keep it for a
while as a ``RetiredBlob`` instead:

* ``OBJSTORE_DELETE_GRACE`` seconds (default: 0 on local disk, one hour on GCS and S3), because
  cloud downloads read a blob in ranged requests, and deleting it would break a download that
  is still going: readers get the old version or the new one, never an error;
* while a backup runs (``objstore_backup``), which copies the blobs of a database snapshot taken
  when it started: none of them may go before the copy is done. The backup holds a file beside
  the database (``backup.hold``), checked after each commit (a stat, ~2 us).

``sweep_retired`` deletes retired blobs whose time has come and that no row refers to again.
Every worker runs it once a minute while it has retired anything; ``objstore_gc`` and
``objstore_backup`` run it too.
"""

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Value
from django.utils import timezone

from .backends import blobs
from .models import Object, ObjectVersion, RetiredBlob, UploadSession

logger = logging.getLogger(__name__)

# A hold whose file has not been touched for this long belongs to a backup that died.
HOLD_STALE_AFTER = 600
_HOLD_REFRESH = 30
_SWEEP_EVERY = 60
_BATCH = 500


def hold_path() -> Path:
    return Path(settings.DATA_DIR) / "backup.hold"


def hold_active() -> bool:
    try:
        modified = os.stat(hold_path()).st_mtime
    except FileNotFoundError:
        return False
    return time.time() - modified < HOLD_STALE_AFTER


@contextmanager
def backup_hold() -> Iterator[None]:
    """While this runs, no released blob is deleted (they are retired instead)."""
    path = hold_path()
    path.write_text(str(os.getpid()))
    stop = threading.Event()

    def refresh() -> None:
        while not stop.wait(_HOLD_REFRESH):
            try:
                os.utime(path)
            except OSError:
                pass

    thread = threading.Thread(target=refresh, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        path.unlink(missing_ok=True)


def unreferenced(keys: Iterable[str], *, session_parts: bool = False) -> list[str]:
    """The keys no object row (live or not) and no unfinished upload session refers to. With
    ``session_parts``, a ``<session key>.part-<n>`` key counts as its session's too (a cloud
    upload's chunk, which the session's row lists only once it is written).

    One statement over the three tables, so it sees one state of the database: a blob that
    moves between tables meanwhile (a restore moves it from a version's row to the live one, a
    finished upload from its session to the object) is seen in one of them, never missed."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return []
    bases = {key: key.split(".part-", 1)[0] for key in keys} if session_parts else {}
    kind = CharField()
    # order_by(): the models' default orderings are not allowed inside a UNION.
    rows = Object.objects.filter(blob_key__in=keys).order_by()
    versions = ObjectVersion.objects.filter(blob_key__in=keys).order_by()
    sessions = UploadSession.objects.filter(
        blob_key__in={*keys, *bases.values()}, completed_generation__isnull=True
    ).order_by()
    rows, versions = (query.annotate(kind=Value("row", kind)) for query in (rows, versions))
    sessions = sessions.annotate(kind=Value("session", kind))
    found = set(
        rows.values_list("blob_key", "kind").union(
            versions.values_list("blob_key", "kind"),
            sessions.values_list("blob_key", "kind"),
            all=True,
        )
    )
    used = {key for key, _ in found}
    open_sessions = {key for key, source in found if source == "session"}
    return [key for key in keys if key not in used and bases.get(key, key) not in open_sessions]


def delete_now(keys: Iterable[str]) -> None:
    store = blobs()
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # an orphan blob is harmless; objstore_gc removes it later
            logger.warning("could not delete blob %s", key, exc_info=True)


def release(keys: list[str]) -> None:
    """Blobs that the transaction just committed stopped referring to: delete or retire them."""
    if not keys:
        return
    grace = settings.OBJSTORE_DELETE_GRACE
    if grace <= 0 and not hold_active():
        delete_now(keys)
        return
    due = timezone.now() + timedelta(seconds=max(grace, 0))
    try:
        RetiredBlob.objects.bulk_create([RetiredBlob(blob_key=key, due=due) for key in keys])
    except Exception:  # the blob stays as an orphan, which objstore_gc removes after its grace
        logger.warning("could not retire blobs %s", keys, exc_info=True)
        return
    _start_sweeper()


def release_after_commit(keys: list[str]) -> None:
    if keys:
        transaction.on_commit(lambda: release(keys))


def release_unreferenced_after_commit(keys: list[str]) -> None:
    """As release_after_commit, for keys that some row may still refer to (checked now, in the
    caller's transaction, which holds the locks that keep it true)."""
    release_after_commit(unreferenced(keys))


def sweep_retired() -> int:
    """Delete retired blobs that are due and unreferenced; returns how many went."""
    deleted = 0
    while True:
        if hold_active():  # checked per batch: a backup may start while a sweep runs
            return deleted
        with transaction.atomic():
            batch = list(
                RetiredBlob.objects.filter(due__lte=timezone.now())
                .order_by("due")
                .values_list("pk", "blob_key")[:_BATCH]
            )
            if not batch:
                return deleted
            RetiredBlob.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
            doomed = unreferenced(key for _, key in batch)
        delete_now(doomed)
        deleted += len(doomed)


_sweeper_lock = threading.Lock()
_sweeper: threading.Thread | None = None


def _start_sweeper() -> None:
    """A thread per process that sweeps once a minute until nothing is left to sweep."""
    global _sweeper
    with _sweeper_lock:
        if _sweeper is not None:
            return
        _sweeper = threading.Thread(target=_sweep_loop, name="objstore-sweeper", daemon=True)
        _sweeper.start()


def _sweep_loop() -> None:
    global _sweeper
    from django.db import connection

    try:
        while True:
            time.sleep(_SWEEP_EVERY)
            try:
                sweep_retired()
                with _sweeper_lock:
                    if not RetiredBlob.objects.exists():
                        _sweeper = None
                        return
            except Exception:
                logger.warning("sweeping retired blobs failed", exc_info=True)
    finally:
        connection.close()
