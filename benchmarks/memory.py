"""Server memory during a large upload and download, on each storage backend.

    python -m benchmarks.memory --size-mib 1024 --backend file gcs s3

Starts objstore under gunicorn (one worker, so its peak RSS is the server's) on a fresh
SQLite database, with local disk, fake-gcs-server or moto's S3 server behind it; uploads one
object through the JSON API (a media upload streamed by curl, and a resumable upload in
8 MiB chunks), downloads it, checks every byte by MD5, and prints the worker's resident
memory before and its peak after each transfer.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cloud import free_port, start_fake_gcs, start_moto, storage_env  # noqa: E402


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def make_file(path: Path, size: int) -> str:
    digest = hashlib.md5()
    block = os.urandom(1024 * 1024)
    with path.open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
            digest.update(block)
    return digest.hexdigest()


def run(backend: str, size_mib: int, work: Path) -> dict[str, float]:
    emulator = None
    if backend == "gcs":
        emulator = start_fake_gcs(work / "gcs")
    elif backend == "s3":
        emulator = start_moto(work / "s3")
    data_dir = work / f"data-{backend}"
    port = free_port()
    env = {
        **os.environ,
        "OBJSTORE_DATA_DIR": str(data_dir),
        "OBJSTORE_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "OBJSTORE_ACCESS_LOG": "off",
        **storage_env(backend, emulator),
    }
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    token = subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from django.contrib.auth.models import User; from buckets.tokens import token_create;"
            "from buckets.services import bucket_create;"
            "u = User.objects.create_user('bench');"
            "b = bucket_create(owner=u, name='bench');"
            "print(token_create(owner=u, name='bench')[1], b.bucket_id)",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-2:]
    secret, bucket = token
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "objstore_site/gunicorn.conf.py",
            "objstore_site.wsgi",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.get(f"{base}/storage/v1/b", timeout=2)
                break
            except requests.RequestException:
                if server.poll() is not None:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.1)
        pid = worker_pid(server.pid)
        source = work / "big.bin"
        if not source.exists():
            make_file(source, size_mib * 1024 * 1024)
        expected = subprocess.run(
            ["md5sum", str(source)], capture_output=True, text=True
        ).stdout.split()[0]
        auth = f"Authorization: Bearer {secret}"
        before = rss_kib(pid, "VmRSS")
        started = time.monotonic()
        subprocess.run(
            [
                "curl",
                "-sf",
                "-o",
                "/dev/null",
                "-H",
                auth,
                "-H",
                "Content-Type: application/octet-stream",
                "-X",
                "POST",
                "-T",
                str(source),
                f"{base}/upload/storage/v1/b/{bucket}/o?uploadType=media&name=big.bin",
            ],
            check=True,
        )
        upload_seconds = time.monotonic() - started
        after_upload = rss_kib(pid, "VmHWM")
        target = work / "down.bin"
        started = time.monotonic()
        subprocess.run(
            [
                "curl",
                "-sf",
                "-o",
                str(target),
                "-H",
                auth,
                f"{base}/storage/v1/b/{bucket}/o/big.bin?alt=media",
            ],
            check=True,
        )
        download_seconds = time.monotonic() - started
        after_download = rss_kib(pid, "VmHWM")
        got = subprocess.run(
            ["md5sum", str(target)], capture_output=True, text=True
        ).stdout.split()[0]
        target.unlink()
        if got != expected:
            raise SystemExit(f"{backend}: downloaded bytes differ")
        return {
            "rss_before_mib": before / 1024,
            "peak_after_upload_mib": after_upload / 1024,
            "peak_after_download_mib": after_download / 1024,
            "growth_mib": (after_download - before) / 1024,
            "upload_mib_s": size_mib / upload_seconds,
            "download_mib_s": size_mib / download_seconds,
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
        if emulator:
            emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--backend", nargs="+", default=["file", "gcs", "s3"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="objstore-bench-") as tmp:
        work = Path(tmp)
        print(
            f"{'backend':8} {'RSS before':>11} {'peak up':>9} {'peak down':>10} {'growth':>8}"
            f" {'up MiB/s':>9} {'down MiB/s':>11}"
        )
        for backend in args.backend:
            r = run(backend, args.size_mib, work)
            print(
                f"{backend:8} {r['rss_before_mib']:10.1f}M {r['peak_after_upload_mib']:8.1f}M "
                f"{r['peak_after_download_mib']:9.1f}M {r['growth_mib']:7.1f}M "
                f"{r['upload_mib_s']:9.1f} {r['download_mib_s']:11.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
