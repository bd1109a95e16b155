"""objstore_gc's directory cleanup and retired-blob sweep; objstore_check's per-object errors."""

import io
import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from objects import maintenance
from objects.backends import blobs
from objects.models import RetiredBlob

from .conftest import TEST_STORAGE, put

local_disk_only = pytest.mark.skipif(TEST_STORAGE != "file", reason="local-disk directories")
LONG_AGO = time.time() - 7 * 24 * 3600


@local_disk_only
def test_gc_removes_empty_blob_directories(bucket, blob_dir):
    kept = put(bucket, "kept", b"bytes")
    kept_dir = (blob_dir / kept.blob_key).parent
    # An orphan alone in its directory: gc deletes it, then the directory it leaves empty.
    orphan = f"{bucket.bucket_id}/zz/zz-orphan"
    blobs().write(orphan, io.BytesIO(b"orphan"))
    os.utime(blob_dir / orphan, (LONG_AGO, LONG_AGO))
    # Directories that have been empty for long (a deleted bucket's).
    stale = blob_dir / "objstore-gone" / "ab"
    stale.mkdir(parents=True)
    for directory in (stale, stale.parent):
        os.utime(directory, (LONG_AGO, LONG_AGO))
    # One made while gc runs (an upload about to create its blob in it) is left alone.
    fresh = blob_dir / bucket.bucket_id / "fr"
    fresh.mkdir()
    os.utime(fresh, (time.time() + 60, time.time() + 60))

    report = maintenance.collect_garbage(grace=timedelta(0))

    assert report.orphan_blobs == [orphan]
    assert report.empty_directories == 3
    assert not (blob_dir / bucket.bucket_id / "zz").exists()
    assert not (blob_dir / "objstore-gone").exists()
    assert fresh.is_dir() and kept_dir.is_dir() and blob_dir.is_dir()
    assert list(maintenance.check_objects(verify_hashes=True)) == []


@local_disk_only
def test_empty_directory_removal_never_takes_the_root_or_a_dir_with_files(tmp_path):
    root = tmp_path / "blobs"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "file").write_bytes(b"x")
    (root / "c").mkdir()
    for path in (root / "a" / "b", root / "a", root / "c", root):
        os.utime(path, (LONG_AGO, LONG_AGO))
    assert maintenance.remove_empty_directories(root, started=time.time()) == 1
    assert root.is_dir() and (root / "a" / "b" / "file").is_file() and not (root / "c").exists()
    assert maintenance.remove_empty_directories(root, started=time.time()) == 0


def test_gc_sweeps_retired_blobs_that_are_due(bucket, blob_dir):
    key = f"{bucket.bucket_id}/re/re-tired"
    blobs().write(key, io.BytesIO(b"old bytes"))
    RetiredBlob.objects.create(blob_key=key, due=timezone.now() - timedelta(seconds=1))
    report = maintenance.collect_garbage(grace=timedelta(hours=1))
    assert report.retired_swept == 1
    assert not RetiredBlob.objects.exists()
    with pytest.raises(FileNotFoundError):
        blobs().size(key)


def test_check_reports_an_unreadable_blob_and_goes_on(bucket, blob_dir, monkeypatch):
    broken = put(bucket, "broken", b"a")
    put(bucket, "fine", b"b")
    missing = put(bucket, "missing", b"c")
    blobs().delete(missing.blob_key)
    store_class = type(blobs())
    size = store_class.size

    def failing_size(self, key: str) -> int:
        if key == broken.blob_key:
            raise PermissionError(13, "Permission denied")
        return size(self, key)

    monkeypatch.setattr(store_class, "size", failing_size)
    problems = {p.name: p.problem for p in maintenance.check_objects(verify_hashes=True)}
    assert set(problems) == {"broken", "missing"}
    assert problems["broken"].startswith("could not read the blob: PermissionError")
    assert problems["missing"] == "blob is missing"


def test_check_skips_an_object_replaced_while_it_looked(bucket, blob_dir, monkeypatch):
    obj = put(bucket, "moving", b"first")
    real_size = type(blobs()).size

    def replace_first(self, key: str) -> int:
        if key == obj.blob_key:
            put(bucket, "moving", b"second")  # the old blob is gone when we look
        return real_size(self, key)

    monkeypatch.setattr(type(blobs()), "size", replace_first)
    assert list(maintenance.check_objects()) == []


def test_quick_check_answers_ok_on_a_healthy_sqlite(db):
    from django.db import connection

    verdict = maintenance.sqlite_quick_check()
    assert verdict == ("ok" if connection.vendor == "sqlite" else None)
