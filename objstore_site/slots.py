"""Bounds on costly work per worker process: password hashing, thumbnails, PDF pages.

A gunicorn worker runs many threads; a few kinds of request cost far more CPU or memory than
the rest. ``Slots`` lets ``size`` of them run at once in the process and ``waiting_per_slot``
more wait for each slot, each for at most ``wait`` seconds: past that, or with every waiting
place taken (a thread that waits is one the others lack), the request is refused at once with
``Busy``, which the caller turns into its own answer (a form error, a 503).
"""

import threading
from contextlib import contextmanager


class Busy(Exception):
    """Every slot stayed taken for the wait, or too many requests were waiting already."""


class Slots:
    def __init__(self, size: int, *, wait: float, waiting_per_slot: int = 3) -> None:
        self.size, self.wait = size, wait
        self.slots = threading.BoundedSemaphore(size)
        self.places = threading.BoundedSemaphore(size * (1 + waiting_per_slot))

    @contextmanager
    def held(self, wait: float | None = None):
        """Holds a slot while the block runs; raises Busy instead of waiting too long or too
        many."""
        if not self.places.acquire(blocking=False):
            raise Busy
        try:
            if not self.slots.acquire(timeout=self.wait if wait is None else wait):
                raise Busy
            try:
                yield
            finally:
                self.slots.release()
        finally:
            self.places.release()
