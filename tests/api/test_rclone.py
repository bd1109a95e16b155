"""Google's Go client, as rclone (Debian's package) uses it, through the sidecar and straight
against the server: rclone's everyday set, byte for byte."""

import hashlib
import json
import os
import shutil
import subprocess
import threading

import pytest

from objects import services
from objects.sidecar import SidecarConfig, make_server

from ..cloud import free_port
from ..conftest import read

RCLONE = shutil.which("rclone")
pytestmark = pytest.mark.skipif(
    RCLONE is None, reason="rclone is not installed (the README's test command installs it)"
)
MiB = 1024 * 1024


@pytest.fixture
def own_sidecar(server, token, bucket):
    """The sidecar on a port of its own (rclone is told where; nothing hard-codes it)."""
    port = free_port()
    config = SidecarConfig(server=server.url, token=token, default_bucket=bucket.bucket_id)
    httpd = make_server(config, port=port)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()
    httpd.server_close()


def _config(tmp_path, name: str, endpoint: str, token: str | None) -> list[str]:
    lines = [
        f"[{name}]",
        "type = google cloud storage",
        f"endpoint = {endpoint}",
        "bucket_policy_only = true",
        "project_number = objstore",
    ]
    if token is None:
        lines.append("anonymous = true")  # the sidecar adds the token
    else:
        bearer = {"access_token": token, "token_type": "Bearer", "expiry": "2099-01-01T00:00:00Z"}
        lines.append(f"token = {json.dumps(bearer)}")
    path = tmp_path / f"{name}.conf"
    path.write_text("\n".join(lines) + "\n")
    return [RCLONE, "--config", str(path), "--retries", "1", "--low-level-retries", "1"]


def _run(rclone: list[str], *args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run([*rclone, *args], capture_output=True, timeout=180, input=data)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout


def _tree(root) -> dict[str, bytes]:
    files = {
        "big.bin": os.urandom(40 * MiB),  # resumable, in chunks
        "docs/readme.txt": b"hello from rclone\n",
        "docs/deep/data.json": b'{"a": 1}',
        "empty.txt": b"",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


@pytest.fixture(params=["sidecar", "direct"])
def rclone(request, tmp_path, server, token, bucket):
    if request.param == "sidecar":
        endpoint = request.getfixturevalue("own_sidecar")
        return _config(tmp_path, "os", endpoint, None), "os"
    return _config(tmp_path, "direct", server.url, token), "direct"


def test_rclones_everyday_set(rclone, tmp_path, bucket):
    command, remote = rclone
    local = tmp_path / "tree"
    files = _tree(local)
    target = f"{remote}:{bucket.bucket_id}/backup"

    _run(command, "sync", str(local), target)
    for name, data in files.items():
        assert read(services.object_get(bucket=bucket, name=f"backup/{name}")) == data

    _run(command, "check", str(local), target)  # sizes and MD5s
    listed = json.loads(_run(command, "lsjson", "--hash", "-R", "--files-only", target))
    hashes = {item["Path"]: item["Hashes"]["md5"] for item in listed}
    assert hashes == {name: hashlib.md5(data).hexdigest() for name, data in files.items()}

    back = tmp_path / "back"
    _run(command, "copy", target, str(back))
    for name, data in files.items():
        assert (back / name).read_bytes() == data

    ranged = _run(command, "cat", "--offset", "1000", "--count", "5000", f"{target}/big.bin")
    assert ranged == files["big.bin"][1000:6000]

    _run(command, "moveto", f"{target}/docs/readme.txt", f"{target}/docs/moved.txt")  # rewrite
    assert _run(command, "cat", f"{target}/docs/moved.txt") == files["docs/readme.txt"]
    with pytest.raises(services.ObjectNotFound):
        services.object_get(bucket=bucket, name="backup/docs/readme.txt")

    _run(command, "deletefile", f"{target}/docs/moved.txt")
    _run(command, "purge", target)
    assert not bucket.contents.exists()


def test_rclone_makes_lists_and_removes_buckets(rclone, tmp_path, bucket):
    command, remote = rclone
    name = f"rclone-{os.urandom(4).hex()}"
    _run(command, "mkdir", f"{remote}:{name}")
    assert name in _run(command, "lsd", f"{remote}:").decode()
    _run(command, "rcat", f"{remote}:{name}/piped.txt", data=b"from stdin")  # unknown size
    assert _run(command, "cat", f"{remote}:{name}/piped.txt") == b"from stdin"
    _run(command, "purge", f"{remote}:{name}")
    assert name not in _run(command, "lsd", f"{remote}:").decode()
