"""Server memory during a large chunked upload through the pane's endpoints (issue 13).

    python -m benchmarks.pane_upload [--size-mib 5120] [--chunk-mib 8]

Starts objstore as the benchmark does (production mode, gunicorn, SQLite, local disk) with one
worker; signs in with a session cookie, and sends one object of ``--size-mib`` (5 GiB by
default) as the pane's script does: a resumable session, then 8 MiB chunks with the CSRF token.
The bytes are made up as they are sent (nothing of that size is written to the client's disk),
their MD5 is compared with the one the server stored, and the worker's resident memory is
printed before and at its peak: it must stay flat whatever the size. Not part of the test run.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=5 * 1024)
    parser.add_argument("--chunk-mib", type=int, default=8)
    args = parser.parse_args()
    size, chunk = args.size_mib * MiB, args.chunk_mib * MiB
    block = os.urandom(MiB)

    with tempfile.TemporaryDirectory(prefix="objstore-pane-upload-") as work:
        server = start_objstore(
            Path(work), workers=1, extra_env={"OBJSTORE_MAX_OBJECT_SIZE": str(size + MiB)}
        )
        try:
            worker = process_tree(server.process.pid)[1]
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
