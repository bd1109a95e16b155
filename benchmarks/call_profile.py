"""Where a small API call's server CPU goes: py-spy samples of objstore's gunicorn worker.

    python -m benchmarks.call_profile [--calls 3000] [--top 25] [CALL ...]

objstore is started as benchmarks.small_calls starts it (production mode, gunicorn with
objstore_site/gunicorn.conf.py), with one worker so that one process holds every request. For
each kind of call (all of them by default: upload, metadata, media, delete, list) the calls run
one after the other from a ``requests.Session`` while ``py-spy record`` samples the worker at
1,000 Hz (its idle threads left out). The report gives the server CPU per call (schedstat, as
in small_calls) and splits it: for each frame of interest the share of the samples that pass
through it (inclusive), then the functions that run most on their own (self time), both turned
into milliseconds per call.

py-spy (in requirements-dev.txt) needs ptrace rights over the worker: root, or
``kernel.yama.ptrace_scope`` at 0.
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import requests

from .servers import process_tree, start_objstore, tree_cpu_ns
from .small_calls import LIST_NAMES, LIST_PREFIX, Server, _upload, setup

KINDS = ("upload", "metadata", "media", "delete", "list")

# Frames whose inclusive time tells the story of a call: (label, qualified function, file).
STAGES = (
    (
        "the WSGI application (all of objstore's own work)",
        "Application.__call__",
        "objstore_site/handlers",
    ),
    ("request_started / request_finished signals", "Signal.send", "django/dispatch/dispatcher"),
    ("request log (objstore.requests)", "RequestLogMiddleware._log", "objstore_site/middleware"),
    ("API view (objects.api.views.api)", "api", "objects/api/views"),
    ("token check (_authenticate)", "_authenticate", "objects/api/views"),
    ("SQL through objstore_site.db (hot paths)", "_run", "objstore_site/db"),
    ("SQL through the ORM", "CursorWrapper._execute", "django/db/backends/utils"),
    ("transaction commit", "BaseDatabaseWrapper._commit", "django/db/backends/base/base"),
    ("blob write (local disk)", "FileSystemBlobs.write", "objects/backends"),
    ("blob delete / retirement", "retire", "objects/retirement"),
    ("object resource (dict)", "object_resource", "objects/api/resources"),
    ("listing rows (objects.listing)", "objects_list", "objects/services"),
    ("JSON answer (_json: fields, encoding)", "_json", "objects/api/views"),
    ("gunicorn: sending the response", "Response.write", "gunicorn/http/wsgi"),
)


def _call(kind: str, server: Server, session: requests.Session, name: str) -> None:
    base = f"{server.url}/storage/v1/b/{server.bucket}/o"
    if kind == "upload":
        _upload(server, session, name, b"x" * 4096)
    elif kind == "metadata":
        response = session.get(f"{base}/{quote(name, safe='')}")
        assert response.status_code == 200, response.text
    elif kind == "media":
        response = session.get(
            f"{server.url}/download/storage/v1/b/{server.bucket}/o/{quote(name, safe='')}",
            params={"alt": "media"},
        )
        assert response.status_code == 200 and len(response.content) == 4096
    elif kind == "delete":
        response = session.delete(f"{base}/{quote(name, safe='')}")
        assert response.status_code == 204, response.text
    else:
        response = session.get(base, params={"prefix": LIST_PREFIX})
        assert [item["name"] for item in response.json()["items"]] == LIST_NAMES


def _stacks(raw: Path) -> collections.Counter:
    """py-spy's raw (collapsed) output: {stack of frames: samples}."""
    counts: collections.Counter = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[stack] += int(count)
    return counts


def _frame(frame: str) -> tuple[str, str]:
    # "function (path/to/file.py:line)"
    function, _, where = frame.partition(" (")
    return function, where.rsplit(":", 1)[0]


def report(kind: str, stacks: collections.Counter, calls: int, cpu_ms: float, top: int) -> None:
    """py-spy samples each running thread 1,000 times a second: a sample is 1 ms of a thread
    on the CPU (idle threads are left out), so samples / calls is ms per call."""
    total = sum(stacks.values())
    if not total:
        print(f"{kind}: no samples")
        return
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    for stack, count in stacks.items():
        frames = [_frame(frame) for frame in stack.split(";")]
        for label, function, fragment in STAGES:
            if any(f == function and fragment in where for f, where in frames):
                inclusive[label] += count
        function, where = frames[-1]
        own[f"{function} ({where.split('site-packages/')[-1]})"] += count
    print(
        f"\n## {kind}: {cpu_ms:.3f} ms of server CPU per call (schedstat); sampled: "
        f"{total / calls:.3f} ms per call\n"
    )
    print("| stage (inclusive) | ms per call |\n| --- | ---: |")
    for label, *_ in STAGES:
        if inclusive[label]:
            print(f"| {label} | {inclusive[label] / calls:.3f} |")
    print(f"\n| self time (top {top}) | ms per call |\n| --- | ---: |")
    for label, count in own.most_common(top):
        print(f"| {label} | {count / calls:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kinds", nargs="*", metavar="CALL", help=f"any of {', '.join(KINDS)}")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="also keep py-spy's raw output in this folder")
    args = parser.parse_args()
    args.kinds = args.kinds or list(KINDS)
    if unknown := set(args.kinds) - set(KINDS):
        parser.error(f"unknown calls: {', '.join(sorted(unknown))}")
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory(prefix="objstore-profile-") as tmp:
        work = Path(tmp)
        objstore = start_objstore(work, workers=1)
        server = Server(
            "objstore", objstore.url, objstore.bucket, objstore.token, objstore.process.pid
        )
        try:
            setup(server)
            session = server.session()
            workers = [pid for pid in process_tree(server.pid) if pid != server.pid]
            names = [f"profile/{i:05}" for i in range(args.calls)]
            for name in names[:200]:  # warm up: caches, connections, the first imports
                _call("upload", server, session, name)
                _call("metadata", server, session, name)
                _call("delete", server, session, name)
            for kind in KINDS:  # in this order: each finds the objects the one before left
                raw = work / f"{kind}.txt"
                spy = None
                if kind in args.kinds:
                    spy = subprocess.Popen(
                        [
                            py_spy,
                            "record",
                            "--pid",
                            str(workers[0]),
                            "--rate",
                            "1000",
                            "--format",
                            "raw",
                            "--output",
                            str(raw),
                            "--nonblocking",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    time.sleep(1.0)  # py-spy attaches
                cpu = tree_cpu_ns(server.pid)
                for name in names:
                    _call(kind, server, session, name)
                cpu = (tree_cpu_ns(server.pid) - cpu) / 1e6 / len(names)
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait(60)
                    report(kind, _stacks(raw), len(names), cpu, args.top)
                    if args.keep:
                        args.keep.mkdir(parents=True, exist_ok=True)
                        shutil.copy(raw, args.keep / raw.name)
        finally:
            objstore.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
