"""Clients that send a request's head and a little of its body, then go silent, cannot hold
the server: the health check keeps answering at once, a silent body is dropped after
OBJSTORE_BODY_TIMEOUT, and a slow but live upload still completes."""

import os
import time

import pytest
import requests

from objects import services

from ..api.conftest import stop_server
from ..conftest import read
from .conftest import LogWatch, own_server, raw_connection

STALLED = 40  # more than the 2 x 16 threads the server has


@pytest.fixture
def patient_server(server, tmp_path):
    # Production defaults (2 workers x 16 threads), a short body timeout to keep the test short.
    running = own_server(
        server, tmp_path, OBJSTORE_THREADS="16", WEB_CONCURRENCY="2", OBJSTORE_BODY_TIMEOUT="3"
    )
    yield running
    stop_server(running)


def _stall(server, token, bucket, name: str):
    sock = raw_connection(server.url)
    head = (
        f"POST /upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=media&name={name} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Length: {10 * 1024**2}\r\n"
        "\r\n"
    )
    sock.sendall(head.encode() + os.urandom(1024))
    return sock


def test_stalled_uploads_do_not_delay_the_health_check(patient_server, token, bucket):
    stalled = [_stall(patient_server, token, bucket, f"stalled-{i}") for i in range(STALLED)]
    try:
        time.sleep(0.5)  # every stalled request now holds a thread, waiting for its body
        slowest = 0.0
        for _ in range(10):
            started = time.monotonic()
            response = requests.get(f"{patient_server.url}/healthz", timeout=10)
            slowest = max(slowest, time.monotonic() - started)
            assert response.status_code == 200
        assert slowest < 1.0, f"a health check took {slowest:.2f} s"
    finally:
        for sock in stalled:
            sock.close()
    for i in range(STALLED):
        with pytest.raises(services.ObjectNotFound):
            services.object_get(bucket=bucket, name=f"stalled-{i}")


def test_a_silent_body_is_dropped_after_the_timeout(patient_server, token, bucket):
    watch = LogWatch(patient_server.log)
    started = time.monotonic()
    sock = _stall(patient_server, token, bucket, "silent")
    try:
        line = watch.wait_for(r"POST /upload/storage/v1/b/\S+/o \d{3}", timeout=15)
    finally:
        sock.close()
    assert " 400 " in line
    assert 2.5 < time.monotonic() - started < 10


def test_a_slow_but_live_upload_completes(patient_server, token, bucket):
    piece, pieces = 64 * 1024, 6
    data = os.urandom(piece * pieces)
    sock = raw_connection(patient_server.url)
    head = (
        f"POST /upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=media&name=slow.bin "
        f"HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode())
    for index in range(pieces):
        time.sleep(1.0)  # slower in total than the timeout, but never silent for 3 s
        sock.sendall(data[index * piece : (index + 1) * piece])
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert read(services.object_get(bucket=bucket, name="slow.bin")) == data
