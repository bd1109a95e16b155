"""The message a test gets when a fixed port it needs (the sidecar's 1106) is taken."""

import os
import shutil
import socket

import pytest

from objects.sidecar import SidecarConfig, make_server

from .ports import explain_port_in_use, holders_from_proc, holders_from_ss, port_holders


@pytest.fixture
def taken_port():
    """A port this process listens on, as a stray sidecar would."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_the_holder_is_found_in_proc(taken_port):
    holders = holders_from_proc(taken_port)
    assert list(holders) == [os.getpid()]
    assert "pytest" in holders[os.getpid()] or "python" in holders[os.getpid()]


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss is not installed")
def test_ss_finds_the_same_holder(taken_port):
    assert holders_from_ss(taken_port) == holders_from_proc(taken_port)


def test_a_free_port_has_no_holder():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, then closed: nobody holds it
    assert port_holders(port) == {}


def test_binding_a_taken_port_fails_with_its_holder_and_how_to_free_it(taken_port):
    config = SidecarConfig(server="http://127.0.0.1:1", token="t", default_bucket="b")
    with pytest.raises(pytest.fail.Exception) as failure:
        with explain_port_in_use(taken_port, "the sidecar tests"):
            make_server(config, port=taken_port)
    message = str(failure.value)
    assert f"Port {taken_port} on 127.0.0.1 is taken" in message
    assert f"pid {os.getpid()}: " in message and f"kill {os.getpid()}" in message
    assert "the sidecar tests need it" in message


def test_other_errors_pass_through():
    with pytest.raises(PermissionError), explain_port_in_use(1106, "the sidecar tests"):
        raise PermissionError("not a port problem")
