"""A local stand-in for Replit's sidecar (127.0.0.1:1106), so Replit's unmodified client
libraries reach objstore.

It answers the three sidecar endpoints the libraries call (GCS_API.md §2) and forwards every
other request to the objstore server with the user's API token, streaming bodies both ways
(fixed-length and chunked). The Node library sends no credentials to a custom endpoint; the
token is added here, so it lives only in the developer's environment.

Because it adds the token to whatever it forwards, it answers programs on this machine only, not
pages in the developer's browser (``request_refusal``): a Host that is not a loopback name (a
page whose domain was re-pointed at 127.0.0.1, "DNS rebinding") and any request a browser made
(an ``Origin`` header, or the ``Sec-Fetch-*`` headers browsers add) get 403 and nothing is
forwarded, unless the page's origin was allowed (``OBJSTORE_SIDECAR_ALLOW_ORIGINS`` or
``--allow-origin``). Node's own ``fetch`` sends ``Sec-Fetch-Mode: cors`` and nothing else of
these, which Replit's Node library does for the default bucket, so that alone is let through.
"""

import http.client
import json
import logging
import os
import tomllib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "content-length",
    "x-forwarded-host",  # set by the sidecar itself
    "x-forwarded-proto",
}


class ConfigError(Exception):
    pass


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
# Headers that only browsers send. Node's fetch (undici) adds ``Sec-Fetch-Mode: cors`` on its
# own, without the others, so that header counts only with another value.
BROWSER_HEADERS = ("origin", "sec-fetch-site", "sec-fetch-dest", "sec-fetch-user")
NODE_FETCH_MODE = "cors"


def parse_origins(text: str) -> tuple[str, ...]:
    """``OBJSTORE_SIDECAR_ALLOW_ORIGINS``: comma-separated origins, as browsers send them."""
    return tuple(normalize_origin(item) for item in text.split(",") if item.strip())


def normalize_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


@dataclass
class SidecarConfig:
    server: str
    token: str
    default_bucket: str
    # Browser origins allowed to use the sidecar (each gets CORS headers); none by default.
    allow_origins: tuple[str, ...] = field(default=())

    @property
    def upstream(self) -> tuple[str, str, int]:
        parts = urlsplit(self.server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"The objstore server URL must be http(s)://host[:port], not {self.server!r}."
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return parts.scheme, parts.hostname, port


def default_bucket_from_replit_file(path: Path) -> str:
    """``[objectStorage] defaultBucketID = "..."`` from a .replit file, or ""."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return ""
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    section = data.get("objectStorage") or {}
    return str(section.get("defaultBucketID", ""))


def load_config(
    *,
    server: str | None,
    token: str | None,
    bucket: str | None,
    replit_file: Path,
    allow_origins: list[str] | tuple[str, ...] = (),
) -> SidecarConfig:
    server = server or os.environ.get("OBJSTORE_URL", "http://127.0.0.1:8000")
    token = token or os.environ.get("OBJSTORE_TOKEN", "")
    if not token:
        raise ConfigError(
            "No API token: set OBJSTORE_TOKEN (make one in the pane: Settings → API tokens)."
        )
    bucket = (
        bucket
        or os.environ.get("OBJSTORE_DEFAULT_BUCKET")
        or default_bucket_from_replit_file(replit_file)
    )
    origins = parse_origins(os.environ.get("OBJSTORE_SIDECAR_ALLOW_ORIGINS", ""))
    origins += tuple(normalize_origin(origin) for origin in allow_origins if origin.strip())
    config = SidecarConfig(
        server=server.rstrip("/"),
        token=token,
        default_bucket=bucket,
        allow_origins=tuple(dict.fromkeys(origins)),
    )
    _ = config.upstream  # validate now, not on the first request
    return config


class _ChunkedReader:
    """Decodes a chunked request body from the client, chunk by chunk."""

    def __init__(self, rfile) -> None:
        self._rfile = rfile
        self._left = 0
        self._done = False

    def read(self, size: int) -> bytes:
        if self._done:
            return b""
        if self._left == 0:
            line = self._rfile.readline(65537)
            size_text = line.split(b";", 1)[0].strip()
            try:
                self._left = int(size_text, 16)
            except ValueError:
                raise ValueError("malformed chunked body") from None
            if self._left == 0:
                while self._rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return b""
        data = self._rfile.read(min(size, self._left))
        if not data:
            raise ValueError("the chunked body broke off")
        self._left -= len(data)
        if self._left == 0:
            self._rfile.readline(3)  # CRLF after each chunk
        return data


def host_is_loopback(host_header: str | None, extra: frozenset[str] = frozenset()) -> bool:
    """Whether a Host header names this machine's loopback (``127.0.0.1``, ``localhost``,
    ``[::1]``, with or without a port), or one of ``extra`` (the address the sidecar was told
    to listen on)."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        name, bracket, rest = host.partition("]")
        name += bracket
    else:
        name, _, rest = host.partition(":")
        rest = ":" + rest if rest else ""
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return False
    return name in LOOPBACK_HOSTS or name in extra


def request_refusal(
    headers, allow_origins: tuple[str, ...] = (), extra_hosts: frozenset[str] = frozenset()
) -> str | None:
    """Why a request must not reach the sidecar's credentials or be forwarded, or None."""
    if not host_is_loopback(headers.get("Host"), extra_hosts):
        return (
            f"objstore sidecar: refused a request for Host {headers.get('Host')!r}; it answers "
            "only 127.0.0.1, localhost or [::1] (a web page may have pointed its own domain here)."
        )
    origin = headers.get("Origin")
    if origin is not None and normalize_origin(origin) in allow_origins:
        return None
    mode = (headers.get("Sec-Fetch-Mode") or "").strip().lower()
    browser = [name for name in BROWSER_HEADERS if headers.get(name) is not None]
    if mode and mode != NODE_FETCH_MODE:
        browser.append("sec-fetch-mode")
    if browser:
        return (
            "objstore sidecar: refused a request from a web browser "
            f"({', '.join(sorted(browser))}); it serves programs on this machine only. To let a "
            "page use it, allow its origin with OBJSTORE_SIDECAR_ALLOW_ORIGINS or "
            "--allow-origin."
        )
    return None


def make_handler(config: SidecarConfig, listen_host: str = "127.0.0.1"):
    scheme, host, port = config.upstream
    listen = listen_host.strip().lower()
    if ":" in listen and not listen.startswith("["):
        listen = f"[{listen}]"
    # An address given with --host is a name for this sidecar too (not the wildcard ones).
    extra_hosts = frozenset() if listen in ("0.0.0.0", "[::]", "") else frozenset({listen})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "objstore-sidecar"

        def log_message(self, format: str, *args: object) -> None:
            logger.info("%s %s", self.address_string(), format % args)

        def _send_json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _discard_body(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            while length > 0:
                data = self.rfile.read(min(length, CHUNK))
                if not data:
                    break
                length -= len(data)

        def end_headers(self) -> None:
            origin = self.headers.get("Origin")
            if origin is not None and normalize_origin(origin) in config.allow_origins:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Expose-Headers", "*")
                self.send_header("Vary", "Origin")
            super().end_headers()

        def _refuse(self, reason: str) -> None:
            logger.warning("%s %s %s", self.command, self.path, reason)
            # The body is neither read nor forwarded; the connection ends with this answer.
            self.close_connection = True
            data = json.dumps({"error": {"code": 403, "message": reason}}).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_OPTIONS(self) -> None:
            """CORS preflight, answered only for an allowed origin."""
            origin = self.headers.get("Origin")
            reason = request_refusal(self.headers, config.allow_origins, extra_hosts)
            if reason or origin is None:
                self._refuse(reason or "objstore sidecar: OPTIONS is only a CORS preflight.")
                return
            self._discard_body()
            self.send_response(204)
            self.send_header("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, HEAD")
            requested = self.headers.get("Access-Control-Request-Headers")
            if requested:
                self.send_header("Access-Control-Allow-Headers", requested)
            self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _handle(self) -> None:
            reason = request_refusal(self.headers, config.allow_origins, extra_hosts)
            if reason:
                self._refuse(reason)
                return
            path = self.path.split("?", 1)[0]
            if self.command == "GET" and path == "/credential":
                self._send_json(200, {"access_token": config.token})
            elif self.command == "POST" and path == "/token":
                self._discard_body()
                # The OAuth exchange hands back the same API token, which objstore checks.
                self._send_json(
                    200,
                    {
                        "access_token": config.token,
                        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                        "token_type": "Bearer",
                        "expires_in": 3600,
                    },
                )
            elif self.command == "GET" and path == "/object-storage/default-bucket":
                if config.default_bucket:
                    self._send_json(200, {"bucketId": config.default_bucket})
                else:
                    self._send_json(
                        404,
                        {
                            "error": "No default bucket: set OBJSTORE_DEFAULT_BUCKET, "
                            "or defaultBucketID in .replit."
                        },
                    )
            else:
                self._forward()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        def _forward(self) -> None:
            connection_class = (
                http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            )
            upstream = connection_class(host, port, timeout=300)
            try:
                upstream.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                upstream.putheader("Host", f"{host}:{port}")
                upstream.putheader("Authorization", f"Bearer {config.token}")
                # Links in the answers (mediaLink, selfLink, session URLs) then point back here,
                # where the token is added again; the server follows only loopback values.
                upstream.putheader("X-Forwarded-Host", self.headers.get("Host", ""))
                upstream.putheader("X-Forwarded-Proto", "http")
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        upstream.putheader(name, value)
                chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
                length = int(self.headers.get("Content-Length") or 0)
                if chunked:
                    upstream.putheader("Transfer-Encoding", "chunked")
                    upstream.endheaders()
                    reader = _ChunkedReader(self.rfile)
                    while data := reader.read(CHUNK):
                        upstream.send(b"%x\r\n%s\r\n" % (len(data), data))
                    upstream.send(b"0\r\n\r\n")
                else:
                    upstream.putheader("Content-Length", str(length))
                    upstream.endheaders()
                    while length > 0:
                        data = self.rfile.read(min(length, CHUNK))
                        if not data:
                            raise ValueError("the request body broke off")
                        upstream.send(data)
                        length -= len(data)
                response = upstream.getresponse()
                self._relay(response)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                logger.warning("forwarding %s %s failed: %s", self.command, self.path, exc)
                self.close_connection = True
                try:
                    self._send_json(
                        502, {"error": {"code": 502, "message": f"objstore sidecar: {exc}"}}
                    )
                except OSError:
                    pass
            finally:
                upstream.close()

        def _relay(self, response: http.client.HTTPResponse) -> None:
            self.send_response(response.status, response.reason)
            length = response.getheader("Content-Length")
            for name, value in response.getheaders():
                lowered = name.lower()
                if lowered in HOP_BY_HOP:
                    continue
                if lowered == "location":
                    # Session URLs must come back through us, so the token is added again.
                    sidecar = f"http://{self.headers.get('Host', '127.0.0.1:1106')}"
                    value = value.replace(config.server, sidecar, 1)
                self.send_header(name, value)
            no_body = (
                self.command == "HEAD"
                or response.status in (204, 304)
                or 100 <= response.status < 200
            )
            if length is not None:
                self.send_header("Content-Length", length)
                self.end_headers()
            elif no_body:
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
            if no_body:
                return
            while data := response.read(CHUNK):
                if length is None:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                else:
                    self.wfile.write(data)
            if length is None:
                self.wfile.write(b"0\r\n\r\n")

    return Handler


def make_server(
    config: SidecarConfig, host: str = "127.0.0.1", port: int = 1106
) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(config, listen_host=host))
    server.daemon_threads = True
    return server
