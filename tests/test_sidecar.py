import pytest

from objects.sidecar import ConfigError, default_bucket_from_replit_file, load_config


def test_default_bucket_comes_from_a_replit_file(tmp_path, monkeypatch):
    monkeypatch.delenv("OBJSTORE_DEFAULT_BUCKET", raising=False)
    replit = tmp_path / ".replit"
    replit.write_text(
        'run = "python main.py"\n\n[objectStorage]\ndefaultBucketID = "objstore-abc"\n'
    )
    assert default_bucket_from_replit_file(replit) == "objstore-abc"
    config = load_config(
        server="http://127.0.0.1:8000", token="objstore_t", bucket=None, replit_file=replit
    )
    assert config.default_bucket == "objstore-abc"
    assert default_bucket_from_replit_file(tmp_path / "missing") == ""


def test_environment_wins_over_the_replit_file(tmp_path, monkeypatch):
    replit = tmp_path / ".replit"
    replit.write_text('[objectStorage]\ndefaultBucketID = "from-file"\n')
    monkeypatch.setenv("OBJSTORE_DEFAULT_BUCKET", "from-env")
    monkeypatch.setenv("OBJSTORE_TOKEN", "objstore_env")
    monkeypatch.setenv("OBJSTORE_URL", "https://files.example.org/")
    config = load_config(server=None, token=None, bucket=None, replit_file=replit)
    assert (config.default_bucket, config.token, config.server) == (
        "from-env",
        "objstore_env",
        "https://files.example.org",
    )
    assert config.upstream == ("https", "files.example.org", 443)


def test_missing_token_or_bad_settings_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("OBJSTORE_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="OBJSTORE_TOKEN"):
        load_config(server=None, token=None, bucket="b", replit_file=tmp_path / "none")
    with pytest.raises(ConfigError, match="http"):
        load_config(server="ftp://x", token="t", bucket="b", replit_file=tmp_path / "none")
    bad = tmp_path / ".replit"
    bad.write_text("[objectStorage\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        default_bucket_from_replit_file(bad)


def run_sidecar(*args, env=None, timeout=20):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OBJSTORE_")}
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "manage.py", "sidecar", *args],
        cwd=root,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_command_refuses_to_start_without_a_token(tmp_path):
    process = run_sidecar("--replit-file", str(tmp_path / ".replit"))
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "OBJSTORE_TOKEN" in err


def test_the_command_serves_the_sidecar_endpoints(tmp_path):
    import json
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    replit = tmp_path / ".replit"
    replit.write_text('[objectStorage]\ndefaultBucketID = "objstore-from-file"\n')
    process = run_sidecar(
        "--port", str(port), "--replit-file", str(replit), env={"OBJSTORE_TOKEN": "objstore_t"}
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                with urllib.request.urlopen(
                    f"{base}/object-storage/default-bucket", timeout=1
                ) as response:
                    assert json.load(response) == {"bucketId": "objstore-from-file"}
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError(process.stderr.read())
        with urllib.request.urlopen(f"{base}/credential", timeout=10) as response:
            assert json.load(response) == {"access_token": "objstore_t"}
        request = urllib.request.Request(
            f"{base}/token", data=b"grant_type=x&subject_token=objstore_t", method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
        assert body["access_token"] == "objstore_t" and body["expires_in"] == 3600
    finally:
        process.terminate()
        process.wait(timeout=10)
