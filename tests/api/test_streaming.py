"""Uploads and downloads through the API stream: while a 64 MiB object goes in and out, a
gunicorn worker's memory grows by a few transfer chunks, not by the object."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from objects import services

from ..streams import GeneratedStream, MiB, drain, read_chunks
from .conftest import Server

BIG = 96 * MiB
# What a worker's resident memory may grow by during one transfer: up to three 4 MiB body reads
# and gunicorn's copies of the one being read, the MD5 thread, on GCS an 8 MiB cloud chunk and
# the copies its client makes, and allocator slack. Measured: local disk 11-21 MiB up, ~0 down
# (sendfile); GCS (fake-gcs-server) 37-48 MiB up, 13-39 MiB down. A worker that holds the
# object grows by 96 MiB or more.
GROWTH_LIMIT = {"file": 48 * MiB, "gcs": 64 * MiB, "s3": 64 * MiB}


def status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


@contextmanager
def worker_growth(server: Server) -> Iterator[dict[str, int]]:
    """How far the resident memory of the server's busiest worker rose above where it was when
    the block began. Each worker's VmHWM is reset to its current RSS first (``clear_refs``);
    where the kernel refuses that, a thread samples VmRSS every 2 ms instead."""
    pids = server.worker_pids()
    assert len(pids) == 2, pids  # the server fixture runs two workers
    before = {pid: status_bytes(pid, "VmRSS") for pid in pids}
    result = {"growth": 0}
    try:
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        sampled: dict[int, int] | None = None
    except OSError:
        sampled = dict(before)
    done = threading.Event()

    def sample() -> None:
        assert sampled is not None
        while not done.wait(0.002):
            for pid in pids:
                sampled[pid] = max(sampled[pid], status_bytes(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True) if sampled is not None else None
    if sampler:
        sampler.start()
    try:
        yield result
    finally:
        done.set()
        if sampler:
            sampler.join(timeout=10)
        peaks = sampled or {pid: status_bytes(pid, "VmHWM") for pid in pids}
        result["growth"] = max(peaks[pid] - before[pid] for pid in pids)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_large_object_streams_through_a_worker_both_ways(api, server, bucket, framing):
    limit = GROWTH_LIMIT[server.env.get("OBJSTORE_STORAGE", "file")]
    source = GeneratedStream(BIG)
    # A body of known length (requests sends Content-Length), or an iterator of 1 MiB pieces
    # (sent chunked, as the Node client sends every upload).
    body = source if framing == "content-length" else iter(lambda: source.read(MiB), b"")
    with worker_growth(server) as upload:
        started = time.monotonic()
        response = api.post(
            f"{server.url}/upload/storage/v1/b/{bucket.bucket_id}/o",
            params={"uploadType": "media", "name": "big.bin"},
            data=body,
        )
        upload_seconds = time.monotonic() - started
    assert response.status_code == 200, response.text
    resource = response.json()
    assert (resource["size"], resource["md5Hash"], resource["crc32c"]) == (
        str(BIG),
        source.md5_b64,
        source.crc32c_b64,
    )
    assert upload["growth"] < limit, (
        f"a worker grew by {upload['growth'] / MiB:.1f} MiB during the upload "
        f"({upload_seconds:.1f} s)"
    )

    with worker_growth(server) as download:
        with api.get(
            f"{server.url}/storage/v1/b/{bucket.bucket_id}/o/big.bin",
            params={"alt": "media"},
            stream=True,
        ) as response:
            assert response.status_code == 200
            assert response.headers["Content-Length"] == str(BIG)
            received = drain(response.iter_content(MiB))
    assert (received.size, received.md5_b64) == (BIG, source.md5_b64)
    assert download["growth"] < limit, (
        f"a worker grew by {download['growth'] / MiB:.1f} MiB during the download"
    )
    obj = services.object_get(bucket=bucket, name="big.bin")
    assert obj.md5_hash == source.md5_b64
    handle = services.object_open(obj)  # and the stored bytes are the same
    try:
        assert drain(read_chunks(handle, MiB)).md5_b64 == source.md5_b64
    finally:
        handle.close()
