"""Django's SQLite backend, with writers queued instead of sleeping.

SQLite lets one writer in at a time. When a second one finds the database locked, SQLite's
busy handler puts it to sleep for 1, 2, 5, 10 ... 100 ms at a time and tries again, so under
concurrent writes a writer often sleeps long after the lock is free (measured: p99 of a 4 KiB
upload ~450 ms with 8 writers, most of it asleep in usleep). Here a write transaction first takes
a lock of our own: a thread lock inside the process, which wakes the next waiter the moment it
is released, then an flock on a file beside the database between processes (one waiter per
process polls it every 0.5-4 ms). Only then does it run ``BEGIN IMMEDIATE``, which now finds
the database free. The wait in the queue is bounded by the database's ``timeout`` option, after
which the transaction fails with "database is locked", as SQLite itself would.

Writes outside a transaction (autocommit, such as a token's last-used time) skip the queue;
when one holds the database, ``BEGIN IMMEDIATE`` waits for it in SQLite's busy handler, for up
to ``timeout`` again. objstore's writes of any weight run in transactions. Within a process the
queue is first come, first served; between processes a waiter may lose a few rounds to a busy
neighbour, which costs it latency, never its turn for good.
"""

import datetime
import fcntl
import os
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db.backends.sqlite3 import base, operations

_POLL_FIRST, _POLL_MAX = 0.0005, 0.004


class WriterQueue:
    """One database file's writer lock, shared by every connection of this process."""

    _registry: dict[tuple[int, str], "WriterQueue"] = {}
    _registry_lock = threading.Lock()

    def __init__(self, path: str) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @classmethod
    def for_database(cls, database: str) -> "WriterQueue":
        # Keyed by pid as well: an flock belongs to an open file, which a fork would share.
        key = (os.getpid(), str(Path(database).resolve()))
        with cls._registry_lock:
            queue = cls._registry.get(key)
            if queue is None:
                queue = cls._registry[key] = cls(f"{key[1]}.writer-lock")
            return queue

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            return False
        delay = _POLL_FIRST
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._threads.release()
                    return False
                time.sleep(delay)
                delay = min(delay * 2, _POLL_MAX)

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


def _private(database: str) -> None:
    """The database holds session keys and password hashes: mode 0600, like the blobs. SQLite
    gives its -wal and -shm files the database file's mode, so creating it 0600 covers them.

    Never open (and so close) a descriptor of a database that exists: closing any descriptor of
    a file drops every POSIX lock this process holds on it, the locks SQLite's other connections
    rely on, and the database gets corrupted. Only a file that does not exist yet is created.
    """
    try:
        os.close(os.open(database, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass
    except FileNotFoundError:  # its directory is missing: let SQLite report that
        return
    for path in (database, f"{database}-wal", f"{database}-shm"):
        try:
            if os.stat(path).st_mode & 0o077:
                os.chmod(path, 0o600)
        except FileNotFoundError:
            pass


class DatabaseOperations(operations.DatabaseOperations):
    def convert_datetimefield_value(self, value, expression, connection):
        """Django's conversion of a stored datetime, in one step for the text Django writes
        ("2026-12-01 00:35:12.123456", naive UTC): ``fromisoformat`` and the connection's
        zone, instead of parse_datetime's checks and make_aware's. A listing converts three
        of them per row (~0.3 ms of a list of 100 names)."""
        if isinstance(value, str):
            try:
                value = datetime.datetime.fromisoformat(value)
            except ValueError:
                return super().convert_datetimefield_value(value, expression, connection)
        if value is not None and value.tzinfo is None and settings.USE_TZ:
            value = value.replace(tzinfo=self.connection.timezone)
        return value


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    writer_queue: WriterQueue | None = None
    _holds_writer_lock = False
    _writer_timeout = 5.0

    def get_new_connection(self, conn_params):
        database = str(conn_params["database"])
        if not (self.is_in_memory_db() or database.startswith("file:")):
            _private(database)
        connection = super().get_new_connection(conn_params)
        if not (self.is_in_memory_db() or database.startswith("file:")):
            try:
                self.writer_queue = WriterQueue.for_database(database)
            except BaseException:
                connection.close()
                raise
            self._writer_timeout = float(conn_params.get("timeout", 5.0))
        return connection

    def _start_transaction_under_autocommit(self):
        if self.writer_queue is not None and not self._holds_writer_lock:
            with self.wrap_database_errors:
                if not self.writer_queue.acquire(self._writer_timeout):
                    raise base.Database.OperationalError("database is locked")
            self._holds_writer_lock = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _release_writer_lock(self) -> None:
        if self._holds_writer_lock:
            self._holds_writer_lock = False
            self.writer_queue.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer_lock()
