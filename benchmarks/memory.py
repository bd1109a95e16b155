"""Server memory during a large upload and download, on each storage backend.

    python -m benchmarks.memory --size-mib 1024 --backend file gcs s3

Starts objstore as the benchmark does (production mode, gunicorn, SQLite) with one worker, on
local disk, fake-gcs-server or moto's S3 server; uploads one object through the JSON API (a
media upload streamed by curl), downloads it, checks every byte by MD5, and prints the worker's
resident memory before and its peak during each transfer, with the transfer speeds.

Each peak is the kernel's VmHWM, reset to the current VmRSS (by writing 5 to
/proc/<pid>/clear_refs, for every process of the server) at the start of each transfer: without
the reset VmHWM is the peak since the worker started, so the download's could never show less
than the upload's.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from tests.cloud import start_fake_gcs, start_moto, storage_env

from .servers import (
    curl_download,
    curl_upload,
    md5_file,
    process_tree,
    reset_peak_rss,
    start_objstore,
)

MiB = 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def run(backend: str, source: Path, work: Path) -> dict[str, float]:
    starter = {"gcs": start_fake_gcs, "s3": start_moto}.get(backend)
    emulator = starter(work / backend) if starter else None
    server = start_objstore(
        work / f"objstore-{backend}", workers=1, extra_env=storage_env(backend, emulator)
    )
    size_mib = source.stat().st_size / MiB
    try:
        worker = process_tree(server.process.pid)[1]
        auth = ["-H", f"Authorization: Bearer {server.token}"]
        reset_peak_rss(server.process.pid)
        before = status_kib(worker, "VmRSS")
        started = time.monotonic()
        curl_upload(server.url, server.bucket, "big.bin", source, auth)
        upload_seconds = time.monotonic() - started
        peak_upload = status_kib(worker, "VmHWM")
        target = work / "down.bin"
        reset_peak_rss(server.process.pid)  # the download's own peak, not the upload's
        before_download = status_kib(worker, "VmRSS")
        started = time.monotonic()
        curl_download(server.url, server.bucket, "big.bin", target, auth)
        download_seconds = time.monotonic() - started
        peak_download = status_kib(worker, "VmHWM")
        if md5_file(target) != md5_file(source):
            raise SystemExit(f"{backend}: downloaded bytes differ")
        target.unlink()
    finally:
        server.stop()
        if emulator:
            emulator.stop()
    return {
        "before": before / 1024,
        "peak_upload": peak_upload / 1024,
        "before_download": before_download / 1024,
        "peak_download": peak_download / 1024,
        "growth": (max(peak_upload, peak_download) - before) / 1024,
        "upload": size_mib / upload_seconds,
        "download": size_mib / download_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--backend", nargs="+", default=["file", "gcs", "s3"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="objstore-memory-") as tmp:
        work = Path(tmp)
        source = work / "big.bin"
        with source.open("wb") as handle:
            for _ in range(args.size_mib):
                handle.write(os.urandom(MiB))
        print(
            "| backend | worker RSS before | peak during upload | RSS before download | "
            "peak during download | growth | upload MiB/s | download MiB/s |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for backend in args.backend:
            r = run(backend, source, work)
            print(
                f"| {backend} | {r['before']:.1f} MiB | {r['peak_upload']:.1f} MiB | "
                f"{r['before_download']:.1f} MiB | {r['peak_download']:.1f} MiB | "
                f"{r['growth']:.1f} MiB | {r['upload']:.0f} | {r['download']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
