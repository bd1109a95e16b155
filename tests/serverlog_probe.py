"""Run only by tests/test_serverlogs.py, in a pytest of its own (the name keeps it out of the
suite): a test that fails while a server it started is registered."""

from types import SimpleNamespace

from . import serverlogs


def test_fails_while_its_server_runs(tmp_path):
    log = tmp_path / "gunicorn.log"
    log.write_text("".join(f"log line {number}\n" for number in range(1000)))
    serverlogs.register(SimpleNamespace(url="http://127.0.0.1:9", log=log))
    raise AssertionError("the probe fails on purpose")
