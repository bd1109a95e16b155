"""Server memory during a large chunked upload through the pane's endpoints (issue 13).

    python -m benchmarks.pane_upload [--size-mib 5120] [--chunk-mib 8] [--browser]

Starts objstore as the benchmark does (production mode, gunicorn, SQLite, local disk) with one
worker; signs in with a session cookie, and sends one object of ``--size-mib`` (5 GiB by
default) as the pane's script does: a resumable session, then 8 MiB chunks with the CSRF token.
The bytes are made up as they are sent (nothing of that size is written to the client's disk),
their MD5 is compared with the one the server stored, and the worker's resident memory is
printed before and at its peak: it must stay flat whatever the size. Not part of the test run.

With ``--browser`` the upload is the pane's own, in Chromium (Debian's, driven by Playwright):
a sparse file of that size is picked with *Upload files* and the page's script uploads it in
chunks, as for a user; the worker's RSS is sampled every 0.2 s while it runs, and the stored MD5
is compared with the file's.
"""

import argparse
import base64
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path

import requests

from .servers import process_tree, start_objstore

MiB = 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def in_chromium(server, worker: int, work: Path, size: int) -> tuple[float, int, int, str]:
    """Upload a sparse file of ``size`` bytes through the pane in Chromium: (seconds, RSS before
    and peak in KiB, the file's MD5 in base64)."""
    import threading

    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    path = work / "big.bin"
    with path.open("wb") as handle:
        handle.truncate(size)  # zeros, taking no disk space on the client's side
    md5 = hashlib.md5()
    zeros = bytes(8 * MiB)
    for offset in range(0, size, len(zeros)):
        md5.update(zeros[: min(len(zeros), size - offset)])
    before = status_kib(worker, "VmRSS")
    peak = before
    anon: list[int] = []
    running = True

    def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, status_kib(worker, "VmRSS"))
            anon.append(status_kib(worker, "RssAnon"))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(base_url=server.url)
        context.add_cookies(
            [{"name": "sessionid", "value": server.session_cookie, "url": server.url}]
        )
        page = context.new_page()
        page.goto(f"/buckets/{server.bucket}/")
        sampler.start()
        started = time.monotonic()
        page.locator("#pick-files").set_input_files(str(path))
        page.locator(".tray-summary", has_text="1 uploaded").wait_for(timeout=3_600_000)
        seconds = time.monotonic() - started
        running = False
        sampler.join()
        browser.close()
    tenth = max(1, len(anon) // 10)
    print(
        f"worker RssAnon (KiB) over the upload, by tenths: {anon[::tenth]}; "
        f"RssFile at the end {status_kib(worker, 'RssFile')}"
    )
    return seconds, before, peak, base64.b64encode(md5.digest()).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=5 * 1024)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--browser", action="store_true", help="upload through Chromium")
    args = parser.parse_args()
    size, chunk = args.size_mib * MiB, args.chunk_mib * MiB
    block = os.urandom(MiB)

    with tempfile.TemporaryDirectory(prefix="objstore-pane-upload-") as work:
        server = start_objstore(
            Path(work), workers=1, extra_env={"OBJSTORE_MAX_OBJECT_SIZE": str(size + MiB)}
        )
        try:
            worker = process_tree(server.process.pid)[1]
            if args.browser:
                seconds, before, peak, expected = in_chromium(server, worker, Path(work), size)
                stored = requests.get(
                    f"{server.url}/storage/v1/b/{server.bucket}/o/big.bin",
                    headers={"Authorization": f"Bearer {server.token}"},
                ).json()
                if stored["md5Hash"] != expected or int(stored["size"]) != size:
                    raise SystemExit(f"stored object differs: {stored}")
                print(
                    f"Chromium, {args.size_mib} MiB through the pane: "
                    f"{args.size_mib / seconds:.0f} MiB/s; worker RSS {before / 1024:.0f} MiB "
                    f"before, peak {peak / 1024:.0f} MiB (sampled); MD5 matches"
                )
                return
            http = requests.Session()
            pane = f"{server.url}/buckets/{server.bucket}/"
            # Production cookies are Secure: send them by hand over plain HTTP on loopback.
            page = http.get(pane, headers={"Cookie": f"sessionid={server.session_cookie}"})
            page.raise_for_status()
            csrf_cookie = page.cookies.get("csrftoken") or re.search(
                r"csrftoken=([^;]+)", page.headers.get("Set-Cookie", "")
            ).group(1)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            headers = {
                "Cookie": f"sessionid={server.session_cookie}; csrftoken={csrf_cookie}",
                "X-CSRFToken": token,
                "Accept": "application/json",
            }
            before = status_kib(worker, "VmRSS")
            started = time.monotonic()
            response = http.post(
                f"{pane}uploads/sessions",
                json={"prefix": "", "path": "big.bin", "size": size, "if_generation_match": 0},
                headers=headers,
            )
            response.raise_for_status()
            upload_id = response.json()["upload_id"]
            md5 = hashlib.md5()
            offset = 0
            while offset < size:
                length = min(chunk, size - offset)
                data = b"".join(block[:n] for n in [MiB] * (length // MiB) + [length % MiB] if n)
                md5.update(data)
                answer = http.post(
                    f"{pane}uploads/sessions/{upload_id}/chunk?offset={offset}",
                    data=data,
                    headers={**headers, "Content-Type": "application/octet-stream"},
                )
                answer.raise_for_status()
                offset += length
            seconds = time.monotonic() - started
            assert answer.json()["done"], answer.text
            peak = status_kib(worker, "VmHWM")
            stored = http.get(
                f"{server.url}/storage/v1/b/{server.bucket}/o/big.bin",
                headers={"Authorization": f"Bearer {server.token}"},
            ).json()
            expected = base64.b64encode(md5.digest()).decode()
            if stored["md5Hash"] != expected or int(stored["size"]) != size:
                raise SystemExit(f"stored object differs: {stored}")
        finally:
            server.stop()
    print(
        f"{args.size_mib} MiB in {args.chunk_mib} MiB chunks: {args.size_mib / seconds:.0f} MiB/s; "
        f"worker RSS {before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB; MD5 matches"
    )


if __name__ == "__main__":
    main()
