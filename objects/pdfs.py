"""PDF previews: a PDF's pages shown on its Details page as images.

Chromium's PDF viewer does not run in a sandboxed response, and serving a PDF unsandboxed would
let its scripts run on our origin, so the server renders the pages itself: each is a WebP
image, ``WIDTH`` pixels wide, that runs nothing. PDFium parses the file in a child process of
its own (objects/pdf_worker.py: no environment, limited CPU time and memory, no file writes or
new processes, a wall-clock ``TIMEOUT``), started per request; it reads the file where it
lies on local disk, or a copy spooled to a temporary file from a cloud backend. PDFs over
``PDF_LIMIT`` have no preview.
"""

import os
import signal
import stat
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from objstore_site.slots import Slots

from . import services
from .models import ObjectData
from .pdf_worker import NO_PAGE

PDF_LIMIT = 100 * 1024 * 1024
WIDTH = 1000  # pixels: sharp at the preview's width on most screens, ~100-300 KB a page
TIMEOUT = 20  # seconds, wall clock (the worker's CPU limit is 10 s)
TYPES = frozenset({"application/pdf", "application/x-pdf"})
_WORKER = Path(__file__).with_name("pdf_worker.py")


class Unreadable(Exception):
    """Not a PDF PDFium can open (damaged, password-protected), or it took too long."""


class NoPage(Exception):
    """The PDF has no page of that number."""


# A render costs a process (~15-40 MB) and up to 10 s of CPU: two at once in each worker
# process, whatever the number of its threads; a few more wait up to 2 s, others get Busy.
SLOTS = Slots(2, wait=2)


def is_pdf(content_type: str, name: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind in TYPES or (kind == "application/octet-stream" and name.lower().endswith(".pdf"))


def page_count(obj: ObjectData) -> int:
    """How many pages ``obj`` has. Raises Unreadable, or services.BlobMissing."""
    return _run(obj, 0)[0]


def render_page(obj: ObjectData, page: int) -> bytes:
    """Page ``page`` (from 1) of ``obj`` as WebP. Raises Unreadable, NoPage, BlobMissing."""
    return _run(obj, page)[1]


def _run(obj: ObjectData, page: int) -> tuple[int, bytes]:
    if obj.size > PDF_LIMIT:
        raise Unreadable
    with SLOTS.held():  # or objstore_site.slots.Busy
        return _render(obj, page)


def _render(obj: ObjectData, page: int) -> tuple[int, bytes]:
    with services.object_open(obj) as handle, _descriptor(handle) as fd:
        # A session of its own: on a timeout, or once it is done, its whole process group is
        # killed (RLIMIT_NPROC stops a child from forking only when the server is not root).
        child = subprocess.Popen(
            [sys.executable, "-I", str(_WORKER), str(fd), str(page), str(WIDTH)],
            pass_fds=(fd,),
            env={},  # none of the server's settings
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            output, _ = child.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Unreadable from None
        finally:
            _kill_group(child)
    if child.returncode == NO_PAGE:
        raise NoPage
    count, newline, image = output.partition(b"\n")
    if child.returncode != 0 or not newline or not count.isdigit():
        raise Unreadable  # pdf_worker.UNREADABLE, or killed by its limits
    return int(count), image


def _kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # gone already
    child.wait()


@contextmanager
def _descriptor(handle):
    """A descriptor of a regular file holding the handle's bytes: its own on local disk."""
    try:
        fd = handle.fileno()
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except (AttributeError, OSError):  # io.UnsupportedOperation is an OSError
        regular = False
    if regular:
        yield fd
        return
    with tempfile.TemporaryFile() as copy:
        while chunk := handle.read(services.CHUNK_SIZE):
            copy.write(chunk)
        copy.flush()
        yield copy.fileno()
