"""Start the two systems under test and watch their memory."""

import hashlib
import multiprocessing
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cloud import Emulator, free_port, start_fake_gcs  # noqa: E402

__all__ = [
    "BareServer",
    "Emulator",
    "Objstore",
    "BareGunicorn",
    "RssSampler",
    "start_bare_gunicorn",
    "start_fake_gcs",
    "start_objstore",
]


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids.extend(process_tree(int(child)))
    return pids


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_cpu_ns(pid: int) -> int:
    """Nanoseconds of CPU run so far by every thread of a process and of its children that
    still run: the first field of /proc/<pid>/task/<tid>/schedstat (the scheduler's own
    ``sum_exec_runtime``, exact to the nanosecond; ``/proc/<pid>/stat``'s utime and stime
    come in 10 ms ticks). A thread that ended between two readings takes its time with it:
    the servers measured here keep their threads (gunicorn's gthread pool, Go's runtime)."""
    total = 0
    for process in process_tree(pid):
        try:
            tasks = list(Path(f"/proc/{process}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its children that still run (from schedstat)."""
    return tree_cpu_ns(pid) / 1e9


def reset_peak_rss(pid: int) -> None:
    """Reset VmHWM (the peak resident set the kernel keeps per process) of every process of the
    tree to its current VmRSS: writing 5 to /proc/<pid>/clear_refs. Without it VmHWM is the
    peak since the process started, so a later phase can never show less than an earlier one."""
    for process in process_tree(pid):
        Path(f"/proc/{process}/clear_refs").write_text("5")


def tree_rss_kib(pid: int) -> int:
    return sum(rss_kib(child) for child in process_tree(pid))


def _sample(pid: int, commands: Connection) -> None:
    """The sampler process: tracks the peak every 20 ms and answers "reset" and "peak"."""
    peak = tree_rss_kib(pid)
    while True:
        if commands.poll(0.02):
            command = commands.recv()
            if command == "stop":
                return
            try:
                current = tree_rss_kib(pid)
            except OSError:  # a process of the tree ended while it was being read
                current = peak
            peak = current if command == "reset" else max(peak, current)
            commands.send(peak)
        else:
            try:
                peak = max(peak, tree_rss_kib(pid))
            except OSError:
                pass


class RssSampler:
    """Samples the resident memory of a process and its children every 20 ms; ``peak()`` is the
    highest total seen since the last ``reset()``. The sampling runs in a process of its own,
    so that it takes no time from the client threads whose timings the benchmark reports."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._commands, theirs = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=_sample, args=(pid, theirs), daemon=True
        )
        self._process.start()
        theirs.close()  # so that a sampler that died shows as EOF here, not as a hang

    def _ask(self, command: str) -> int:
        self._commands.send(command)
        return self._commands.recv()

    def reset(self) -> int:
        return self._ask("reset")

    def peak(self) -> int:
        return self._ask("peak")

    def stop(self) -> None:
        if self._process.is_alive():
            self._commands.send("stop")
            self._process.join(timeout=5)


def stop_process(process: subprocess.Popen) -> None:
    """Ask a server to stop, and kill it if it has not within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class Objstore:
    url: str
    token: str
    bucket: str
    process: subprocess.Popen
    env: dict[str, str]
    session_cookie: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def stop(self) -> None:
        stop_process(self.process)


def start_objstore(
    work: Path,
    *,
    database_url: str = "",
    workers: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> Objstore:
    """objstore in production mode, as the README's Deploy section runs it (gunicorn with
    objstore_site/gunicorn.conf.py), on local disk and SQLite (or ``database_url``)."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OBJSTORE_", "DATABASE_"))},
        "OBJSTORE_PRODUCTION": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port}",
        "OBJSTORE_SSL_REDIRECT": "false",  # plain HTTP on loopback, no TLS proxy here
        "OBJSTORE_DATA_DIR": str(work / "objstore-data"),
        "STATIC_ROOT": str(work / "objstore-static"),
        "OBJSTORE_BIND": f"127.0.0.1:{port}",
        "OBJSTORE_ACCESS_LOG": "off",
        "OBJSTORE_SERVER_TIMING": "true",  # off by default in production mode; read below
        "LOG_LEVEL": "WARNING",
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    env.update(extra_env or {})
    manage = [sys.executable, "manage.py"]
    for args in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([*manage, *args], cwd=ROOT, env=env, check=True)
    setup = (
        "from django.contrib.auth.models import User\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from buckets.services import bucket_create\n"
        "from buckets.tokens import token_create\n"
        "user = User.objects.create_user('bench')\n"
        "bucket = bucket_create(owner=user, name='bench')\n"
        "session = SessionStore()\n"
        "session['_auth_user_id'] = str(user.pk)\n"
        "session['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend'\n"
        "session['_auth_user_hash'] = user.get_session_auth_hash()\n"
        "session.create()\n"
        "print(token_create(owner=user, name='bench')[1], bucket.bucket_id, session.session_key)\n"
    )
    out = subprocess.run(
        [*manage, "shell", "-c", setup],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    token, bucket, session_key = out[-3:]
    url = f"http://127.0.0.1:{port}"
    process = _gunicorn("objstore_site.wsgi", url, env)
    return Objstore(
        url=url, token=token, bucket=bucket, process=process, env=env, session_cookie=session_key
    )


def _gunicorn(app: str, url: str, env: dict[str, str]) -> subprocess.Popen:
    """gunicorn with objstore_site/gunicorn.conf.py (the README's start command) serving
    ``app``, once it answers /healthz."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "objstore_site/gunicorn.conf.py", app],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                return process
        except requests.RequestException:
            pass
        if process.poll() is not None:
            raise SystemExit(f"gunicorn ({app}) did not start")
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"gunicorn ({app}) did not answer /healthz")


@dataclass
class BareGunicorn:
    url: str
    process: subprocess.Popen

    def stop(self) -> None:
        stop_process(self.process)


def start_bare_gunicorn(workers: int | None = None) -> BareGunicorn:
    """The floor for a small call: gunicorn with objstore's own gunicorn.conf.py (same worker
    class, workers, threads, gc.freeze) serving benchmarks.small_calls.canned_app, which reads
    the request body and answers every request with the same 60 bytes of JSON."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OBJSTORE_", "DATABASE_"))},
        "OBJSTORE_BIND": f"127.0.0.1:{port}",
        "OBJSTORE_ACCESS_LOG": "off",
    }
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    url = f"http://127.0.0.1:{port}"
    return BareGunicorn(url, _gunicorn("benchmarks.small_calls:canned_app", url, env))


def curl_upload(base: str, bucket: str, name: str, source: Path, headers: list[str]) -> None:
    """A media upload streamed from a file by curl (``-T`` never loads the file in memory)."""
    subprocess.run(
        [
            "curl",
            "-sSf",
            "-o",
            "/dev/null",
            *headers,
            "-H",
            "Content-Type: application/octet-stream",
            "-X",
            "POST",
            "-T",
            str(source),
            f"{base}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}",
        ],
        check=True,
    )


def curl_download(
    base: str, bucket: str, name: str, target: Path | str, headers: list[str]
) -> None:
    subprocess.run(
        [
            "curl",
            "-sSf",
            "-o",
            str(target),
            *headers,
            f"{base}/download/storage/v1/b/{bucket}/o/{name}?alt=media",
        ],
        check=True,
    )


def curl_download_md5(base: str, bucket: str, name: str, headers: list[str]) -> tuple[str, int]:
    """A media download by curl to its standard output, hashed as it streams by (the bytes
    never touch the disk): (MD5 hex digest, bytes)."""
    digest, size = hashlib.md5(), 0
    with subprocess.Popen(
        [
            "curl",
            "-sSf",
            "-o",
            "-",
            *headers,
            f"{base}/download/storage/v1/b/{bucket}/o/{name}?alt=media",
        ],
        stdout=subprocess.PIPE,
    ) as curl:
        assert curl.stdout is not None
        while block := curl.stdout.read(1024 * 1024):
            digest.update(block)
            size += len(block)
    if curl.returncode:
        raise subprocess.CalledProcessError(curl.returncode, "curl")
    return digest.hexdigest(), size


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


class BareServer:
    """The fastest server curl can meet here: answers every request on its own thread, either
    by sendfile() of one file (GET) or by reading a body of Content-Length bytes into one
    reused buffer and dropping it (anything else). What curl reaches against it shows what
    the raw-client figures look like when the server does no work."""

    def __init__(self, served: Path) -> None:
        self.served = served
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                received = connection.recv(65536)
                if not received:
                    return
                head += received
            head, _, body = head.partition(b"\r\n\r\n")
            if head.startswith(b"GET "):
                size = self.served.stat().st_size
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size
                )
                with self.served.open("rb") as handle:
                    sent = 0
                    while sent < size:
                        sent += os.sendfile(connection.fileno(), handle.fileno(), sent, size - sent)
                return
            if b"\r\nexpect: 100-continue" in head.lower():
                connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits 1 s for it
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            remaining = length - len(body)
            buffer = memoryview(bytearray(1024 * 1024))
            while remaining > 0:
                received = connection.recv_into(buffer, min(remaining, len(buffer)))
                if not received:
                    return
                remaining -= received
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def stop(self) -> None:
        self._listener.close()
