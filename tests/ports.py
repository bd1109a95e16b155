"""Who holds a TCP port, for a test that needs a fixed one (the sidecar's 1106) and finds it
taken: the failure names the process and says how to free the port."""

import errno
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_TIME_WAIT = "06"  # a closed connection's leftover: owned by no process, and no bar to binding


def _command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode("utf-8", errors="replace").strip() or "?"


def holders_from_proc(port: int) -> dict[int, str]:
    """``{pid: command line}`` of the processes with a TCP socket on local ``port``, found by
    matching the socket inodes of /proc/net/tcp{,6} against every process's open files."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] != _TIME_WAIT and fields[9] != "0":
                inodes.add(fields[9])
    if not inodes:
        return {}
    targets = {f"socket:[{inode}]" for inode in inodes}
    holders: dict[int, str] = {}
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            descriptors = list((process / "fd").iterdir())
        except OSError:  # gone meanwhile, or not ours to look at
            continue
        for descriptor in descriptors:
            try:
                if str(descriptor.readlink()) in targets:
                    holders[int(process.name)] = _command_line(int(process.name))
                    break
            except OSError:
                continue
    return holders


def holders_from_ss(port: int) -> dict[int, str] | None:
    """The same through ``ss -ltnp``; None when ss is missing or names no process."""
    ss = shutil.which("ss")
    if ss is None:
        return None
    try:
        listing = subprocess.run(
            [ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    pids = {int(pid) for pid in re.findall(r"pid=(\d+)", listing)}
    return {pid: _command_line(pid) for pid in sorted(pids)} or None


def port_holders(port: int) -> dict[int, str]:
    return holders_from_ss(port) or holders_from_proc(port)


def port_in_use_message(port: int, purpose: str, error: OSError) -> str:
    holders = port_holders(port)
    if holders:
        who = "; ".join(f"pid {pid}: {command}" for pid, command in holders.items())
        how = f"Stop it (`kill {' '.join(str(pid) for pid in holders)}`) and run the tests again."
    else:
        who = "a process this user cannot see"
        how = (
            f"Find it with `ss -ltnp 'sport = :{port}'` (as root) and stop it, then run the "
            "tests again."
        )
    return (
        f"Port {port} on 127.0.0.1 is taken ({error.strerror}), and {purpose} need it. "
        f"It is held by {who}. {how}"
    )


@contextmanager
def explain_port_in_use(port: int, purpose: str) -> Iterator[None]:
    """Turn EADDRINUSE from binding ``port`` into a test failure that names its holder."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        message = port_in_use_message(port, purpose, exc)
        raise pytest.fail.Exception(message, pytrace=False) from None  # what pytest.fail raises
