import pytest

from objects.sidecar import ConfigError, default_bucket_from_replit_file, load_config


def test_default_bucket_comes_from_a_replit_file(tmp_path, monkeypatch):
    monkeypatch.delenv("OBJSTORE_DEFAULT_BUCKET", raising=False)
    replit = tmp_path / ".replit"
    replit.write_text('run = "python main.py"\n\n[objectStorage]\ndefaultBucketID = "objstore-abc"\n')
    assert default_bucket_from_replit_file(replit) == "objstore-abc"
    config = load_config(server="http://127.0.0.1:8000", token="objstore_t", bucket=None, replit_file=replit)
    assert config.default_bucket == "objstore-abc"
    assert default_bucket_from_replit_file(tmp_path / "missing") == ""


def test_environment_wins_over_the_replit_file(tmp_path, monkeypatch):
    replit = tmp_path / ".replit"
    replit.write_text('[objectStorage]\ndefaultBucketID = "from-file"\n')
    monkeypatch.setenv("OBJSTORE_DEFAULT_BUCKET", "from-env")
    monkeypatch.setenv("OBJSTORE_TOKEN", "objstore_env")
    monkeypatch.setenv("OBJSTORE_URL", "https://files.example.org/")
    config = load_config(server=None, token=None, bucket=None, replit_file=replit)
    assert (config.default_bucket, config.token, config.server) == ("from-env", "objstore_env", "https://files.example.org")
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
