"""gunicorn settings for objstore, from the environment.

gthread workers: a thread per request, so one long upload or download does not block the
others, and no worker timeout kills a transfer that is still moving (the sync worker's would).
objstore_site.workers.ThreadWorker is gthread with less bookkeeping per kept-alive request
(see that module); OBJSTORE_WORKER_CLASS=gthread runs gunicorn's own worker instead.
Downloads from local disk go out through sendfile. gunicorn-h1c (in requirements.txt) gives
gunicorn its C request parser, which it picks up by itself (by py-spy, request parsing went
from ~15 % to ~12 % of a small API call's CPU).
"""

import multiprocessing
import os

from gunicorn import glogging

from objstore_site.logpaths import without_secrets

bind = os.environ.get("OBJSTORE_BIND", "127.0.0.1:8000")
worker_class = os.environ.get("OBJSTORE_WORKER_CLASS", "objstore_site.workers.ThreadWorker")
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count())))
# 16 threads: OBJSTORE_MAX_BODY_READERS (by default 12 of them) may be receiving request bodies,
# the rest always serve everything else (see objstore_site/bodies.py).
threads = int(os.environ.get("OBJSTORE_THREADS", "16"))
# With gthread, the timeout only bounds a worker that stops answering its master, not a request.
timeout = int(os.environ.get("OBJSTORE_WORKER_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 15
# Object names may be up to 1024 bytes, percent-encoded three times over, twice (copyTo).
limit_request_line = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# "-" logs to stdout; set OBJSTORE_ACCESS_LOG to a path, or to "off" (objstore's own request
# log, objstore.requests, already has method, path, status, bytes and duration).
_access_log = os.environ.get("OBJSTORE_ACCESS_LOG", "-")
accesslog = None if _access_log in ("", "off") else _access_log
# The path as the client sent it (still percent-encoded, without the query string, which may
# carry names), not the decoded one: a name like "x%0a10.0.0.5 ..." must not forge a line.
access_log_format = '%(h)s "%(m)s %(raw_path)s" %(s)s %(B)s %(M)sms'


def _escaped(value):
    """``value`` with nothing that could end a log line or a quoted field, or drive a terminal:
    backslash escapes (``\\n``, ``\\x1b``, ``\\"``) for control, format and separator characters,
    quotes and backslashes; ordinary text, non-ASCII letters included, stays as it is."""
    if not isinstance(value, str):
        return value
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    return "".join(
        char if char.isprintable() and char not in '"\\' else _escape_char(char) for char in value
    )


def _escape_char(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    return char.encode("unicode_escape").decode("ascii")


class _EscapedAtoms(glogging.SafeAtoms):
    """gunicorn's atoms, each escaped when the format uses it (gunicorn itself escapes only
    double quotes, so a decoded CR or LF, from the path or any header, would start a new line)."""

    def __init__(self, atoms):
        dict.__init__(self, atoms)

    def __getitem__(self, key):
        return _escaped(super().__getitem__(key))


class AccessLogger(glogging.Logger):
    atoms_wrapper_class = _EscapedAtoms

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["raw_path"] = without_secrets(environ.get("RAW_URI", "").split("?", 1)[0]) or "-"
        return atoms


logger_class = AccessLogger

# gunicorn's control socket (for its gunicornc tool) defaults to one path per user account,
# $XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl: a second instance would take it
# over from the first, and whichever stops first would delete it. objstore does not use it, so
# it is off unless OBJSTORE_CONTROL_SOCKET names a path of this instance's own.
_control_socket = os.environ.get("OBJSTORE_CONTROL_SOCKET", "").strip()
if _control_socket in ("", "off"):
    control_socket_disable = True
else:
    control_socket = _control_socket
# sendfile stays on (gunicorn's default): downloads from local disk leave through the kernel.


def post_worker_init(worker):
    # Two malloc arenas for the worker's threads instead of glibc's default of eight per core:
    # each arena keeps what its threads freed, so a long upload whose chunks land on one thread
    # after another left the worker's memory swinging between 85 and 110 MiB (measured with
    # benchmarks.pane_upload --browser). glibc only; elsewhere this does nothing.
    import ctypes
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    if libc_name and hasattr(ctypes.CDLL(libc_name), "mallopt"):
        m_arena_max = -8
        ctypes.CDLL(libc_name).mallopt(m_arena_max, 2)

    # Everything loaded so far (Django, the URL patterns, the models) lives as long as the
    # worker: move it out of the garbage collector's sight, so that its full collections do not
    # walk those objects again and again (~5 % of a small API call's CPU, by py-spy).
    import gc

    gc.freeze()
