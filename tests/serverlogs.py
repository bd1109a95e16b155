"""The app servers the tests start, so that a failing test's report can show their logs.

``tests/api/conftest.py``'s ``start_server`` registers every gunicorn it starts; the hook in
``tests/conftest.py`` adds the tail of each one a failed test used (through a fixture, or
started while it ran) to that test's report.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

TAIL_LINES = 200
_TAIL_BYTES = 512 * 1024  # enough for 200 lines of any log line gunicorn or objstore writes


class LoggedServer(Protocol):
    url: str
    log: Path


STARTED: list[LoggedServer] = []


def register(server: LoggedServer) -> None:
    STARTED.append(server)


def servers_of(values: Iterable[object], since: int) -> list[LoggedServer]:
    """The registered servers among ``values`` (a test's fixture values), then every server
    registered from index ``since`` on (those the test started), each once."""
    found: list[LoggedServer] = []
    for value in values:
        for candidate in value if isinstance(value, tuple | list) else (value,):
            if any(candidate is server for server in STARTED):
                found.append(candidate)
    for server in STARTED[since:]:
        if not any(server is seen for seen in found):
            found.append(server)
    return found


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - _TAIL_BYTES))
            data = handle.read()
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    text = data.decode("utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join(text) if text else "(the log is empty)"


def report_sections(servers: list[LoggedServer]) -> list[tuple[str, str]]:
    # "stdout", "stderr" and "log" in the title: pytest's --show-capture shows it for each.
    return [
        (
            f"gunicorn {server.url}: last {TAIL_LINES} lines of its stdout/stderr log "
            f"({server.log})",
            log_tail(server.log),
        )
        for server in servers
    ]
