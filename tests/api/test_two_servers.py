"""Several app servers as one: two gunicorn processes on separate ports share the test database
(PostgreSQL in CI's second pass) and one GCS emulator."""

import base64
import hashlib
import os
import re
import threading
from datetime import timedelta

import pytest
import requests
from django.test import override_settings
from django.utils import timezone

from objects import retirement
from objects.backends import blobs
from objects.models import Object, ObjectVersion, RetiredBlob

from ..cloud import start_fake_gcs, storage_env, storage_settings
from ..streams import HeldBody
from .conftest import TimeoutSession, start_server, stop_server


@pytest.fixture
def shared_gcs(tmp_path):
    """The GCS emulator both servers keep their blobs in."""
    emulator = start_fake_gcs(tmp_path / "gcs")
    yield emulator
    emulator.stop()


@pytest.fixture
def two_servers(tmp_path, server, shared_gcs):
    # Eight threads a worker, so that up to six of them may receive a body at once (the default
    # OBJSTORE_MAX_BODY_READERS): room for the four concurrent writers each server gets.
    env = {**storage_env("gcs", shared_gcs), "OBJSTORE_THREADS": "8"}
    first = start_server(tmp_path, tmp_path, env)
    second = start_server(tmp_path, tmp_path, env)
    yield first, second
    stop_server(first)
    stop_server(second)


def session_for(token):
    session = TimeoutSession()
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


def write_once(server, token, bucket, name, generation, body, results, writer) -> None:
    try:
        results[writer] = session_for(token).post(
            f"{server.url}/upload/storage/v1/b/{bucket.bucket_id}/o",
            params={"uploadType": "media", "name": name, "ifGenerationMatch": str(generation)},
            data=body,
        )
    except BaseException as exc:  # noqa: BLE001 - the test reports it
        results[writer] = exc


def test_concurrent_writers_through_both_servers_have_one_winner_per_generation(
    two_servers, shared_gcs, token, bucket
):
    """Eight writers, four through each server, upload one name with ifGenerationMatch of its
    current generation. Each body is sent whole but its end (the terminating chunk) is held
    until all eight have sent theirs, so no server can commit before every writer is in
    flight: the writes certainly overlap. Each round has exactly one winner, whose bytes both
    servers then serve, and no loser leaves a blob behind."""
    first, second = two_servers
    name = "contended.txt"
    generation = 0
    winners = []
    winner_keys: list[str] = []
    for round_number in range(4):
        results: dict[int, requests.Response | BaseException] = {}
        barrier = threading.Barrier(8)
        bodies = [f"round {round_number} writer {writer} ".encode() * 5000 for writer in range(8)]
        held = [HeldBody(body, barrier, timeout=30) for body in bodies]
        threads = [
            threading.Thread(
                target=write_once,
                args=(
                    (first, second)[writer % 2],
                    token,
                    bucket,
                    name,
                    generation,
                    held[writer],
                    results,
                    writer,
                ),
            )
            for writer in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        assert all(body.waited for body in held)  # every body's end was held at the barrier
        assert not barrier.broken, results
        codes = sorted(
            getattr(response, "status_code", repr(response)) for response in results.values()
        )
        assert codes == [200] + [412] * 7, codes
        winner = next(w for w, r in results.items() if r.status_code == 200)
        resource = results[winner].json()
        generation = int(resource["generation"])
        winners.append((winner, generation))
        assert (
            resource["md5Hash"] == base64.b64encode(hashlib.md5(bodies[winner]).digest()).decode()
        )
        for response in results.values():
            if response.status_code == 412:
                assert response.json()["error"]["code"] == 412
        # Whole and untorn: exactly the winner's bytes, through either server.
        for target in (first, second):
            body = session_for(token).get(
                f"{target.url}/storage/v1/b/{bucket.bucket_id}/o/{name}?alt=media"
            )
            assert body.content == bodies[winner]
            assert body.headers["X-Goog-Generation"] == str(generation)
        winner_keys.append(Object.objects.get(bucket=bucket, name=name).blob_key)
    assert [g for _, g in winners] == sorted({g for _, g in winners})  # generations only grow

    with override_settings(
        STORAGES={"objstore": storage_settings("gcs", shared_gcs, first.blob_dir)}
    ):
        stored = {key for key, _ in blobs().keys(f"{bucket.bucket_id}/")}
        # Losers deleted their blobs; earlier winners' may wait out a grace period (retired).
        assert winner_keys[-1] in stored and stored <= set(winner_keys), (stored, winner_keys)
        RetiredBlob.objects.update(due=timezone.now() - timedelta(seconds=1))
        retirement.sweep_retired()
        # Earlier winners are soft-deleted generations now (the bucket keeps deleted data):
        # their blobs stay with their rows, and nothing else does.
        kept = set(ObjectVersion.objects.filter(bucket=bucket).values_list("blob_key", flat=True))
        assert kept == set(winner_keys[:-1])
        assert {key for key, _ in blobs().keys(f"{bucket.bucket_id}/")} == set(winner_keys)


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


def test_two_servers_and_the_lifecycle_runner_at_once(
    two_servers, shared_gcs, token, bucket, tmp_path
):
    """Writers overwrite names through both servers while the lifecycle runner loops in a
    process of its own, with a rule that deletes everything under tmp/ and one that keeps two
    old versions. No request fails, no write is lost (every generation a server acknowledged is
    live, noncurrent or soft-deleted, with its bytes), and nothing outside tmp/ loses its live
    generation."""
    import subprocess
    import sys

    from buckets.models import Bucket
    from buckets.services import bucket_update_settings
    from objects import lifecycle, services

    from .conftest import ROOT, database_url

    bucket_update_settings(
        bucket=bucket,
        versioning=True,
        lifecycle_rules=lifecycle.validate_rules(
            [
                {"action": {"type": "Delete"}, "condition": {"age": 0, "matchesPrefix": ["tmp/"]}},
                {"action": {"type": "Delete"}, "condition": {"numNewerVersions": 2}},
            ]
        ),
    )
    env = {
        **os.environ,
        **storage_env("gcs", shared_gcs),
        "DATABASE_URL": database_url(),
        "OBJSTORE_DATA_DIR": str(tmp_path / "data"),
        "OBJSTORE_BLOB_DIR": str(tmp_path),
    }
    runner = subprocess.Popen(
        [sys.executable, "manage.py", "objstore_lifecycle", "--loop", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    acknowledged: dict[tuple[str, int], bytes] = {}
    failures: list[object] = []

    def writer(number: int) -> None:
        http = session_for(token)
        for round in range(6):
            for name in (f"keep/w{number}-{i}" for i in range(4)):
                for path in (name, name.replace("keep/", "tmp/")):
                    body = f"{path} round {round} ".encode() * 50
                    server = two_servers[(number + round) % 2]
                    try:
                        response = http.post(
                            f"{server.url}/upload/storage/v1/b/{bucket.bucket_id}/o",
                            params={"uploadType": "media", "name": path},
                            data=body,
                        )
                    except requests.RequestException as exc:
                        failures.append(exc)
                        continue
                    if response.status_code != 200:
                        failures.append((path, response.status_code, response.text[:200]))
                        continue
                    acknowledged[(path, int(response.json()["generation"]))] = body

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    runner.terminate()
    out, err = runner.communicate(timeout=60)
    assert not failures, failures[:5]
    assert runner.returncode == 0, err.decode()[-2000:]
    assert b"Traceback" not in err, err.decode()[-2000:]
    # The runner acted while the writers wrote (not only in the last pass below).
    assert re.search(rb": deleted [1-9][\d,]* live object", out), out.decode()[-2000:]

    fresh = Bucket.objects.get(pk=bucket.pk)
    lifecycle.run(buckets=[fresh])  # a last pass once the writers are done
    rows = {
        (row.name, row.generation): row
        for model in (Object, ObjectVersion)
        for row in model.objects.filter(bucket=bucket)
    }
    with override_settings(
        STORAGES={"objstore": storage_settings("gcs", shared_gcs, two_servers[0].blob_dir)}
    ):
        for key, body in acknowledged.items():
            assert key in rows, f"acknowledged write {key} was lost"
            assert services.object_open(rows[key]).read() == body
    live = set(Object.objects.filter(bucket=bucket).values_list("name", flat=True))
    written = {name for name, _ in acknowledged}
    assert live == {name for name in written if name.startswith("keep/")}
    for name in live:  # the live generation is the last one acknowledged for its name
        newest = max(generation for n, generation in acknowledged if n == name)
        assert Object.objects.get(bucket=bucket, name=name).generation == newest
    noncurrent = ObjectVersion.objects.filter(bucket=bucket, state=ObjectVersion.NONCURRENT)
    for name in live:  # numNewerVersions 2: at most one old version stays noncurrent per name
        assert noncurrent.filter(name=name).count() <= 1
