"""@replit/object-storage (npm), unmodified, through the sidecar (it sends no credentials)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from objects import services

from ..conftest import read

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "node" / "workflow.mjs"


@pytest.fixture
def node_client(sidecar):
    if not (ROOT / "node_modules" / "@replit" / "object-storage").exists():
        pytest.fail("Run `npm ci` first: the npm client is installed from package-lock.json.")
    return shutil.which("node")


def test_every_method_of_the_node_client(node_client, sidecar, bucket, other_bucket, tmp_path):
    # The script lives in tests/; node resolves packages from the repository's node_modules.
    script = ROOT / "node_modules" / ".objstore-workflow.mjs"
    shutil.copy(SCRIPT, script)
    completed = subprocess.run(
        [node_client, str(script), str(tmp_path), other_bucket.bucket_id],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    r = json.loads(completed.stdout)

    assert r["uploadFromText"] == {"ok": True, "value": None}
    assert r["downloadAsText"] == {"ok": True, "value": "hello from node"}
    assert r["uploadFromBytes"]["ok"]
    assert r["downloadAsBytes"] == {"ok": True, "equal": True, "isArray": True}
    assert r["uploadFromFilename"]["ok"] and r["downloadToFilename"]["ok"]
    assert r["downloadedFile"] == '{"from": "file"}'
    assert r["downloadAsStream"] == "streamed body"
    assert [o["name"] for o in r["listAll"]["value"]] == [
        "bin/big.bin",
        "docs/data.json",
        "docs/hello.txt",
        "docs/streamed.txt",
    ]
    assert [o["name"] for o in r["listPrefix"]["value"]] == [
        "docs/data.json",
        "docs/hello.txt",
        "docs/streamed.txt",
    ]
    assert [o["name"] for o in r["listGlob"]["value"]] == ["docs/data.json"]
    assert [o["name"] for o in r["listOffsets"]["value"]] == ["bin/big.bin", "docs/data.json"]
    assert len(r["listMax"]["value"]) == 2
    assert r["existsYes"]["value"] is True and r["existsNo"]["value"] is False
    assert r["copy"]["ok"] and r["downloadCopy"]["value"] == "hello from node"
    assert r["delete"]["ok"] and r["deleteIgnore"]["ok"]
    assert r["deleteMissing"]["ok"] is False and r["deleteMissing"]["error"]["statusCode"] == 404
    assert (
        r["downloadMissing"]["ok"] is False
        and "No such object" in r["downloadMissing"]["error"]["message"]
    )
    assert r["otherUpload"]["ok"] and r["otherDownload"]["value"] == "other bucket"

    # What Node wrote is what objstore stored, with the types Node chose from the names.
    hello = services.object_get(bucket=bucket, name="docs/hello.txt")
    assert read(hello) == b"hello from node" and hello.content_type.startswith("text/plain")
    assert (
        services.object_get(bucket=bucket, name="docs/data.json").content_type == "application/json"
    )
    assert services.object_get(bucket=bucket, name="bin/big.bin").size == 21 * 1024 * 1024
    assert read(services.object_get(bucket=other_bucket, name="in-other.txt")) == b"other bucket"
