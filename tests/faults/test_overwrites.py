"""Downloads while the same object is overwritten by 16 threads: every download answers 200 with
the bytes of one whole version (the old one or the new one), never an error or a mix."""

import hashlib
import os
import threading
import time

import pytest
import requests

from ..api.conftest import TimeoutSession, stop_server
from .conftest import assert_store_consistent, own_server

WRITERS, READERS, SECONDS = 16, 4, 4


@pytest.fixture
def busy_server(server, tmp_path):
    # Room for all 16 writers even if the kernel hands them all to one worker (the default cap
    # of 12 body readers per worker would refuse the rest with 503, by design: this test is about
    # the readers), and on cloud backends the grace period that keeps a replaced blob for
    # downloads still reading it.
    running = own_server(
        server,
        tmp_path,
        OBJSTORE_THREADS="24",
        OBJSTORE_MAX_BODY_READERS="16",
        WEB_CONCURRENCY="2",
        OBJSTORE_DELETE_GRACE="3600",
    )
    yield running
    stop_server(running)


def test_downloads_during_overwrites_never_fail(busy_server, token, bucket):
    url = f"{busy_server.url}/upload/storage/v1/b/{bucket.bucket_id}/o"
    media = f"{busy_server.url}/storage/v1/b/{bucket.bucket_id}/o/hot.bin?alt=media"
    versions: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[str] = []
    downloads = writes = 0

    def session() -> requests.Session:
        client = TimeoutSession()
        client.headers["Authorization"] = f"Bearer {token}"
        return client

    first = os.urandom(3 * 1024 * 1024)
    versions[hashlib.md5(first).hexdigest()] = len(first)
    assert session().post(url, params={"uploadType": "media", "name": "hot.bin"}, data=first).ok

    def writer() -> None:
        nonlocal writes
        client = session()
        while not stop.is_set():
            data = os.urandom(3 * 1024 * 1024)
            with lock:
                versions[hashlib.md5(data).hexdigest()] = len(data)
            response = client.post(
                url, params={"uploadType": "media", "name": "hot.bin"}, data=data, timeout=60
            )
            with lock:
                writes += 1
                if response.status_code != 200:
                    failures.append(f"write {response.status_code}: {response.text[:200]}")

    def reader() -> None:
        nonlocal downloads
        client = session()
        while not stop.is_set():
            response = client.get(media, timeout=60)
            digest = hashlib.md5(response.content).hexdigest()
            with lock:
                downloads += 1
                if response.status_code != 200:
                    failures.append(f"download {response.status_code}: {response.text[:200]}")
                elif digest not in versions:
                    failures.append(f"download of {len(response.content)} bytes is no version")

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    threads += [threading.Thread(target=reader) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    for thread in threads:
        thread.join(120)
    assert failures == [], failures[:10]
    assert downloads > 20 and writes > 20, (downloads, writes)
    assert_store_consistent()
