"""A full filesystem: uploads are refused cleanly (507, GCS's envelope, nothing half-written),
deletes keep working, and the service recovers by itself once space is freed, without a restart.

The data directory (SQLite database and blobs) lives on a small tmpfs of the test's own.
"""

import os
import subprocess
import sys

import pytest
import requests

from ..api.conftest import ROOT, TimeoutSession, start_server, stop_server
from ..conftest import TEST_STORAGE

MiB = 1024 * 1024
SIZE, RESERVE = 48 * MiB, 8 * MiB

SETUP = """
from buckets.services import bucket_create
from buckets.tokens import token_create
from django.contrib.auth.models import User
user = User.objects.create_user("disk", "disk@example.org", "x")
bucket = bucket_create(owner=user, name="full")
print(bucket.bucket_id, token_create(owner=user, name="t")[1])
"""


@pytest.fixture
def small_disk(tmp_path):
    if TEST_STORAGE != "file":
        pytest.skip("the full-disk case is about local disk")
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def free_bytes(path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def test_a_full_disk_refuses_uploads_keeps_deletes_and_recovers(small_disk, tmp_path):
    data = small_disk / "data"
    env = {
        "OBJSTORE_DATA_DIR": str(data),
        "OBJSTORE_BLOB_DIR": str(data / "blobs"),
        "DATABASE_URL": f"sqlite:///{data / 'objstore.sqlite3'}",
        "OBJSTORE_STORAGE": "file",
        "OBJSTORE_MIN_FREE_BYTES": str(RESERVE),
    }
    manage = [sys.executable, "manage.py"]
    child_env = {**os.environ, **env}
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=child_env, check=True)
    made = subprocess.run(
        [*manage, "shell", "-c", SETUP], cwd=ROOT, env=child_env, check=True, capture_output=True
    )
    bucket_id, token = made.stdout.decode().split()[-2:]
    server = start_server(tmp_path, data / "blobs", env)
    try:
        client = TimeoutSession()
        client.headers["Authorization"] = f"Bearer {token}"
        upload = f"{server.url}/upload/storage/v1/b/{bucket_id}/o"
        objects = f"{server.url}/storage/v1/b/{bucket_id}/o"

        stored, refused = [], None
        for index in range(20):
            response = client.post(
                upload,
                params={"uploadType": "media", "name": f"f{index}"},
                data=os.urandom(4 * MiB),
                timeout=60,
            )
            if response.status_code != 200:
                refused = response
                break
            stored.append(f"f{index}")
        assert refused is not None and refused.status_code == 507, refused and refused.text
        assert refused.json()["error"]["code"] == 507
        assert "out of storage space" in refused.json()["error"]["message"]
        assert free_bytes(small_disk) >= RESERVE - 4 * MiB  # the reserve was kept

        # A body of unknown length that cannot fit: refused midway, nothing of it left behind.
        before = free_bytes(small_disk)

        def big():
            for _ in range(40):
                yield os.urandom(MiB)

        response = client.post(
            upload, params={"uploadType": "media", "name": "too-big"}, data=big(), timeout=60
        )
        assert response.status_code == 507, response.text
        assert free_bytes(small_disk) >= before - MiB
        listing = client.get(objects, timeout=30).json()
        assert sorted(item["name"] for item in listing["items"]) == sorted(stored)

        # Deletes work, and once they freed space uploads work again, without a restart.
        for name in stored[:3]:
            assert client.delete(f"{objects}/{name}", timeout=30).status_code == 204
        again = client.post(
            upload, params={"uploadType": "media", "name": "after"}, data=b"ok", timeout=60
        )
        assert again.status_code == 200, again.text
        assert client.get(f"{objects}/after?alt=media", timeout=30).content == b"ok"
        health = requests.get(f"{server.url}/healthz", timeout=30)
        assert health.status_code == 200
    finally:
        stop_server(server)
