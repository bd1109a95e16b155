"""Backups taken while clients write: the snapshot's objects, with their noncurrent and
soft-deleted generations, come back whole in a new data directory; a damaged database is
reported by objstore_check, never a traceback."""

import hashlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from objects import backup

from ..api.conftest import TimeoutSession
from .conftest import assert_store_consistent

ROOT = Path(__file__).resolve().parents[2]
LOADERS = 4


def _require_sqlite() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("objstore_backup backs up SQLite; PostgreSQL is backed up with pg_dump")


def manage(*args: str, data_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """A management command in its own process, on SQLite and local disk under ``data_dir``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("OBJSTORE_BLOB_DIR", "OBJSTORE_STORAGE", "DATABASE_URL")
    }
    env.update(
        OBJSTORE_DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'objstore.sqlite3'}",
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class WriteLoad:
    """Threads that overwrite, delete and create objects and purge old generations through the
    API until stopped, and remember the MD5 of every (name, generation) they wrote."""

    def __init__(self, server, token: str, bucket) -> None:
        self.base = f"{server.url}/storage/v1/b/{bucket.bucket_id}/o"
        self.upload = f"{server.url}/upload/storage/v1/b/{bucket.bucket_id}/o"
        self.token = token
        self.written: dict[tuple[str, int], str] = {}
        self.commits: list[float] = []  # when each write or delete was answered
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(LOADERS)]

    def client(self) -> requests.Session:
        session = TimeoutSession()
        session.headers["Authorization"] = f"Bearer {self.token}"
        return session

    def put(self, client: requests.Session, name: str, data: bytes) -> int | None:
        response = client.post(
            f"{self.upload}?uploadType=media&name={quote(name, safe='')}", data=data, timeout=60
        )
        if response.status_code != 200:
            self.errors.append(f"upload {name}: {response.status_code} {response.text[:200]}")
            return None
        generation = int(response.json()["generation"])
        self.written[(name, generation)] = hashlib.md5(data).hexdigest()
        self.commits.append(time.monotonic())
        return generation

    def delete(self, client: requests.Session, name: str, generation: int | None = None) -> None:
        query = f"?generation={generation}" if generation else ""
        response = client.delete(f"{self.base}/{quote(name, safe='')}{query}", timeout=60)
        if response.status_code not in (204, 404):
            self.errors.append(f"delete {name} {generation}: {response.status_code}")
        else:
            self.commits.append(time.monotonic())

    def _run(self, number: int) -> None:
        rng = random.Random(number)
        client = self.client()
        created = 0
        mine: list[tuple[str, int]] = []  # generations of the hot names, to purge some
        while not self.stop.is_set():
            roll = rng.random()
            try:
                if roll < 0.55:  # overwrite one of a few names (the old one: noncurrent)
                    name = f"load-{number}/hot-{rng.randrange(8)}"
                    generation = self.put(client, name, rng.randbytes(rng.randrange(1, 64 * 1024)))
                    if generation is not None:
                        mine.append((name, generation))
                elif roll < 0.7:
                    self.delete(client, f"load-{number}/hot-{rng.randrange(8)}")
                elif roll < 0.8 and mine:  # one generation, for good (its bytes are released)
                    self.delete(client, *mine.pop(rng.randrange(len(mine))))
                else:
                    created += 1
                    name = f"load-{number}/new-{created}"
                    self.put(client, name, rng.randbytes(rng.randrange(0, 256 * 1024)))
            except requests.RequestException as exc:
                self.errors.append(repr(exc))

    def __enter__(self) -> "WriteLoad":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def test_backup_under_write_load_restores_clean(
    server, token, bucket, settings, tmp_path, monkeypatch
):
    _require_sqlite()
    # The server's data directory: the backup's hold must be where its workers look for it.
    settings.DATA_DIR = server.log.parent / "data"
    load = WriteLoad(server, token, bucket)
    seed = load.client()
    for index in range(30):
        load.put(seed, f"seed/{index}", os.urandom(index * 997))
    for index in range(0, 30, 5):  # soft-deleted (the bucket keeps deleted objects 7 days)
        load.delete(seed, f"seed/{index}")
    # Under load, replaced and deleted objects become noncurrent; purging one of those (soft
    # delete off) releases its blob, which the backup's hold keeps until the copy is done.
    bucket.versioning_enabled, bucket.soft_delete_seconds = True, 0
    bucket.save()
    # An unfinished resumable upload: its first 256 KiB are in the snapshot, nothing more.
    start = seed.post(
        f"{load.upload}?uploadType=resumable", json={"name": "unfinished"}, timeout=60
    )
    assert start.status_code == 200, start.text
    chunk = seed.put(
        start.headers["Location"],
        data=os.urandom(256 * 1024),
        headers={"Content-Range": "bytes 0-262143/*"},
        timeout=60,
    )
    assert chunk.status_code == 308, chunk.text

    # Each blob copy takes a little longer, so that writes surely land while the backup runs.
    copy_blob = backup._copy_blob

    def slow_copy(*args, **kwargs):
        time.sleep(0.01)
        return copy_blob(*args, **kwargs)

    monkeypatch.setattr(backup, "_copy_blob", slow_copy)
    dest = tmp_path / "backup"
    with load:
        time.sleep(1.5)
        began = time.monotonic()
        report = backup.create_backup(dest=dest)
        ended = time.monotonic()
        time.sleep(1.0)

    assert load.errors == []
    during = sum(began <= moment <= ended for moment in load.commits)
    assert during > 0, "no write landed while the backup ran"
    assert report.problems == []
    assert report.objects >= 24 and report.upload_sessions == 1
    assert report.versions > 6  # the soft-deleted seeds and the noncurrent generations
    # Blobs purged during the backup were kept for it, and swept after it.
    assert report.retired_swept > 0
    manifest = json.loads((dest / backup.MANIFEST_FILE).read_text())
    assert manifest["objects"] == report.objects and manifest["problems"] == []
    assert manifest["versions"] == report.versions
    assert manifest["integrity_check"] == "ok"
    assert (dest / backup.DATABASE_FILE).stat().st_mode & 0o777 == 0o600
    assert_store_consistent()  # the live store, after the load and the sweep

    restored = tmp_path / "restored"
    result = manage("objstore_restore", str(dest), data_dir=restored)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all objects have their bytes" in result.stdout
    check = manage("objstore_check", "--md5", data_dir=restored)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "all objects have their bytes"

    # The restored objects and kept generations are the bytes the clients wrote for exactly
    # those generations.
    with sqlite3.connect(restored / "objstore.sqlite3") as db:
        rows = db.execute("SELECT name, generation, blob_key, size FROM objects_object").fetchall()
        versions = db.execute(
            "SELECT name, generation, blob_key, size, state FROM objects_objectversion"
        ).fetchall()
    assert len(rows) == report.objects and len(versions) == report.versions
    assert {state for *_, state in versions} == {"noncurrent", "deleted"}
    kept = [row[:4] for row in versions]
    sample = random.Random(0).sample(rows, min(40, len(rows)))
    sample += random.Random(0).sample(kept, min(40, len(kept)))
    for name, generation, key, size in sample:
        data = (restored / "blobs" / key).read_bytes()
        assert len(data) == size
        assert hashlib.md5(data).hexdigest() == load.written[(name, generation)], name

    again = manage("objstore_restore", str(dest), data_dir=restored)
    assert again.returncode != 0
    assert "already holds" in again.stderr and "Traceback" not in again.stderr


def test_backup_refuses_a_directory_that_is_not_empty(server, bucket, settings, tmp_path):
    _require_sqlite()
    settings.DATA_DIR = server.log.parent / "data"
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "something").write_text("x")
    with pytest.raises(CommandError, match="not an empty directory"):
        call_command("objstore_backup", str(tmp_path / "dest"))


def test_a_second_backup_waits_for_the_first(db, settings, tmp_path):
    _require_sqlite()
    settings.DATA_DIR = tmp_path
    with backup.retirement.backup_hold():
        with pytest.raises(CommandError, match="another backup is running"):
            call_command("objstore_backup", str(tmp_path / "dest"))
    assert not (tmp_path / "dest").exists()


def test_restore_refuses_an_unfinished_backup(tmp_path):
    (tmp_path / "backup").mkdir()
    result = manage("objstore_restore", str(tmp_path / "backup"), data_dir=tmp_path / "target")
    assert result.returncode != 0
    assert "MANIFEST.json is missing" in result.stderr and "Traceback" not in result.stderr


def test_backup_on_postgresql_points_at_pg_dump(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with pytest.raises(CommandError, match="pg_dump"):
        call_command("objstore_backup", str(tmp_path / "dest"))


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A migrated SQLite database (made in a subprocess, whatever database the tests use)."""
    data_dir = tmp_path_factory.mktemp("migrated")
    result = manage("migrate", "-v0", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return data_dir / "objstore.sqlite3"


@pytest.mark.parametrize(
    "damage, message",
    [("header", "file is not a database"), ("middle", "the database is damaged")],
)
def test_check_reports_a_damaged_database(migrated_sqlite, tmp_path, damage, message):
    data_dir = tmp_path / "copy"
    data_dir.mkdir()
    copy = data_dir / "objstore.sqlite3"
    copy.write_bytes(migrated_sqlite.read_bytes())
    size = copy.stat().st_size
    with open(copy, "r+b") as handle:
        if damage == "header":
            handle.write(b"not a database! " * 8)
        else:  # the middle half of the file, as a torn copy or a bad disk would leave it
            handle.seek(size // 4)
            handle.write(bytes((index * 37 + 11) % 256 for index in range(size // 2)))
    result = manage("objstore_check", "--md5", data_dir=data_dir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the database is damaged" in result.stderr and message in result.stderr
    assert "objstore_restore" in result.stderr
    assert "Traceback" not in result.stderr
