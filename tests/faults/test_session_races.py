"""Finishes, retries and cancels of one resumable session that race: the object comes out whole
(or, for a cancel that wins, not at all), never listed without its bytes."""

import os
import threading
from functools import partial

import pytest
import requests

from objects import services

from ..api.conftest import TimeoutSession
from .conftest import assert_store_consistent, md5

ROUNDS = 10
QUANTUM = 256 * 1024


def _together(calls: list) -> list[requests.Response]:
    """Run the calls at the same moment, each in its own thread; their responses in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int, call) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except requests.RequestException as exc:  # pragma: no cover - shown in the assertion
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _session(api, bucket, name: str, size: int | None, **params) -> str:
    query = "".join(f"&{key}={value}" for key, value in params.items())
    headers = {"X-Upload-Content-Length": str(size)} if size is not None else {}
    response = api.post(
        f"{api.base}/upload/storage/v1/b/{bucket.bucket_id}/o?uploadType=resumable{query}",
        json={"name": name},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.headers["Location"]


def _download(api, bucket, name: str) -> requests.Response:
    return api.get(f"{api.base}/storage/v1/b/{bucket.bucket_id}/o/{name}?alt=media")


def _clients(server, token, count: int) -> list[requests.Session]:
    sessions = []
    for _ in range(count):
        session = TimeoutSession()
        session.headers["Authorization"] = f"Bearer {token}"
        sessions.append(session)
    return sessions


@pytest.mark.parametrize("precondition", [{}, {"ifGenerationMatch": "0"}])
def test_concurrent_status_queries_finish_once(server, api, token, bucket, precondition):
    clients = _clients(server, token, 3)
    for round in range(ROUNDS):
        name = f"status-{round}"
        data = os.urandom(2 * QUANTUM)
        location = _session(api, bucket, name, None, **precondition)
        sent = api.put(location, data=data, headers={"Content-Range": f"bytes 0-{len(data) - 1}/*"})
        assert sent.status_code == 308
        header = {"Content-Range": f"bytes */{len(data)}"}
        answers = _together([partial(c.put, location, headers=header) for c in clients])
        assert [a.status_code for a in answers] == [200] * len(clients), [a.text for a in answers]
        assert {a.json()["generation"] for a in answers} == {answers[0].json()["generation"]}
        got = _download(api, bucket, name)
        assert got.status_code == 200 and md5(got.content) == md5(data)
    assert_store_consistent()


@pytest.mark.parametrize("precondition", [{}, {"ifGenerationMatch": "0"}])
def test_the_same_final_chunk_sent_twice_at_once_finishes_once(
    server, api, token, bucket, precondition
):
    clients = _clients(server, token, 2)
    for round in range(ROUNDS):
        name = f"final-{round}"
        data = os.urandom(QUANTUM + 1000)
        location = _session(api, bucket, name, len(data), **precondition)
        first = api.put(
            location,
            data=data[:QUANTUM],
            headers={"Content-Range": f"bytes 0-{QUANTUM - 1}/{len(data)}"},
        )
        assert first.status_code == 308
        header = {"Content-Range": f"bytes {QUANTUM}-{len(data) - 1}/{len(data)}"}
        answers = _together(
            [partial(c.put, location, data=data[QUANTUM:], headers=header) for c in clients]
        )
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        got = _download(api, bucket, name)
        assert got.status_code == 200 and md5(got.content) == md5(data)
    assert_store_consistent()


def test_a_cancel_racing_the_finish_leaves_a_whole_object_or_none(server, api, token, bucket):
    finisher, canceller = _clients(server, token, 2)
    outcomes = set()
    for round in range(ROUNDS * 2):
        name = f"cancel-{round}"
        data = os.urandom(QUANTUM + 1000)
        location = _session(api, bucket, name, len(data))
        first = api.put(
            location,
            data=data[:QUANTUM],
            headers={"Content-Range": f"bytes 0-{QUANTUM - 1}/{len(data)}"},
        )
        assert first.status_code == 308
        header = {"Content-Range": f"bytes {QUANTUM}-{len(data) - 1}/{len(data)}"}
        finish, cancel = _together(
            [
                partial(finisher.put, location, data=data[QUANTUM:], headers=header),
                partial(canceller.delete, location),
            ]
        )
        assert finish.status_code in (200, 404), finish.text
        assert cancel.status_code in (499, 404), cancel.text
        got = _download(api, bucket, name)
        if finish.status_code == 200:
            assert got.status_code == 200 and md5(got.content) == md5(data)
            outcomes.add("finished")
        else:
            assert got.status_code == 404
            with pytest.raises(services.ObjectNotFound):
                services.object_get(bucket=bucket, name=name)
            outcomes.add("cancelled")
    assert_store_consistent()
