"""A fresh data directory and several workers starting at once: one secret key, no failed boot."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRINT_KEY = (
    "import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'objstore_site.settings');"
    " django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
)


def test_workers_starting_together_share_one_generated_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["OBJSTORE_DATA_DIR"] = str(tmp_path)
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", PRINT_KEY],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [process.communicate(timeout=120) for process in starts]
    assert [process.returncode for process in starts] == [0] * 8, [err for _, err in results]
    keys = {out.strip() for out, _ in results}
    assert len(keys) == 1 and (tmp_path / "secret_key").read_text().strip() in keys
    assert sorted(path.name for path in tmp_path.iterdir() if "secret" in path.name) == [
        "secret_key"
    ]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
