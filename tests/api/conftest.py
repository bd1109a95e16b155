"""API tests run the real client libraries against objstore under gunicorn, in its own process,
sharing the test database and blob directory with the test process."""

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from google.cloud import storage
from google.oauth2.credentials import Credentials

from buckets.tokens import token_create
from objects.sidecar import SidecarConfig, make_server

from .. import serverlogs
from ..cloud import free_port, storage_env, storage_settings
from ..conftest import TEST_STORAGE, empty_storage
from ..ports import explain_port_in_use

ROOT = Path(__file__).resolve().parents[2]

# Every HTTP call a test makes gives up after this long instead of hanging the run.
HTTP_TIMEOUT = 60


class TimeoutSession(requests.Session):
    """A requests session whose calls time out unless told otherwise."""

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return super().request(method, url, *args, **kwargs)


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return (
        f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@dataclass
class Server:
    url: str
    blob_dir: Path
    log: Path
    process: subprocess.Popen
    env: dict[str, str]  # what it was started with beyond the defaults (its storage backend)
    own_group: bool = False  # started in a session (and process group) of its own

    def worker_pids(self) -> list[int]:
        """gunicorn's workers: the master's child processes."""
        return child_pids(self.process.pid)


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return children
    for task in tasks:
        try:
            children.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return children


def start_server(
    tmp: Path,
    blob_dir: Path,
    extra_env: dict[str, str] | None = None,
    *,
    new_session: bool = False,
) -> Server:
    """gunicorn (2 workers) on a free port, on the test database and ``blob_dir``; its data
    directory and log under ``tmp``. ``new_session``: in a session and process group of its
    own, so that ``kill_server`` can end the master and its workers with one signal."""
    port = free_port()
    log = tmp / f"gunicorn-{port}.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "OBJSTORE_DATA_DIR": str(tmp / "data"),
        "OBJSTORE_BLOB_DIR": str(blob_dir),
        "OBJSTORE_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "OBJSTORE_THREADS": "8",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "objstore_site/gunicorn.conf.py",
            "objstore_site.wsgi",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=new_session,
    )
    url = f"http://127.0.0.1:{port}"
    server = Server(
        url=url,
        blob_dir=blob_dir,
        log=log,
        process=process,
        env=extra_env or {},
        own_group=new_session,
    )
    serverlogs.register(server)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/storage/v1/b", timeout=10).status_code == 401:
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            kill_server(server)
            raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}")
        time.sleep(0.1)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        kill_server(server)


def _gone(pid: int) -> bool:
    """Ended: no such process, or a zombie nobody has reaped yet (its master died first)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def kill_server(server: Server, timeout: float = 30) -> None:
    """``kill -9`` the master and every worker at once, as a crash or the OOM killer would end
    them (no graceful shutdown, no cleanup), and return once all of them are dead."""
    pids = [server.process.pid, *server.worker_pids()]
    if server.own_group:
        try:
            os.killpg(server.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    else:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    server.process.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while not all(_gone(pid) for pid in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn {server.url} still runs after SIGKILL: {pids}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def server(django_db_setup, django_db_blocker, tmp_path_factory, cloud_emulator):
    tmp = tmp_path_factory.mktemp("server")
    blob_dir = tmp / "blobs"
    blob_dir.mkdir()
    running = start_server(tmp, blob_dir, storage_env(TEST_STORAGE, cloud_emulator))
    yield running
    stop_server(running)


@pytest.fixture(autouse=True)
def blob_dir(settings, server, cloud_emulator):
    """The test process reads and writes the same blobs as the server; empty after each test."""
    settings.STORAGES = {
        **settings.STORAGES,
        "objstore": storage_settings(TEST_STORAGE, cloud_emulator, server.blob_dir),
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield server.blob_dir
    empty_storage()


@pytest.fixture
def db(transactional_db):
    """Everything the server must see is committed: API tests run in real transactions."""


@pytest.fixture
def token(alice) -> str:
    return token_create(owner=alice, name="tests")[1]


@pytest.fixture
def gcs(server, token) -> storage.Client:
    """google-cloud-storage, pointed at objstore with an API token."""
    return storage.Client(
        project="objstore",
        credentials=Credentials(token),
        client_options={"api_endpoint": server.url},
    )


@pytest.fixture
def api(server, token) -> requests.Session:
    """Plain HTTP, as curl would send it (every call times out after HTTP_TIMEOUT seconds)."""
    session = TimeoutSession()
    session.headers["Authorization"] = f"Bearer {token}"
    session.base = server.url  # type: ignore[attr-defined]
    return session


SIDECAR_PORT = 1106


@pytest.fixture
def sidecar(server, token, bucket, monkeypatch):
    """The sidecar on 127.0.0.1:1106 (the port both Replit libraries hard-code)."""
    config = SidecarConfig(server=server.url, token=token, default_bucket=bucket.bucket_id)
    with explain_port_in_use(SIDECAR_PORT, "the sidecar tests (both Replit libraries use it)"):
        httpd = make_server(config, port=SIDECAR_PORT)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1106")
    yield config
    httpd.shutdown()
    httpd.server_close()
