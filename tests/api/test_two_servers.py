"""Several app servers as one: two gunicorn processes on separate ports share the test database
(PostgreSQL in CI's second pass) and one GCS emulator."""

import base64
import hashlib
import os
import threading

import pytest
import requests

from ..cloud import start_fake_gcs, storage_env
from .conftest import start_server, stop_server


@pytest.fixture
def two_servers(tmp_path, server):
    emulator = start_fake_gcs(tmp_path / "gcs")
    env = storage_env("gcs", emulator)
    first = start_server(tmp_path, tmp_path, env)
    second = start_server(tmp_path, tmp_path, env)
    yield first, second
    stop_server(first)
    stop_server(second)
    emulator.stop()


def session_for(token):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def test_what_one_server_stores_the_other_lists_and_serves(two_servers, token, bucket):
    first, second = two_servers
    http = session_for(token)
    data = os.urandom(3 * 1024 * 1024)
    created = http.post(
        f"{first.url}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "media", "name": "shared/data.bin"},
        data=data,
    )
    assert created.status_code == 200
    listed = http.get(
        f"{second.url}/storage/v1/b/{bucket.bucket_id}/o", params={"prefix": "shared/"}
    )
    assert [item["name"] for item in listed.json()["items"]] == ["shared/data.bin"]
    download = http.get(
        f"{second.url}/storage/v1/b/{bucket.bucket_id}/o/shared%2Fdata.bin?alt=media"
    )
    assert download.content == data


def write_once(server, token, bucket, name, generation, data, results, writer) -> None:
    results[writer] = session_for(token).post(
        f"{server.url}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "media", "name": name, "ifGenerationMatch": str(generation)},
        data=data,
    )


def test_concurrent_writers_through_both_servers_have_one_winner_per_generation(
    two_servers, token, bucket
):
    first, second = two_servers
    name = "contended.txt"
    generation = 0
    winners = []
    for round_number in range(4):
        results: dict[int, requests.Response] = {}

        threads = [
            threading.Thread(
                target=write_once,
                args=(
                    (first, second)[writer % 2],
                    token,
                    bucket,
                    name,
                    generation,
                    f"round {round_number} writer {writer} ".encode() * 5000,
                    results,
                    writer,
                ),
            )
            for writer in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = sorted(response.status_code for response in results.values())
        assert codes == [200] + [412] * 7, codes
        winner = next(w for w, r in results.items() if r.status_code == 200)
        generation = int(results[winner].json()["generation"])
        winners.append((winner, generation))
        # Whole and untorn: exactly the winner's bytes, through either server.
        expected = f"round {round_number} writer {winner} ".encode() * 5000
        for target in (first, second):
            body = session_for(token).get(
                f"{target.url}/storage/v1/b/{bucket.bucket_id}/o/{name}?alt=media"
            )
            assert body.content == expected
            assert body.headers["X-Goog-Generation"] == str(generation)
    assert [g for _, g in winners] == sorted({g for _, g in winners})  # generations only grow


def test_a_resumable_upload_started_on_one_server_finishes_on_the_other(two_servers, token, bucket):
    first, second = two_servers
    http = session_for(token)
    data = os.urandom(2 * 256 * 1024 + 99)
    start = http.post(
        f"{first.url}/upload/storage/v1/b/{bucket.bucket_id}/o",
        params={"uploadType": "resumable"},
        json={"name": "travelling.bin"},
        headers={"X-Upload-Content-Length": str(len(data))},
    )
    location = start.headers["Location"]
    part = http.put(
        location, data=data[:262144], headers={"Content-Range": f"bytes 0-262143/{len(data)}"}
    )
    assert part.status_code == 308
    moved = location.replace(first.url, second.url)
    status = http.put(moved, headers={"Content-Range": f"bytes */{len(data)}"})
    assert status.headers["Range"] == "bytes=0-262143"
    done = http.put(
        moved,
        data=data[262144:],
        headers={"Content-Range": f"bytes 262144-{len(data) - 1}/{len(data)}"},
    )
    assert done.status_code == 200
    assert done.json()["md5Hash"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert (
        http.get(f"{first.url}/storage/v1/b/{bucket.bucket_id}/o/travelling.bin?alt=media").content
        == data
    )
