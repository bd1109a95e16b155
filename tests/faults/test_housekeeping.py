"""The smaller ways a store can go wrong: bytes that are not UTF-8, resumable chunks that do
not add up, a failed write's leftovers, a world-readable database, a misleading start banner."""

import os
import stat
import subprocess
import sys

import pytest

from objects.backends import blobs

from ..api.conftest import ROOT
from ..conftest import stored_blobs

QUANTUM = 256 * 1024


def _session(api, bucket, name, size=None):
    headers = {"X-Upload-Content-Length": str(size)} if size is not None else {}
    response = api.post(
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=resumable",
        json={"name": name},
        headers=headers,
    )
    assert response.status_code == 200
    return response.headers["Location"]


@pytest.mark.parametrize(
    "target",
    [
        "/storage/v1/b/{b}/o/caf%E9.txt",  # Latin-1, not UTF-8
        "/upload/storage/v1/b/{b}/o?uploadType=media&name=caf%E9.txt",
        "/upload/storage/v1/b/{b}/o?uploadType=media&name=%C3%28",
    ],
)
def test_names_that_are_not_utf8_are_refused(api, bucket, target):
    url = api.base + target.format(b=bucket.bucket_id)
    method = api.post if "upload" in target else api.get
    response = method(url, data=b"x")
    assert response.status_code == 400
    assert "UTF-8" in response.json()["error"]["message"]
    assert stored_blobs() == []


def test_a_chunk_longer_than_its_content_range_is_refused(api, bucket):
    location = _session(api, bucket, "long.bin", 2 * QUANTUM)
    response = api.put(
        location,
        data=os.urandom(QUANTUM + 10),
        headers={"Content-Range": f"bytes 0-{QUANTUM - 1}/{2 * QUANTUM}"},
    )
    assert response.status_code == 400
    status = api.put(location, headers={"Content-Range": f"bytes */{2 * QUANTUM}"})
    assert status.status_code == 308 and "Range" not in status.headers


def test_a_total_that_contradicts_the_declared_size_is_refused(api, bucket):
    location = _session(api, bucket, "total.bin", 1000)
    response = api.put(location, data=b"x" * 10, headers={"Content-Range": "bytes 0-9/10"})
    assert response.status_code == 400
    assert "1000" in response.json()["error"]["message"]


def test_a_non_final_chunk_keeps_a_multiple_of_256_kib_as_gcs_does(api, bucket):
    location = _session(api, bucket, "quantum.bin")
    small = api.put(location, data=b"x" * 1000, headers={"Content-Range": "bytes 0-999/*"})
    assert small.status_code == 400
    assert "262144" in small.json()["error"]["message"]
    data = os.urandom(QUANTUM + 1000)
    partial = api.put(location, data=data, headers={"Content-Range": f"bytes 0-{len(data) - 1}/*"})
    assert partial.status_code == 308
    assert partial.headers["Range"] == f"bytes=0-{QUANTUM - 1}"
    rest = api.put(
        location,
        data=data[QUANTUM:],
        headers={"Content-Range": f"bytes {QUANTUM}-{len(data) - 1}/{len(data)}"},
    )
    assert rest.status_code == 200 and int(rest.json()["size"]) == len(data)


class _Breaks:
    def __init__(self) -> None:
        self.calls = 0

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls > 2:
            raise OSError("the source broke")
        return b"x" * 1024


def test_a_failed_local_write_leaves_no_file(db):
    store = blobs()
    if store.local_path("probe") is None:
        pytest.skip("about local disk")
    with pytest.raises(OSError):
        store.write("_health/broken", _Breaks())
    assert not store.local_path("_health/broken").exists()


def _manage(tmp_path, *args, bind="127.0.0.1:8000"):
    env = {
        **os.environ,
        "OBJSTORE_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'objstore.sqlite3'}",
        "OBJSTORE_STORAGE": "file",
        "OBJSTORE_BIND": bind,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, check=True
    )


def test_the_sqlite_database_and_its_wal_are_private(tmp_path):
    _manage(tmp_path, "migrate", "-v0")
    for name in ("objstore.sqlite3", "objstore.sqlite3-wal"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_bootstrap_prints_the_address_the_server_binds(tmp_path):
    _manage(tmp_path, "migrate", "-v0")
    done = _manage(tmp_path, "objstore_bootstrap", bind="127.0.0.1:9137")
    assert "127.0.0.1:9137" in done.stdout.decode()
