"""Server CPU per small API call: objstore, fake-gcs-server and a bare gunicorn app.

    python -m benchmarks.small_calls [--calls 2000] [--runs 3]

The method of issue 14. Each server is started as a user would start it (objstore: the README's
start command, gunicorn with objstore_site/gunicorn.conf.py in production mode); the client is
``requests``: one ``requests.Session`` making ``--calls`` sequential calls of a kind, then the
same number spread over 8 threads (a session each). For every kind of call the CPU of the whole
server (the gunicorn master and all its workers, every thread; fake-gcs-server's every thread)
is read from /proc/<pid>/task/<tid>/schedstat before and after and divided by the calls.

The calls: a 4 KiB media upload (``uploadType=media``), its metadata GET, its media GET
(``alt=media``), a one-page list of a prefix holding 100 names, and the delete. Every answer is
checked (the bytes downloaded, the size in the metadata, the 100 names of the listing, the
status of the delete), except the bare app's, which answers every request with the same 60
bytes of JSON: it is gunicorn with objstore's own gunicorn.conf.py and nothing else, the floor
of any gunicorn app on this machine.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests

from .servers import tree_cpu_ns

CANNED = b'{"kind":"storage#object","name":"canned","bucket":"b","n":1}'
assert len(CANNED) == 60


def canned_app(environ: dict, start_response: Callable) -> list[bytes]:
    """The bare WSGI app: reads the body, answers 60 bytes of JSON."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "60")])
    return [CANNED]


CALLS_BUCKET = "bench-small-calls"
# In this order: the list comes last, when the bucket holds only its 100 names again.
CALLS = ("4 KiB upload", "metadata GET", "media GET", "delete", "list of 100 names")
LIST_PREFIX = "list100/"
LIST_NAMES = [f"{LIST_PREFIX}n{i:03}" for i in range(100)]
# issue 14: server CPU per call at most 1.0 ms, a one-page list of 100 names at most 2.0 ms.
TARGET_MS = {call: 1.0 for call in CALLS} | {"list of 100 names": 2.0}


@dataclass
class Server:
    label: str
    url: str
    bucket: str
    token: str | None
    pid: int
    check: bool = True  # False for the bare app, whose answers are canned

    def session(self) -> requests.Session:
        session = requests.Session()
        if self.token:
            session.headers["Authorization"] = f"Bearer {self.token}"
        return session


@dataclass
class Figure:
    server_ms: float  # server CPU per call
    calls_per_s: float
    client_ms: float  # the client's own CPU per call (this process, every thread)
    others: float  # cores busy with anything else on the machine meanwhile


def machine_busy() -> tuple[float, float]:
    """(busy, steal) seconds of all the machine's cores so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / hz, steal / hz


def reference_workload_ms() -> float:
    """CPU milliseconds of a fixed pure-Python workload (dicts, strings, JSON) in this process:
    how fast this machine runs Python right now. The same code took 390-530 ms on the 2-core
    machine of 2026-11-30 while other sessions ran tests beside it; CPU figures measured on
    different days compare only as far as this one does."""
    started = time.process_time()
    table = {}
    for i in range(200_000):
        table[str(i)] = json.dumps({"a": i})
    return (time.process_time() - started) * 1000


def _names(threads: int, calls: int) -> list[str]:
    return [f"calls/{threads}t/{i:05}" for i in range(calls)]


def setup(server: Server) -> None:
    """A bucket of the calls' own (made through the API's bucket insert), holding the 100 names
    the listing call reads back (4 KiB each). Not the benchmark's 20,000-name bucket:
    fake-gcs-server reads every object of a bucket to list any prefix of it (~75 ms of CPU
    for these 100 names beside those 20,000), so the list call would measure that instead."""
    if not server.check:
        return
    session = server.session()
    response = session.post(
        f"{server.url}/storage/v1/b", params={"project": "bench"}, json={"name": CALLS_BUCKET}
    )
    assert response.status_code == 200, response.text
    server.bucket = CALLS_BUCKET
    for name in LIST_NAMES:
        _upload(server, session, name, b"l" * 4096)


def _upload(server: Server, session: requests.Session, name: str, payload: bytes) -> None:
    response = session.post(
        f"{server.url}/upload/storage/v1/b/{server.bucket}/o",
        params={"uploadType": "media", "name": name},
        data=payload,
        headers={"Content-Type": "application/octet-stream"},
    )
    if server.check:
        assert response.status_code == 200, response.text
        assert response.json()["size"] == str(len(payload)), response.text


def measure(server: Server, calls: int, threads: int) -> dict[str, Figure]:
    """Every kind of call, ``calls`` times, by ``threads`` threads (a session each)."""
    names = _names(threads, calls)
    payloads = {name: os.urandom(4096) for name in names}
    sessions = [server.session() for _ in range(threads)]
    base = f"{server.url}/storage/v1/b/{server.bucket}/o"
    media = f"{server.url}/download/storage/v1/b/{server.bucket}/o"
    check = server.check

    def upload(session: requests.Session, name: str) -> None:
        _upload(server, session, name, payloads[name])

    def metadata(session: requests.Session, name: str) -> None:
        response = session.get(f"{base}/{quote(name, safe='')}")
        if check:
            assert response.status_code == 200 and response.json()["size"] == "4096"

    def download(session: requests.Session, name: str) -> None:
        response = session.get(f"{media}/{quote(name, safe='')}", params={"alt": "media"})
        if check:
            assert response.status_code == 200 and response.content == payloads[name]

    def listing(session: requests.Session, name: str) -> None:
        response = session.get(base, params={"prefix": LIST_PREFIX})
        if check:
            body = response.json()
            assert [item["name"] for item in body["items"]] == LIST_NAMES
            assert "nextPageToken" not in body

    def delete(session: requests.Session, name: str) -> None:
        response = session.delete(f"{base}/{quote(name, safe='')}")
        if check:
            assert response.status_code in (200, 204), response.status_code

    # Each session opens its connection before the clock starts.
    for session in sessions:
        session.get(f"{base}/{quote(LIST_NAMES[0], safe='')}")

    results = {}
    with ThreadPoolExecutor(threads) as pool:
        for call, operation in zip(
            CALLS, (upload, metadata, download, delete, listing), strict=True
        ):

            def work(index: int, operation: Callable = operation) -> None:
                session = sessions[index]
                for name in names[index::threads]:
                    operation(session, name)

            busy, _ = machine_busy()
            client = time.process_time()
            cpu = tree_cpu_ns(server.pid)
            started = time.perf_counter()
            list(pool.map(work, range(threads)))
            wall = time.perf_counter() - started
            cpu = (tree_cpu_ns(server.pid) - cpu) / 1e9
            client = time.process_time() - client
            busy = machine_busy()[0] - busy
            results[call] = Figure(
                server_ms=cpu / calls * 1000,
                calls_per_s=calls / wall,
                client_ms=client / calls * 1000,
                others=max(0.0, busy - cpu - client) / wall,
            )
    if check:
        response = sessions[0].get(base, params={"prefix": f"calls/{threads}t/"})
        assert not response.json().get("items"), "objects left after the deletes"
    for session in sessions:
        session.close()
    return results


def measure_all(
    servers: list[Server], calls: int, thread_counts: tuple[int, ...] = (1, 8)
) -> dict[tuple[str, int, str], Figure]:
    """{(server label, threads, call): figure}, the servers in the order given."""
    results = {}
    for server in servers:
        for threads in thread_counts:
            for call, figure in measure(server, calls, threads).items():
                results[server.label, threads, call] = figure
    return results


def median_figures(
    runs: list[dict[tuple[str, int, str], Figure]],
) -> dict[tuple[str, int, str], tuple[Figure, Figure, Figure]]:
    """For each key: (median, lowest, highest) of each field over the runs."""
    merged = {}
    for key in runs[0]:
        figures = [run[key] for run in runs if key in run]
        fields = Figure.__dataclass_fields__
        merged[key] = tuple(
            Figure(**{f: pick(getattr(x, f) for x in figures) for f in fields})
            for pick in (statistics.median, min, max)
        )
    return merged


def table(
    merged: dict[tuple[str, int, str], tuple[Figure, Figure, Figure]],
    labels: tuple[str, str, str] = ("objstore", "fake-gcs-server", "bare gunicorn"),
) -> str:
    ours, peer, bare = labels
    lines = [
        f"| call | threads | {ours}: server CPU per call (ms) | {peer} | {bare} | "
        f"{ours} - {bare} (ms) | {ours}: calls/s | {peer} | {bare} | "
        f"client CPU per call, {ours} (ms) | target for {ours} | met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    threads_seen = sorted({threads for _, threads, _ in merged})
    for threads in threads_seen:
        for call in CALLS:
            row = [call, "1 (sequential)" if threads == 1 else str(threads)]
            cells = {label: merged.get((label, threads, call)) for label in labels}
            for label in labels:
                row.append(_spread(cells[label], "server_ms", 2) if cells[label] else "n/a")
            if cells[ours] and cells[bare]:
                row.append(f"{cells[ours][0].server_ms - cells[bare][0].server_ms:.2f}")
            else:
                row.append("n/a")
            for label in labels:
                row.append(_spread(cells[label], "calls_per_s", 0) if cells[label] else "n/a")
            row.append(f"{cells[ours][0].client_ms:.2f}" if cells[ours] else "n/a")
            target = TARGET_MS[call]
            met = cells[ours] and cells[ours][0].server_ms <= target
            row += [f"<= {target:.1f} ms", "yes" if met else "NO"]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _spread(figures: tuple[Figure, Figure, Figure], field: str, digits: int) -> str:
    median, low, high = (getattr(f, field) for f in figures)
    if low == high:
        return f"{median:,.{digits}f}"
    return f"{median:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"


def main() -> None:
    from .servers import start_bare_gunicorn, start_fake_gcs, start_objstore

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="objstore-calls-") as tmp:
        work = Path(tmp)
        objstore = start_objstore(work)
        peer = start_fake_gcs(work / "peer", bucket="bench")
        bare = start_bare_gunicorn()
        servers = [
            Server("objstore", objstore.url, objstore.bucket, objstore.token, objstore.process.pid),
            Server("fake-gcs-server", peer.url, peer.bucket, None, peer.process.pid),
            Server("bare gunicorn", bare.url, "b", None, bare.process.pid, check=False),
        ]
        try:
            for server in servers:
                setup(server)
            runs = []
            for run in range(args.runs):
                order = servers if run % 2 == 0 else servers[::-1]
                print(f"run {run + 1}/{args.runs}: {', '.join(s.label for s in order)}")
                runs.append(measure_all(order, args.calls, tuple(args.threads)))
        finally:
            objstore.stop()
            peer.stop()
            bare.stop()
    print(table(median_figures(runs)))
    others = [f.others for run in runs for f in run.values()]
    print(f"other load on the machine meanwhile: {min(others):.2f}-{max(others):.2f} cores")


if __name__ == "__main__":
    main()
