import pytest

from objects.sidecar import ConfigError, default_bucket_from_replit_file, load_config


def test_default_bucket_comes_from_a_replit_file(tmp_path, monkeypatch):
    monkeypatch.delenv("OBJSTORE_DEFAULT_BUCKET", raising=False)
    replit = tmp_path / ".replit"
    replit.write_text(
        'run = "python main.py"\n\n[objectStorage]\ndefaultBucketID = "objstore-abc"\n'
    )
    assert default_bucket_from_replit_file(replit) == "objstore-abc"
    config = load_config(
        server="http://127.0.0.1:8000", token="objstore_t", bucket=None, replit_file=replit
    )
    assert config.default_bucket == "objstore-abc"
    assert default_bucket_from_replit_file(tmp_path / "missing") == ""


def test_environment_wins_over_the_replit_file(tmp_path, monkeypatch):
    replit = tmp_path / ".replit"
    replit.write_text('[objectStorage]\ndefaultBucketID = "from-file"\n')
    monkeypatch.setenv("OBJSTORE_DEFAULT_BUCKET", "from-env")
    monkeypatch.setenv("OBJSTORE_TOKEN", "objstore_env")
    monkeypatch.setenv("OBJSTORE_URL", "https://files.example.org/")
    config = load_config(server=None, token=None, bucket=None, replit_file=replit)
    assert (config.default_bucket, config.token, config.server) == (
        "from-env",
        "objstore_env",
        "https://files.example.org",
    )
    assert config.upstream == ("https", "files.example.org", 443)


def test_missing_token_or_bad_settings_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("OBJSTORE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="OBJSTORE_TOKEN"):
        load_config(server=None, token=None, bucket="b", replit_file=tmp_path / "none")
    with pytest.raises(ConfigError, match="http"):
        load_config(server="ftp://x", token="t", bucket="b", replit_file=tmp_path / "none")
    bad = tmp_path / ".replit"
    bad.write_text("[objectStorage\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        default_bucket_from_replit_file(bad)


def run_sidecar(*args, env=None, timeout=20):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OBJSTORE_")}
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "manage.py", "sidecar", *args],
        cwd=root,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_command_refuses_to_start_without_a_token(tmp_path):
    process = run_sidecar("--replit-file", str(tmp_path / ".replit"))
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "OBJSTORE_TOKEN" in err


def test_the_command_serves_the_sidecar_endpoints(tmp_path):
    import json
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    replit = tmp_path / ".replit"
    replit.write_text('[objectStorage]\ndefaultBucketID = "objstore-from-file"\n')
    process = run_sidecar(
        "--port", str(port), "--replit-file", str(replit), env={"OBJSTORE_TOKEN": "objstore_t"}
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(
                    f"{base}/object-storage/default-bucket", timeout=1
                ) as response:
                    assert json.load(response) == {"bucketId": "objstore-from-file"}
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError(process.stderr.read())
        with urllib.request.urlopen(f"{base}/credential", timeout=10) as response:
            assert json.load(response) == {"access_token": "objstore_t"}
        request = urllib.request.Request(
            f"{base}/token", data=b"grant_type=x&subject_token=objstore_t", method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
        assert body["access_token"] == "objstore_t" and body["expires_in"] == 3600
    finally:
        process.terminate()
        process.wait(timeout=10)


# ---- only programs on this machine, not web pages, may use the sidecar -------------------------

import http.client  # noqa: E402
import json  # noqa: E402
import threading  # noqa: E402
from email.message import Message  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

from objects.sidecar import (  # noqa: E402
    SidecarConfig,
    host_is_loopback,
    make_server,
    request_refusal,
)

TOKEN = "objstore_secret-token-of-the-developer"


def headers(**values: str) -> Message:
    message = Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


def test_only_loopback_host_names_are_accepted():
    for host in ["127.0.0.1", "127.0.0.1:1106", "localhost", "LOCALHOST:80", "[::1]", "[::1]:1106"]:
        assert host_is_loopback(host), host
    for host in [
        None,
        "",
        "evil.example",
        "evil.example:1106",
        "127.0.0.1.evil.example",
        "localhost.evil.example:1106",
        "127.0.0.1:1106@evil.example",
        "127.0.0.1:x",
        "[::1]x",
        "10.0.0.5:1106",
    ]:
        assert not host_is_loopback(host), host
    assert host_is_loopback("10.0.0.5:1106", frozenset({"10.0.0.5"}))


def test_browser_headers_are_refused_and_node_fetch_is_not():
    local = {"Host": "127.0.0.1:1106"}
    # What the libraries send: nothing browser-like, or (Node's fetch) Sec-Fetch-Mode: cors alone.
    assert request_refusal(headers(**local)) is None
    assert request_refusal(headers(**local, Sec_Fetch_Mode="cors")) is None
    for browser in [
        {"Origin": "http://127.0.0.1:5000"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "none"},
        {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"},
        {"Sec-Fetch-Dest": "empty"},
        {"Sec-Fetch-User": "?1"},
        {"Sec-Fetch-Mode": "no-cors"},
        {"Sec-Fetch-Mode": "navigate"},
    ]:
        message = headers(**local)
        for name, value in browser.items():
            message[name] = value
        reason = request_refusal(message)
        assert reason and "web browser" in reason, browser
    assert "Host" in request_refusal(headers(Host="rebound.example:1106"))
    allowed = headers(**local, Origin="http://localhost:5173/", Sec_Fetch_Site="same-site")
    assert request_refusal(allowed, ("http://localhost:5173",)) is None
    other = headers(**local, Origin="http://localhost:5174")
    assert request_refusal(other, ("http://localhost:5173",))


def test_allowed_origins_come_from_the_environment_and_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("OBJSTORE_SIDECAR_ALLOW_ORIGINS", " http://localhost:5173/ ,HTTP://A.test")
    config = load_config(
        server="http://127.0.0.1:8000",
        token="t",
        bucket="b",
        replit_file=tmp_path / "none",
        allow_origins=["http://b.test", "http://a.test"],
    )
    assert config.allow_origins == ("http://localhost:5173", "http://a.test", "http://b.test")
    monkeypatch.delenv("OBJSTORE_SIDECAR_ALLOW_ORIGINS")
    config = load_config(
        server="http://127.0.0.1:8000", token="t", bucket="b", replit_file=tmp_path / "none"
    )
    assert config.allow_origins == ()


class Upstream:
    """A stand-in for the objstore server that records every request the sidecar forwards."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                upstream.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "authorization": self.headers.get("Authorization"),
                        "body": body,
                    }
                )
                data = json.dumps({"kind": "storage#object", "name": "stored"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(httpd) -> None:
    threading.Thread(target=httpd.serve_forever, daemon=True).start()


@pytest.fixture
def upstream():
    running = Upstream()
    yield running
    running.close()


@pytest.fixture
def start_sidecar(upstream):
    """Starts the sidecar on a free port (not 1106) in front of ``upstream``; returns its port."""
    started = []

    def start(**config_args) -> int:
        config = SidecarConfig(
            server=upstream.url, token=TOKEN, default_bucket="objstore-b", **config_args
        )
        httpd = make_server(config, port=0)
        serve(httpd)
        started.append(httpd)
        return httpd.server_address[1]

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def call(port: int, method: str, path: str, body: bytes | None = None, **extra: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host="Host" in extra)
        for name, value in extra.items():
            connection.putheader(name.replace("_", "-"), value)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


UPLOAD = "/upload/storage/v1/b/objstore-b/o?uploadType=media&name=planted.txt"
ENDPOINTS = [
    ("GET", "/credential", None),
    ("POST", "/token", b"grant_type=x"),
    ("GET", "/object-storage/default-bucket", None),
    ("POST", UPLOAD, b"planted"),
    ("GET", "/storage/v1/b/objstore-b/o", None),
]


def test_a_foreign_host_name_is_refused_dns_rebinding(start_sidecar, upstream):
    port = start_sidecar()
    for host in [f"rebound.example:{port}", "rebound.example", f"127.0.0.1.nip.io:{port}"]:
        for method, path, body in ENDPOINTS:
            status, data, _ = call(port, method, path, body, Host=host)
            assert status == 403, (host, path)
            assert TOKEN.encode() not in data
            assert b"only 127.0.0.1, localhost or [::1]" in data
    assert upstream.requests == []
    # The same calls with a loopback name work (and reach the server with the token).
    for host in [f"127.0.0.1:{port}", f"localhost:{port}", "localhost"]:
        status, data, _ = call(port, "GET", "/credential", Host=host)
        assert (status, json.loads(data)) == (200, {"access_token": TOKEN})
    status, _, _ = call(port, "POST", UPLOAD, b"by a program")
    assert status == 200
    assert upstream.requests == [
        {
            "method": "POST",
            "path": UPLOAD,
            "authorization": f"Bearer {TOKEN}",
            "body": b"by a program",
        }
    ]


def test_requests_with_browser_headers_are_refused_unless_allowed(start_sidecar, upstream):
    port = start_sidecar(allow_origins=("http://localhost:5173",))
    for method, path, body in ENDPOINTS:
        for browser in [
            {"Origin": "http://127.0.0.1:8080"},
            {"Sec_Fetch_Site": "cross-site", "Sec_Fetch_Mode": "no-cors"},
        ]:
            status, data, response_headers = call(port, method, path, body, **browser)
            assert status == 403, (path, browser)
            assert b"web browser" in data and TOKEN.encode() not in data
            assert "Access-Control-Allow-Origin" not in response_headers
    assert upstream.requests == []
    # Node's fetch adds Sec-Fetch-Mode: cors by itself: the Node library must keep working.
    status, data, _ = call(port, "GET", "/object-storage/default-bucket", Sec_Fetch_Mode="cors")
    assert (status, json.loads(data)) == (200, {"bucketId": "objstore-b"})
    # An allowed origin gets through, with CORS headers for the page.
    status, _, response_headers = call(
        port, "POST", UPLOAD, b"allowed", Origin="http://localhost:5173", Sec_Fetch_Site="same-site"
    )
    assert status == 200
    assert response_headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert [r["body"] for r in upstream.requests] == [b"allowed"]
    status, _, response_headers = call(
        port,
        "OPTIONS",
        UPLOAD,
        Origin="http://localhost:5173",
        Access_Control_Request_Method="POST",
        Access_Control_Request_Headers="content-type",
    )
    assert status == 204
    assert response_headers["Access-Control-Allow-Headers"] == "content-type"
    status, _, _ = call(port, "OPTIONS", UPLOAD, Origin="http://evil.example")
    assert status == 403


# ---- the same attacks from a real browser page ---------------------------------------------------

ATTACK_PAGE = """<!doctype html><title>cute cats</title>
<script>
async function attack(sidecar) {
  const result = {};
  try {
    await fetch(sidecar + "/upload/storage/v1/b/objstore-b/o?uploadType=media&name=planted.txt",
                {method: "POST", mode: "no-cors", body: "planted by a web page"});
    result.upload = "sent";
  } catch (error) { result.upload = "failed: " + error; }
  try {
    const response = await fetch(sidecar + "/credential");
    result.credential = await response.text();
  } catch (error) { result.credential = "failed: " + error; }
  try {
    await fetch(sidecar + "/credential", {mode: "no-cors"});
    result.noCorsCredential = "sent";
  } catch (error) { result.noCorsCredential = "failed: " + error; }
  return result;
}
</script>"""


class AttackerSite:
    """Another local port serving the attacker's page."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                data = ATTACK_PAGE.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        serve(self.httpd)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Chromium:
    """Debian's Chromium (as tests/browser drives it), resolving rebound.test to 127.0.0.1 as
    a DNS-rebinding attacker's name would once re-pointed. Chromium's own Local Network Access
    checks (which stop a public page's requests to loopback) are turned off: Firefox and Safari
    have none, and the sidecar must hold on its own.

    Playwright's sync API runs in a thread of its own here, since tests/browser may already
    run one (with its event loop) in the test thread: ``run(fn)`` calls ``fn(browser)`` there.
    """

    def __init__(self) -> None:
        import queue

        self._calls: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        from playwright.sync_api import sync_playwright

        from .browser.conftest import CHROMIUM, CHROMIUM_ARGS

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    *CHROMIUM_ARGS,
                    "--host-resolver-rules=MAP rebound.test 127.0.0.1",
                    "--disable-features=LocalNetworkAccessChecks,"
                    "BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,"
                    "PrivateNetworkAccessRespectPreflightResults",
                ],
            )
            while (call := self._calls.get()) is not None:
                fn, done = call
                try:
                    done.put((True, fn(browser)))
                except BaseException as exc:  # handed to the test thread
                    done.put((False, exc))
            browser.close()

    def run(self, fn):
        import queue

        done: queue.Queue = queue.Queue()
        self._calls.put((fn, done))
        ok, value = done.get(timeout=120)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        self._calls.put(None)
        self._thread.join(timeout=30)


@pytest.fixture
def chromium():
    browser = Chromium()
    yield browser
    browser.close()


@pytest.fixture
def attacker_site():
    site = AttackerSite()
    yield site
    site.close()


@pytest.mark.browser
def test_a_page_on_another_origin_can_neither_plant_objects_nor_read_the_token(
    chromium, attacker_site, start_sidecar, upstream
):
    def attack(sidecar_port: int):
        def run(browser):
            page = browser.new_page()
            page.goto(attacker_site.url)
            result = page.evaluate("sidecar => attack(sidecar)", f"http://127.0.0.1:{sidecar_port}")
            page.close()
            return result

        return chromium.run(run)

    port = start_sidecar()
    result = attack(port)
    assert result["upload"] == "sent"  # the browser sent it: the sidecar refused it
    assert upstream.requests == []  # nothing reached the server, so nothing was stored
    assert TOKEN not in json.dumps(result)
    assert result["credential"].startswith("failed")

    # The same page works once its origin is allowed, so the browser did send the attack.
    result = attack(start_sidecar(allow_origins=(attacker_site.url,)))
    assert [(r["method"], r["body"]) for r in upstream.requests] == [
        ("POST", b"planted by a web page")
    ]
    assert json.loads(result["credential"]) == {"access_token": TOKEN}


@pytest.mark.browser
def test_a_dns_rebinding_page_cannot_read_the_token(chromium, start_sidecar, upstream, monkeypatch):
    """The attacker's page at http://rebound.test:<port>/ (served by the attacker, then the
    name re-pointed at 127.0.0.1) calls the sidecar from its own origin: same-origin, so no
    CORS and no Sec-Fetch headers (not a secure context) protect it; only the Host check does."""
    port = start_sidecar()
    origin = f"http://rebound.test:{port}"

    def attack() -> tuple[dict, int]:
        def run(browser):
            page = browser.new_page()
            page.route(
                f"{origin}/",
                lambda route: route.fulfill(status=200, content_type="text/html", body=ATTACK_PAGE),
            )
            page.goto(f"{origin}/")
            result = page.evaluate("sidecar => attack(sidecar)", origin)
            status = page.evaluate(
                "async () => (await fetch('/object-storage/default-bucket')).status"
            )
            page.close()
            return result, status

        return chromium.run(run)

    result, status = attack()
    assert TOKEN not in json.dumps(result)
    assert "only 127.0.0.1, localhost or [::1]" in result["credential"]
    assert status == 403
    assert upstream.requests == []

    # Without the Host check the same page reads the token (its same-origin GET carries no
    # Origin or Sec-Fetch header); its POST still carries an Origin and is refused for it.
    monkeypatch.setattr("objects.sidecar.host_is_loopback", lambda *args: True)
    result, status = attack()
    assert json.loads(result["credential"]) == {"access_token": TOKEN}
    assert status == 200
    assert upstream.requests == []
