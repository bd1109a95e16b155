"""objstore_site.workers.ThreadWorker, the gunicorn worker the README's start command runs: the
connection cases its shortcut touches, over raw sockets against a server of their own (short
keep-alive and worker timeout, so that what happens at those limits is seen within seconds)."""

import json
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import start_server, stop_server

KEEPALIVE = 2  # seconds a kept-alive connection may stay idle
WORKER_TIMEOUT = 4  # the master kills a worker whose heartbeat is older than this


@pytest.fixture(scope="module")
def worker_server(django_db_setup, django_db_blocker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("worker")
    blob_dir = tmp / "blobs"
    blob_dir.mkdir()
    running = start_server(
        tmp,
        blob_dir,
        {
            "GUNICORN_CMD_ARGS": f"--keep-alive {KEEPALIVE}",
            "OBJSTORE_WORKER_TIMEOUT": str(WORKER_TIMEOUT),
            "OBJSTORE_THREADS": "4",
        },
    )
    yield running
    stop_server(running)


def _connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def _request(path: str = "/healthz", *, close: bool = False) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{connection}\r\n".encode()


class Responses:
    """Reads HTTP/1.1 responses with a Content-Length off one socket, in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def next(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before a response: {self.buffer!r}")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            if not self._fill():
                raise ConnectionError("closed inside a body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        """True once the server has closed the connection (and sent nothing more)."""
        return not self._fill() and not self.buffer


def test_one_connection_carries_many_requests_in_turn(worker_server):
    with _connect(worker_server) as sock:
        responses = Responses(sock)
        for _ in range(200):
            sock.sendall(_request())
            status, headers, body = responses.next()
            assert status == 200
            assert json.loads(body)["status"] == "ok"
            assert headers.get("connection", "keep-alive").lower() != "close"


def test_pipelined_requests_are_answered_in_order(worker_server):
    """Requests sent back to back in one write: the worker reads past the first one, so the
    connection must go back to a thread rather than wait for the socket to become readable."""
    with _connect(worker_server) as sock:
        responses = Responses(sock)
        sock.sendall(_request("/healthz") + _request("/storage/v1/b") + _request("/healthz"))
        assert [responses.next()[0] for _ in range(3)] == [200, 401, 200]
        sock.sendall(_request())
        assert responses.next()[0] == 200


def test_connection_close_is_honoured(worker_server):
    with _connect(worker_server) as sock:
        responses = Responses(sock)
        sock.sendall(_request(close=True))
        assert responses.next()[0] == 200
        assert responses.closed()


def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive(worker_server):
    with _connect(worker_server) as sock:
        responses = Responses(sock)
        sock.sendall(_request())
        assert responses.next()[0] == 200
        started = time.monotonic()
        assert responses.closed()
        assert KEEPALIVE - 0.5 <= time.monotonic() - started <= KEEPALIVE + 3


def test_a_client_slow_to_send_its_first_request_is_still_answered(worker_server):
    """gthread parks a new connection that sends nothing for 5 s as pending (off the thread)."""
    with _connect(worker_server) as sock:
        time.sleep(6)
        sock.sendall(_request())
        responses = Responses(sock)
        assert responses.next()[0] == 200
        sock.sendall(_request())
        assert responses.next()[0] == 200


def test_many_connections_at_once_more_than_threads_all_get_answers(worker_server):
    def client(_):
        with _connect(worker_server) as sock:
            responses = Responses(sock)
            statuses = []
            for _ in range(10):
                sock.sendall(_request())
                statuses.append(responses.next()[0])
            return statuses

    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(client, range(48)))
    assert results == [[200] * 10] * 48


def test_an_idle_worker_keeps_its_heartbeat_and_is_not_killed(worker_server):
    """The heartbeat is touched at most once a second: a worker that is idle, or busy with
    kept-alive requests only, must still beat within the master's timeout."""
    before = sorted(worker_server.worker_pids())
    with _connect(worker_server) as sock:
        responses = Responses(sock)
        deadline = time.monotonic() + WORKER_TIMEOUT + 2
        while time.monotonic() < deadline:
            sock.sendall(_request())
            assert responses.next()[0] == 200
            time.sleep(0.05)
    time.sleep(WORKER_TIMEOUT + 2)
    assert sorted(worker_server.worker_pids()) == before
    assert "WORKER TIMEOUT" not in worker_server.log.read_text()


def test_a_graceful_stop_with_kept_alive_connections_ends_promptly(tmp_path):
    blob_dir = tmp_path / "blobs"
    blob_dir.mkdir()
    server = start_server(tmp_path, blob_dir, {"OBJSTORE_THREADS": "4"})
    try:
        socks = [_connect(server) for _ in range(6)]
        for sock in socks:
            sock.sendall(_request())
            assert Responses(sock).next()[0] == 200
        started = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=20)
        assert time.monotonic() - started < 10
        for sock in socks:
            assert Responses(sock).closed()
            sock.close()
    finally:
        if server.process.poll() is None:
            stop_server(server)
