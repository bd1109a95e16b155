"""Large bodies made up on the fly, and the memory a transfer of one costs.

The streaming tests move objects several times larger than any buffer objstore is allowed
(tens of MiB), so that a layer that holds a whole object in memory fails them; the test itself
never holds one either.
"""

import base64
import hashlib
import os
import threading
import tracemalloc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import google_crc32c

MiB = 1024 * 1024


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class GeneratedStream:
    """``size`` bytes made up as they are read: 1 MiB blocks of random bytes, each stamped with
    its index so that no two blocks are alike. It hashes what it hands out, remembers the largest
    read it was asked for, and refuses to be read whole."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.largest_read = 0
        self.md5 = hashlib.md5()
        self.crc32c = google_crc32c.Checksum()
        self._block = os.urandom(MiB)

    def __len__(self) -> int:
        return self.size - self.position  # what is left: requests sends it as Content-Length

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        assert size is not None and size > 0, "the whole stream was asked for at once"
        self.largest_read = max(self.largest_read, size)
        # Views of the one random block and 8-byte stamps, joined once: the stream allocates
        # nothing but the bytes it returns.
        pieces: list[bytes | memoryview] = []
        block = memoryview(self._block)
        end = min(self.position + size, self.size)
        while self.position < end:
            index, offset = divmod(self.position, MiB)
            stop = min(MiB, offset + end - self.position)
            if offset < 8:
                pieces.append(index.to_bytes(8, "big")[offset : min(8, stop)])
            if stop > 8:
                pieces.append(block[max(8, offset) : stop])
            self.position += stop - offset
        data = b"".join(pieces)
        self.md5.update(data)
        self.crc32c.update(data)
        return data

    @property
    def md5_b64(self) -> str:
        assert self.position == self.size, "not read to the end"
        return b64(self.md5.digest())

    @property
    def crc32c_b64(self) -> str:
        assert self.position == self.size, "not read to the end"
        return b64(self.crc32c.digest())


@dataclass
class Drained:
    size: int = 0
    largest_chunk: int = 0
    md5_b64: str = ""


def drain(chunks: Iterable[bytes]) -> Drained:
    """Consume a download chunk by chunk, keeping only its size and MD5."""
    result, md5 = Drained(), hashlib.md5()
    for chunk in chunks:
        result.size += len(chunk)
        result.largest_chunk = max(result.largest_chunk, len(chunk))
        md5.update(chunk)
    result.md5_b64 = b64(md5.digest())
    return result


def read_chunks(handle, size: int) -> Iterator[bytes]:
    while chunk := handle.read(size):
        yield chunk


@dataclass
class Peak:
    bytes: int = 0

    @property
    def mib(self) -> float:
        return self.bytes / MiB


@contextmanager
def traced_peak() -> Iterator[Peak]:
    """The most memory Python allocated at once inside the block (in every thread) beyond what
    was allocated when it began: a layer that buffers a whole object shows up here."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    peak = Peak()
    try:
        yield peak
    finally:
        peak.bytes = tracemalloc.get_traced_memory()[1] - baseline
        if started:
            tracemalloc.stop()


class HeldBody:
    """A request body sent with chunked transfer encoding whose end is held back: after the
    last byte, ``read()`` waits on ``barrier`` before it reports the end of the stream. A
    server cannot finish (or commit) such an upload until every party of the barrier has sent
    all its bytes, so the uploads certainly overlap."""

    def __init__(self, data: bytes, barrier: threading.Barrier, timeout: float = 60) -> None:
        self._data = memoryview(data)
        self._position = 0
        self._barrier = barrier
        self._timeout = timeout
        self.waited = False

    def read(self, size: int = -1, /) -> bytes:
        if self._position < len(self._data):
            end = len(self._data) if size is None or size < 0 else self._position + size
            chunk = bytes(self._data[self._position : end])
            self._position += len(chunk)
            return chunk
        if not self.waited:
            self.waited = True
            self._barrier.wait(self._timeout)
        return b""

    def __iter__(self) -> Iterator[bytes]:  # requests sends an iterable body chunked
        while chunk := self.read(64 * 1024):
            yield chunk


# What one upload or download through the service layer may allocate at once, by backend: a few
# transfer chunks (up to three 4 MiB request-body reads while MD5 runs in a thread of its own;
# on GCS and S3 an 8 MiB cloud chunk and the copies its client makes of it), never the object.
# Measured on a 64 MiB object: local disk 8-12 MiB up, 2 down; GCS 23 both ways; S3 28-31 up.
SERVICE_PEAK_LIMIT = {"file": 16 * MiB, "gcs": 40 * MiB, "s3": 40 * MiB}


def assert_services_stream(bucket, backend: str, size: int = 64 * MiB) -> None:
    """Upload ``size`` made-up bytes through the service layer and download them again, each
    within ``SERVICE_PEAK_LIMIT``, and check every byte came back."""
    from objects import services
    from objects.backends import CLOUD_CHUNK, UPLOAD_CHUNK

    limit = SERVICE_PEAK_LIMIT[backend]
    source = GeneratedStream(size)
    with traced_peak() as upload:
        obj = services.object_upload(bucket=bucket, name="big.bin", stream=source)
    assert (obj.size, obj.md5_hash, obj.crc32c) == (size, source.md5_b64, source.crc32c_b64)
    assert source.largest_read <= (UPLOAD_CHUNK if backend == "file" else CLOUD_CHUNK)
    assert upload.bytes < limit, f"the upload peaked at {upload.mib:.1f} MiB"

    with traced_peak() as download:
        handle = services.object_open(services.object_get(bucket=bucket, name="big.bin"))
        try:
            received = drain(read_chunks(handle, services.CHUNK_SIZE))
        finally:
            handle.close()
    assert (received.size, received.md5_b64) == (size, source.md5_b64)
    assert received.largest_chunk <= services.CHUNK_SIZE
    assert download.bytes < limit, f"the download peaked at {download.mib:.1f} MiB"
