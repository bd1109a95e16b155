"""objstore's gunicorn worker: gunicorn's gthread worker with less work per kept-alive request.

gthread hands every request twice between threads: the main thread sees the connection
readable and submits it to the pool; when the pool thread is done, it writes a byte to a pipe
so that the main thread wakes up again, only to put the connection back in its poller. Each
pass through the main loop also touches the heartbeat file (a ``utime`` call). For a small API
call that bookkeeping costs about as much CPU as the request itself.

Here the pool thread puts a kept-alive connection back in the poller itself (epoll may be
changed from any thread, and the poller's map and the keep-alive queue only change under the
GIL), and the heartbeat is touched at most once a second (the master's timeout is counted in
tens of seconds). Everything else (refusing, closing, slow clients parked as pending, shutdown)
still goes through gthread's own ``finish_request`` on the main thread.

It relies on gthread internals, so requirements.txt pins gunicorn; tests/test_workers.py
drives the cases (keep-alive, pipelining, closing, slow clients, shutdown) through it.
"""

import selectors
import time
from concurrent import futures
from functools import partial

from gunicorn.workers import gthread

# How often, at most, the worker touches its heartbeat file. The master kills a worker whose
# file is older than the timeout (OBJSTORE_WORKER_TIMEOUT, 120 s by default).
HEARTBEAT_EVERY = 1.0


class ThreadWorker(gthread.ThreadWorker):
    _last_notify = 0.0

    def notify(self):
        now = time.monotonic()
        if now - self._last_notify >= HEARTBEAT_EVERY:
            self._last_notify = now
            super().notify()

    def enqueue_req(self, conn):
        self.tpool.submit(self._serve, conn)

    def _serve(self, conn):
        """Runs in a pool thread: answer a request, then park the connection for the next one
        or hand it back to the main thread."""
        try:
            result = self.handle(conn)
        except BaseException:  # handle() catches everything it expects; be safe anyway
            result = False
        if result and result is not gthread._DEFER and self._park(conn):
            return
        done = futures.Future()
        done.set_result(result)
        self.method_queue.defer(self.finish_request, conn, done)

    def _park(self, conn) -> bool:
        """Put a kept-alive connection back in the poller, as ``finish_request`` would; False
        when that is for the main thread to decide (stopping, or bytes of the next request
        already read)."""
        if not self.alive or conn.parser.unreader.buf.getvalue():
            return False
        conn.sock.setblocking(False)
        conn.set_timeout()
        self.keepalived_conns.append(conn)
        try:
            self.poller.register(
                conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn)
            )
        except (OSError, ValueError, KeyError):
            # The poller is closing (the worker stops): finish_request closes the connection.
            try:
                self.keepalived_conns.remove(conn)
            except ValueError:
                pass
            conn.sock.setblocking(True)
            return False
        return True
