"""Consistent backups of a running objstore, and their restore (service layer of objstore_backup
and objstore_restore).

Copying a live data directory (``cp -a``) is not a backup: SQLite's main file and its WAL are
copied at different moments (a torn database), and the blobs are copied at other moments again,
so objects replaced or deleted during the copy have rows without bytes, or bytes without rows.

A backup here is taken in this order, under ``retirement.backup_hold()``, which stops every
server from deleting a blob that an object stops referring to (it is retired instead):

1. the database, with SQLite's online backup API: one read transaction, so a consistent
   snapshot, taken while writers go on (WAL mode lets them);
2. every blob the *snapshot* refers to (live objects, their noncurrent and soft-deleted
   generations, and unfinished resumable uploads), streamed
   from the storage and checked against the snapshot's size, MD5 and CRC32C. The hold
   guarantees that none of them was deleted since the snapshot; blobs are never rewritten in
   place (a write always goes to a new key), so what is read is what the snapshot describes;
3. ``PRAGMA integrity_check`` of the snapshot, and ``MANIFEST.json`` last, so that a backup
   without a manifest is known to be incomplete.

PostgreSQL has ``pg_dump`` for the database, and the cloud backends that go with it have their
own object versioning: see README "Backups".
"""

import base64
import filecmp
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import google_crc32c
from django.conf import settings
from django.db import connection, connections

from . import retirement
from .backends import Blobs, FileSystemBlobs, blobs
from .maintenance import describe_object

DATABASE_FILE = "objstore.sqlite3"
MANIFEST_FILE = "MANIFEST.json"
BLOBS_DIR = "blobs"
SECRET_KEY_FILE = "secret_key"
FORMAT = 1

# Bytes per read while copying a blob: bounded memory whatever the object's size.
COPY_CHUNK = 4 * 1024 * 1024

README_HINT = 'see "Backups" in README.md'


class BackupError(Exception):
    """A backup or restore that cannot (or must not) be done; the message says why."""


@dataclass
class BackupReport:
    dest: Path
    objects: int = 0
    object_bytes: int = 0
    # Noncurrent and soft-deleted generations (ObjectVersion rows), bytes and all.
    versions: int = 0
    version_bytes: int = 0
    upload_sessions: int = 0
    blobs: int = 0
    blob_bytes: int = 0
    seconds: float = 0.0
    retired_swept: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class RestoreReport:
    objects: int = 0
    versions: int = 0
    blobs_copied: int = 0
    blobs_kept: int = 0
    problems: list[str] = field(default_factory=list)


# ---- taking a backup ------------------------------------------------------------------------


def create_backup(*, dest: Path, progress: Callable[[str], None] | None = None) -> BackupReport:
    """Back up the database and every blob it refers to into ``dest`` (absent or empty).

    Problems with single blobs (missing, wrong size or hashes) are listed in the report and the
    manifest, and the rest is still copied; the caller decides what they mean (the command
    exits non-zero). Refuses (BackupError) on PostgreSQL and on a non-empty ``dest``.
    """
    say = progress or (lambda message: None)
    if connection.vendor != "sqlite":
        raise BackupError(
            f"objstore_backup backs up SQLite databases; this one is {connection.vendor}. "
            f"Use pg_dump -Fc and the storage bucket's object versioning instead ({README_HINT})."
        )
    source = Path(connection.settings_dict["NAME"])
    if not source.is_file():
        raise BackupError(f"the database {source} does not exist")
    dest = Path(dest).resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty directory; choose a new one")
    store = blobs()
    if isinstance(store, FileSystemBlobs):
        location = Path(store.storage.location).resolve()
        if dest.is_relative_to(location):  # objstore_gc would take the copies for orphans
            raise BackupError(f"{dest} is inside the blob directory {location}; choose another")
    if retirement.hold_active():
        # Its hold would end with whichever backup ends first, unprotecting the other.
        raise BackupError(
            f"another backup is running ({retirement.hold_path()} is recent); wait for it"
        )
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)

    report = BackupReport(dest=dest)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    snapshot = dest / DATABASE_FILE
    with retirement.backup_hold():
        say("snapshotting the database")
        _snapshot_sqlite(source, snapshot)
        say("copying blobs")
        _copy_referenced_blobs(snapshot=snapshot, store=store, dest=dest, report=report)
        integrity = _integrity_check(snapshot)
        if integrity != "ok":
            report.problems.append(f"integrity_check of the snapshot: {integrity}")
    # The hold is gone: blobs retired while it was held may go now (if nothing else holds them).
    report.retired_swept = retirement.sweep_retired()
    _copy_secret_key(dest)
    report.seconds = time.monotonic() - started
    manifest = {
        "format": FORMAT,
        "created": started_at.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "database": "sqlite",
        "storage": type(store).__name__,
        "objects": report.objects,
        "bytes": report.object_bytes,
        "versions": report.versions,
        "version_bytes": report.version_bytes,
        "upload_sessions": report.upload_sessions,
        "blobs": report.blobs,
        "blob_bytes": report.blob_bytes,
        "integrity_check": integrity,
        "migrations": _migrations(snapshot),
        "problems": report.problems,
    }
    _write_private(dest / MANIFEST_FILE, json.dumps(manifest, indent=2).encode() + b"\n")
    return report


def _snapshot_sqlite(source: Path, target: Path) -> None:
    # The file exists with mode 0600 before SQLite opens it (SQLite keeps a file's mode).
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    src = sqlite3.connect(source, timeout=60)
    dst = sqlite3.connect(target)
    try:
        # pages=-1: the whole database in one step, i.e. in one read transaction; a stepwise
        # copy would start over whenever another connection writes, which under load is always.
        src.backup(dst)
        # One self-contained file: a copy in WAL mode would want its -wal beside it.
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.commit()
    finally:
        dst.close()
        src.close()
    _fsync(target)


def _integrity_check(database: Path) -> str:
    """'ok', or SQLite's complaints (a few of them) in one line."""
    try:
        with _open_sqlite(database) as db:
            rows = db.execute("PRAGMA integrity_check(20)").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return "; ".join(str(row[0]) for row in rows) or "no answer"


@dataclass
class _Reference:
    key: str
    what: str  # for messages: the object's bucket/name (and generation), or the upload session
    size: int | None  # None: the whole blob (a cloud upload's part)
    md5: str = ""  # base64; empty: not checked
    crc32c: str = ""
    session: bool = False  # an unfinished upload's: no hashes to check


def _references(snapshot: Path, report: BackupReport) -> Iterator[_Reference]:
    """Every blob the snapshot refers to: those of live objects, of noncurrent and soft-deleted
    generations, and of unfinished uploads."""
    with _open_sqlite(snapshot) as db:
        rows = db.execute(
            "SELECT b.bucket_id, o.name, o.blob_key, o.size, o.md5_hash, o.crc32c"
            " FROM objects_object o JOIN buckets_bucket b ON b.id = o.bucket_id ORDER BY o.id"
        )
        while batch := rows.fetchmany(1000):
            for bucket_id, name, key, size, md5, crc in batch:
                report.objects += 1
                report.object_bytes += size
                yield _Reference(key, describe_object(bucket_id, name), size, md5, crc)
        if _has_table(db, "objects_objectversion"):  # a backup of an objstore before versions
            rows = db.execute(
                "SELECT b.bucket_id, v.name, v.generation, v.state, v.blob_key, v.size,"
                " v.md5_hash, v.crc32c FROM objects_objectversion v"
                " JOIN buckets_bucket b ON b.id = v.bucket_id ORDER BY v.id"
            )
            while batch := rows.fetchmany(1000):
                for bucket_id, name, generation, state, key, size, md5, crc in batch:
                    report.versions += 1
                    report.version_bytes += size
                    what = describe_object(bucket_id, name, generation=generation, state=state)
                    yield _Reference(key, what, size, md5, crc)
        rows = db.execute(
            "SELECT upload_id, blob_key, received, parts FROM objects_uploadsession"
            " WHERE completed_generation IS NULL ORDER BY id"
        )
        while batch := rows.fetchmany(1000):
            for upload_id, key, received, parts in batch:
                report.upload_sessions += 1
                what = f"upload session {upload_id}"
                parts = json.loads(parts or "[]")
                if parts:  # a cloud upload: each chunk a blob of its own, the key not yet written
                    for part in parts:
                        yield _Reference(part, what, None, session=True)
                else:
                    # On local disk the chunks are appended to the key: the first ``received``
                    # bytes are the session's, anything after is a chunk still arriving.
                    yield _Reference(key, what, received, session=True)


def _copy_referenced_blobs(
    *, snapshot: Path, store: Blobs, dest: Path, report: BackupReport
) -> None:
    local = isinstance(store, FileSystemBlobs)
    seen: set[str] = set()
    for ref in _references(snapshot, report):
        if ref.key in seen:
            continue
        seen.add(ref.key)
        if not local and ref.session and ref.size == 0:
            continue  # a cloud upload that has received nothing has no blob yet
        problem = _copy_blob(store, ref, dest / BLOBS_DIR, report)
        if problem:
            report.problems.append(f"{ref.what} (blob {ref.key}): {problem}")


def _copy_blob(store: Blobs, ref: _Reference, root: Path, report: BackupReport) -> str | None:
    """Copy one blob, checking it on the way; a problem's description, or None."""
    target = _safe_path(root, ref.key)
    _make_dirs(target.parent, root)
    is_object = not ref.session
    md5, crc = hashlib.md5(usedforsecurity=False), google_crc32c.Checksum()
    copied = 0
    try:
        handle = store.open(ref.key)
    except FileNotFoundError:
        return "the blob is missing"
    except Exception as exc:  # a storage error: this blob is a problem, the rest still goes
        return f"could not open the blob: {exc!r}"
    try:
        with handle, _create_private(target) as out:
            while True:
                want = COPY_CHUNK
                if not is_object and ref.size is not None:
                    want = min(want, ref.size - copied)  # only the bytes the session has
                    if want <= 0:
                        break
                data = handle.read(want)
                if not data:
                    break
                out.write(data)
                copied += len(data)
                if is_object:
                    md5.update(data)
                    crc.update(data)
    except Exception as exc:
        target.unlink(missing_ok=True)
        if _missing(store, ref.key):  # GCS opens lazily: a missing blob fails the first read
            return "the blob is missing"
        return f"could not copy the blob: {exc!r}"
    report.blobs += 1
    report.blob_bytes += copied
    if ref.size is not None and copied != ref.size:
        return f"the blob has {copied} bytes, the database says {ref.size}"
    if is_object:
        if ref.md5 and base64.b64encode(md5.digest()).decode() != ref.md5:
            return "MD5 does not match"
        if base64.b64encode(crc.digest()).decode() != ref.crc32c:
            return "CRC32C does not match"
    return None


def _missing(store: Blobs, key: str) -> bool:
    try:
        store.size(key)
    except FileNotFoundError:
        return True
    except Exception:  # the storage failing: not known to be missing
        return False
    return False


def _copy_secret_key(dest: Path) -> None:
    """The generated SECRET_KEY (signs sessions), when there is one in the data directory."""
    source = Path(settings.DATA_DIR) / SECRET_KEY_FILE
    if source.is_file():
        _write_private(dest / SECRET_KEY_FILE, source.read_bytes())


def _has_table(db: sqlite3.Connection, table: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return db.execute(query, (table,)).fetchone() is not None


def _migrations(database: Path) -> dict[str, str]:
    """The last migration applied per app, so a restore can tell an older schema."""
    try:
        with _open_sqlite(database) as db:
            rows = db.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
    except sqlite3.DatabaseError:
        return {}
    return {app: name for app, name in rows}


# ---- checking and restoring one ---------------------------------------------------------------


def verify_backup(*, src: Path) -> tuple[dict, list[str]]:
    """The backup's manifest and what is wrong with it: no manifest (an unfinished backup),
    a damaged database, problems recorded while it was taken, or a blob the database refers to
    that is missing or of the wrong size."""
    src = Path(src)
    manifest_path = src / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        return {}, [f"{manifest_path} is missing: not an objstore backup, or an unfinished one"]
    except ValueError as exc:
        return {}, [f"{manifest_path} is not valid JSON: {exc}"]
    problems = [f"recorded while backing up: {problem}" for problem in manifest.get("problems", [])]
    database = src / DATABASE_FILE
    if not database.is_file():
        return manifest, [*problems, f"{database} is missing"]
    integrity = _integrity_check(database)
    if integrity != "ok":
        return manifest, [*problems, f"the backup's database is damaged: {integrity}"]
    report = BackupReport(dest=src)
    for ref in _references(database, report):
        path = _safe_path(src / BLOBS_DIR, ref.key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            if ref.session and ref.size == 0:
                continue  # a cloud upload that had received nothing
            problems.append(f"{ref.what}: blob {ref.key} is missing from the backup")
            continue
        if ref.size is not None and size != ref.size:
            problems.append(f"{ref.what}: blob {ref.key} has {size} bytes, not {ref.size}")
    return manifest, problems


def restore_target() -> tuple[Path, Path]:
    """The configured database file and blob directory; BackupError unless they are SQLite and
    local disk, the only setup a backup of ours restores into."""
    if connection.vendor != "sqlite":
        raise BackupError(
            f"objstore_restore restores into SQLite; the configured database is "
            f"{connection.vendor} (restore it with pg_restore, {README_HINT})"
        )
    store = blobs()
    if not isinstance(store, FileSystemBlobs):
        raise BackupError(
            f"objstore_restore restores blobs to local disk; the configured storage is "
            f"{type(store).__name__} ({README_HINT})"
        )
    return Path(connection.settings_dict["NAME"]), Path(store.storage.location)


def target_objects(database: Path) -> int | None:
    """How many objects the target database holds, counting noncurrent and soft-deleted
    generations: 0 if it does not exist or has no objstore tables yet, None if it cannot be
    read at all (damaged)."""
    counts = _count_objects(database)
    return None if counts is None else sum(counts)


def _count_objects(database: Path) -> tuple[int, int] | None:
    """(live objects, versions) in the database; (0, 0) without one or its tables; None if
    it cannot be read."""
    if not database.exists():
        return 0, 0
    try:
        with _open_sqlite(database) as db:
            counts = []
            for table in ("objects_object", "objects_objectversion"):
                if _has_table(db, table):
                    counts.append(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                else:
                    counts.append(0)
            return counts[0], counts[1]
    except sqlite3.DatabaseError:
        return None


def restore_backup(*, src: Path, force: bool = False) -> RestoreReport:
    """Put a verified backup in place of the configured SQLite database and local blobs.

    The server must be stopped: the database file is replaced under it. Refuses (BackupError)
    when the backup does not verify, or when the target database already holds objects, unless
    ``force``. Blobs already present with the same bytes are kept; others are (re)written.
    Blobs in the target that the backup does not know are left for objstore_gc.
    """
    src = Path(src).resolve()
    database, blob_dir = restore_target()
    _, problems = verify_backup(src=src)
    if problems and not force:
        raise BackupError(
            "the backup does not verify (--force restores it anyway):\n  " + "\n  ".join(problems)
        )
    existing = target_objects(database)
    if existing is None and not force:
        raise BackupError(f"{database} exists and cannot be read; --force replaces it")
    if existing and not force:
        raise BackupError(
            f"{database} already holds {existing} object(s) (generations kept included); "
            "--force replaces it with the backup"
        )
    connections.close_all()  # no connection of ours may keep the old file (or its WAL) open

    report = RestoreReport(problems=list(problems))
    # Blobs first: a database whose blobs are not all there yet must never be the live one.
    source_root = src / BLOBS_DIR
    for path in sorted(source_root.rglob("*")) if source_root.is_dir() else []:
        if not path.is_file():
            continue
        key = path.relative_to(source_root).as_posix()
        target = _safe_path(blob_dir, key)
        if target.is_file() and filecmp.cmp(path, target, shallow=False):
            report.blobs_kept += 1
            continue
        _make_dirs(target.parent, blob_dir)
        temporary = target.with_name(f".{target.name}.restoring")
        temporary.unlink(missing_ok=True)
        with open(path, "rb") as source, _create_private(temporary) as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)
        os.replace(temporary, target)
        report.blobs_copied += 1

    database.parent.mkdir(parents=True, exist_ok=True)
    temporary = database.with_name(f".{database.name}.restoring")
    temporary.unlink(missing_ok=True)
    with open(src / DATABASE_FILE, "rb") as source, _create_private(temporary) as out:
        shutil.copyfileobj(source, out, COPY_CHUNK)
        out.flush()
        os.fsync(out.fileno())
    # A WAL left by the old database would be replayed into the new file: remove it first.
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    os.replace(temporary, database)

    secret = src / SECRET_KEY_FILE
    target_secret = Path(settings.DATA_DIR) / SECRET_KEY_FILE
    if secret.is_file() and not target_secret.exists():
        _write_private(target_secret, secret.read_bytes())
    report.objects, report.versions = _count_objects(database) or (0, 0)
    return report


# ---- files ------------------------------------------------------------------------------------


def _open_sqlite(path: Path) -> closing[sqlite3.Connection]:
    """A read-only connection that ``with`` closes (sqlite3's own ``with`` only commits).
    Read-only: checking a backup must not change it, nor create a missing file."""
    return closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True))


def _safe_path(root: Path, key: str) -> Path:
    # Keys are generated by objstore, but a damaged or foreign backup must not write elsewhere.
    path = (root / key).resolve()
    if not path.is_relative_to(root.resolve()) or path == root.resolve():
        raise BackupError(f"refusing a blob key outside the blob directory: {key!r}")
    return path


def _make_dirs(directory: Path, root: Path) -> None:
    # Each new level with the blob directory's mode (0700), as the storage makes them.
    missing = []
    while not directory.is_dir() and directory != root:
        missing.append(directory)
        directory = directory.parent
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for level in reversed(missing):
        level.mkdir(mode=0o700, exist_ok=True)


def _create_private(path: Path) -> IO[bytes]:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _write_private(path: Path, data: bytes) -> None:
    """Write a file (0600) atomically: it is either absent or whole."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    with _create_private(temporary) as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
