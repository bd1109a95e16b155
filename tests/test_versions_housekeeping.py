"""Housekeeping knows noncurrent and soft-deleted generations: objstore_gc keeps their bytes,
objstore_check checks them, objstore_backup and objstore_restore carry them."""

import io
import json
import sqlite3
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from objects import backup, maintenance, services
from objects.backends import blobs
from objects.models import Object, ObjectVersion, RetiredBlob

from .conftest import put, read, stored_blobs
from .faults.test_backup import manage


@dataclass
class Generations:
    live: Object  # "doc", the second upload
    noncurrent: ObjectVersion  # "doc", the first upload
    soft_deleted: ObjectVersion  # "gone", deleted
    data: dict[tuple[str, int], bytes]  # (name, generation) -> bytes, of all three


def make_generations(bucket) -> Generations:
    """A live object, a noncurrent generation of it, and a soft-deleted object."""
    bucket.versioning_enabled = True
    bucket.save()
    first = put(bucket, "doc", b"first version")
    live = put(bucket, "doc", b"second version")
    gone = put(bucket, "gone", b"deleted, for now")
    bucket.versioning_enabled = False  # so that a delete soft-deletes (7 days by default)
    bucket.save()
    assert bucket.soft_delete_seconds > 0
    services.object_delete(bucket=bucket, name="gone")
    noncurrent = ObjectVersion.objects.get(bucket=bucket, name="doc")
    soft_deleted = ObjectVersion.objects.get(bucket=bucket, name="gone")
    assert (noncurrent.state, noncurrent.generation) == (ObjectVersion.NONCURRENT, first.generation)
    assert soft_deleted.state == ObjectVersion.SOFT_DELETED
    data = {
        ("doc", first.generation): b"first version",
        ("doc", live.generation): b"second version",
        ("gone", gone.generation): b"deleted, for now",
    }
    return Generations(live, noncurrent, soft_deleted, data)


# ---- objstore_gc --------------------------------------------------------------------------------


def test_gc_keeps_the_bytes_of_noncurrent_and_soft_deleted_generations(bucket):
    made = make_generations(bucket)
    orphan = f"{bucket.bucket_id}/zz/zz-orphan"
    blobs().write(orphan, io.BytesIO(b"nobody's"))
    # A retired blob that a version refers to again (retired during a backup, say) stays too.
    RetiredBlob.objects.create(
        blob_key=made.noncurrent.blob_key, due=timezone.now() - timedelta(seconds=1)
    )

    dry = maintenance.collect_garbage(grace=timedelta(0), dry_run=True)
    assert dry.orphan_blobs == [orphan]
    report = maintenance.collect_garbage(grace=timedelta(0))

    assert report.orphan_blobs == [orphan]
    assert report.retired_swept == 0 and not RetiredBlob.objects.exists()
    assert stored_blobs() == sorted(
        [made.live.blob_key, made.noncurrent.blob_key, made.soft_deleted.blob_key]
    )
    assert read(made.noncurrent) == b"first version"
    assert read(made.soft_deleted) == b"deleted, for now"
    assert list(maintenance.check_objects(verify_hashes=True)) == []


def test_gc_command_reports_only_true_orphans(bucket, capsys):
    make_generations(bucket)
    orphan = f"{bucket.bucket_id}/zz/zz-orphan"
    blobs().write(orphan, io.BytesIO(b"nobody's"))
    call_command("objstore_gc", "--grace-hours", "0")
    out = capsys.readouterr().out
    assert f"deleted orphan blob {orphan}" in out and "deleted 1 orphan blob(s)" in out
    assert len(stored_blobs()) == 3


# ---- objstore_check -----------------------------------------------------------------------------


def test_check_names_the_generation_whose_blob_is_missing(bucket, capsys):
    made = make_generations(bucket)
    blobs().delete(made.noncurrent.blob_key)
    problems = list(maintenance.check_objects())
    assert [(p.name, p.generation, p.state, p.problem) for p in problems] == [
        ("doc", made.noncurrent.generation, ObjectVersion.NONCURRENT, "blob is missing")
    ]
    with pytest.raises(CommandError, match="1 object"):
        call_command("objstore_check")
    out = capsys.readouterr().out
    assert (
        f"{bucket.bucket_id}/doc (generation {made.noncurrent.generation}, noncurrent): "
        "blob is missing"
    ) in out

    # --delete-broken forgets that generation only; the live object and the other stay.
    with pytest.raises(CommandError):
        call_command("objstore_check", "--delete-broken")
    assert list(ObjectVersion.objects.values_list("name", flat=True)) == ["gone"]
    assert Object.objects.get(name="doc").blob_key == made.live.blob_key
    call_command("objstore_check", "--md5")
    assert "all objects have their bytes" in capsys.readouterr().out


def test_check_verifies_the_bytes_of_a_soft_deleted_generation(bucket):
    made = make_generations(bucket)
    key = made.soft_deleted.blob_key
    blobs().delete(key)
    blobs().write(key, io.BytesIO(b"DELETED, for now"))  # the same size, other bytes
    assert list(maintenance.check_objects()) == []
    problems = list(maintenance.check_objects(verify_hashes=True))
    assert [(p.name, p.state, p.problem) for p in problems] == [
        ("gone", ObjectVersion.SOFT_DELETED, "MD5 does not match")
    ]
    assert problems[0].where.endswith(f"(generation {made.soft_deleted.generation}, soft-deleted)")

    blobs().delete(key)
    blobs().write(key, io.BytesIO(b"short"))
    [problem] = maintenance.check_objects()
    assert problem.problem == "blob has 5 bytes, the object 16"


def test_check_skips_a_generation_purged_while_it_looked(bucket, monkeypatch):
    made = make_generations(bucket)
    store_class = type(blobs())
    real_size = store_class.size

    def purge_first(self, key: str) -> int:
        if key == made.noncurrent.blob_key:
            services.version_purge(bucket=bucket, name="doc", generation=made.noncurrent.generation)
            blobs().delete(key)  # as the purge's commit would
        return real_size(self, key)

    monkeypatch.setattr(store_class, "size", purge_first)
    assert list(maintenance.check_objects()) == []


# ---- objstore_backup and objstore_restore ------------------------------------------------------


def _require_sqlite() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("objstore_backup backs up SQLite; PostgreSQL is backed up with pg_dump")


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_carry_every_generation(bucket, settings, tmp_path, capsys):
    _require_sqlite()
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    made = make_generations(bucket)
    dest = tmp_path / "backup"

    call_command("objstore_backup", str(dest))
    out = capsys.readouterr().out
    assert "backed up 1 object(s) (14 bytes), 2 noncurrent or soft-deleted generation(s)" in out
    manifest = json.loads((dest / backup.MANIFEST_FILE).read_text())
    assert (manifest["objects"], manifest["versions"], manifest["version_bytes"]) == (1, 2, 29)
    assert manifest["blobs"] == 3 and manifest["problems"] == []

    restored = tmp_path / "restored"
    result = manage("objstore_restore", str(dest), data_dir=restored)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "restored 1 object(s) and 2 noncurrent or soft-deleted generation(s)" in result.stdout
    assert "all objects have their bytes" in result.stdout
    with sqlite3.connect(restored / "objstore.sqlite3") as db:
        rows = db.execute(
            "SELECT name, generation, 'live', blob_key, size FROM objects_object UNION ALL "
            "SELECT name, generation, state, blob_key, size FROM objects_objectversion"
        ).fetchall()
    states = {(name, generation): state for name, generation, state, _, _ in rows}
    assert states == {
        ("doc", made.live.generation): "live",
        ("doc", made.noncurrent.generation): ObjectVersion.NONCURRENT,
        ("gone", made.soft_deleted.generation): ObjectVersion.SOFT_DELETED,
    }
    for name, generation, _, key, size in rows:
        data = (restored / "blobs" / key).read_bytes()
        assert len(data) == size and data == made.data[(name, generation)], (name, generation)


@pytest.mark.django_db(transaction=True)
def test_a_missing_version_blob_is_a_problem_of_backup_and_restore(bucket, settings, tmp_path):
    _require_sqlite()
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    made = make_generations(bucket)
    what = f"{bucket.bucket_id}/gone (generation {made.soft_deleted.generation}, soft-deleted)"

    blobs().delete(made.soft_deleted.blob_key)
    report = backup.create_backup(dest=tmp_path / "broken")
    assert report.problems == [f"{what} (blob {made.soft_deleted.blob_key}): the blob is missing"]
    assert (report.objects, report.versions, report.blobs) == (1, 2, 2)

    # A backup that lost a version's blob afterwards does not verify, and restore says which.
    blobs().write(made.soft_deleted.blob_key, io.BytesIO(b"deleted, for now"))
    dest = tmp_path / "backup"
    assert backup.create_backup(dest=dest).problems == []
    copy = dest / backup.BLOBS_DIR / made.noncurrent.blob_key
    copy.unlink()
    _, problems = backup.verify_backup(src=dest)
    assert problems == [
        f"{bucket.bucket_id}/doc (generation {made.noncurrent.generation}, noncurrent): "
        f"blob {made.noncurrent.blob_key} is missing from the backup"
    ]
    restored = tmp_path / "restored"
    refused = manage("objstore_restore", str(dest), data_dir=restored)
    assert refused.returncode != 0 and "is missing from the backup" in refused.stderr
    forced = manage("objstore_restore", "--force", str(dest), data_dir=restored)
    assert forced.returncode != 0 and "Traceback" not in forced.stderr
    assert f"(generation {made.noncurrent.generation}, noncurrent): blob is missing" in (
        forced.stdout
    )
    assert "1 object(s) have problems" in forced.stderr

    # A target holding only kept generations is not overwritten without --force either.
    copy.write_bytes(b"first version")
    with sqlite3.connect(restored / "objstore.sqlite3") as db:
        db.execute("DELETE FROM objects_object")
    again = manage("objstore_restore", str(dest), data_dir=restored)
    assert again.returncode != 0 and "already holds 2 object(s)" in again.stderr
