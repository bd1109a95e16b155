import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from objects.backends import blobs

from ..conftest import put

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OBJSTORE_STORAGE": "gcs"}, "GS_BUCKET_NAME must be set when OBJSTORE_STORAGE=gcs"),
        (
            {"OBJSTORE_STORAGE": "s3"},
            "AWS_STORAGE_BUCKET_NAME must be set when OBJSTORE_STORAGE=s3",
        ),
        ({"OBJSTORE_STORAGE": "ftp"}, "OBJSTORE_STORAGE must be file, gcs or s3, not 'ftp'"),
    ],
)
def test_an_incomplete_backend_configuration_stops_start_up(tmp_path, env, message):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GS_", "AWS_", "OBJSTORE_"))}
    completed = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**clean, "OBJSTORE_DATA_DIR": str(tmp_path), **env},
        timeout=120,
    )
    assert completed.returncode != 0
    assert message in completed.stderr


@pytest.mark.django_db(transaction=True)
def test_the_housekeeping_commands(bucket, capsys):
    good = put(bucket, "good", b"good")
    gone = put(bucket, "gone", b"gone")
    blobs().delete(gone.blob_key)
    with pytest.raises(CommandError, match="1 object"):
        call_command("objstore_check")
    assert "gone: blob is missing" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("objstore_check", "--delete-broken")
    call_command("objstore_check", "--md5")  # the broken row is gone now
    assert "all objects have their bytes" in capsys.readouterr().out
    call_command("objstore_gc", "--grace-hours", "0")
    out = capsys.readouterr().out
    assert "deleted 0 orphan blob(s)" in out
    assert [key for key, _ in blobs().keys()] == [good.blob_key]


def test_writes_go_on_after_the_gcs_backend_restarts(settings, tmp_path):
    """The GCS client keeps connections in a pool; a backend that restarted has closed them
    all, and the next write must still succeed."""
    import io
    from urllib.parse import urlsplit

    from objects.services import HashingReader

    from ..cloud import start_fake_gcs, storage_settings

    emulator = start_fake_gcs(tmp_path / "gcs")
    settings.STORAGES = {
        **settings.STORAGES,
        "objstore": storage_settings("gcs", emulator, tmp_path),
    }
    try:
        store = blobs()
        store.write("first", HashingReader(io.BytesIO(b"one"), 100))
        emulator.stop()  # every pooled connection is now dead
        emulator = start_fake_gcs(tmp_path / "gcs", port=urlsplit(emulator.url).port)
        store.write("second", HashingReader(io.BytesIO(b"two" * 100_000), 10**7))
        handle = store.open("second")
        assert handle.read() == b"two" * 100_000
        handle.close()
    finally:
        emulator.stop()
