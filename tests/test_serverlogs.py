"""A failed test's report carries the tail of the log of each app server it used."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from . import serverlogs

ROOT = Path(__file__).resolve().parents[1]


def test_the_tail_is_the_last_200_lines(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {number}\n" for number in range(1000)))
    tail = serverlogs.log_tail(log).splitlines()
    assert tail == [f"line {number}" for number in range(800, 1000)]
    assert "cannot read" in serverlogs.log_tail(tmp_path / "missing.log")


def test_servers_of_a_test_are_its_fixtures_and_those_it_started(tmp_path, monkeypatch):
    monkeypatch.setattr(serverlogs, "STARTED", [])
    session, pair_a, pair_b, own = (
        SimpleNamespace(url=f"http://127.0.0.1:{port}", log=tmp_path / f"{port}.log")
        for port in (1, 2, 3, 4)
    )
    for server in (session, pair_a, pair_b):
        serverlogs.register(server)
    since = len(serverlogs.STARTED)
    serverlogs.register(own)
    found = serverlogs.servers_of([session, "token", (pair_a, pair_b), None], since)
    assert found == [session, pair_a, pair_b, own]
    assert serverlogs.servers_of(["token"], since) == [own]


def test_a_failing_test_shows_the_log_under_its_failure():
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/serverlog_probe.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout
    assert completed.returncode == 1, output + completed.stderr
    assert "the probe fails on purpose" in output
    assert "gunicorn http://127.0.0.1:9: last 200 lines of its stdout/stderr log" in output
    assert "log line 800\n" in output and "log line 999\n" in output
    assert "log line 799\n" not in output
