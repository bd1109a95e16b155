"""Reads one PDF in a process of its own, for objects/pdfs.py (which imports only its exit
statuses: nothing here runs on import).

A PDF is a program of sorts, and any user can upload one, so PDFium (pypdfium2) parses it here,
in a child process started per request with ``python -I``, an empty environment and limits on
its own CPU time, address space, file writes and (unless it runs as root) processes: a PDF that
is slow, huge or crafted to crash the parser costs this process, never a server worker. It is
not a sandbox against an exploit of PDFium itself: the process runs as the server's user, with
its file system and network (run the server as a user of its own, not root).

    python -I pdf_worker.py FD PAGE WIDTH

FD is an open, readable descriptor of the PDF (inherited). Writes the page count and a
newline to stdout, then, when PAGE > 0, page PAGE (from 1) rendered WIDTH pixels wide as WebP.
Exit status 0, or UNREADABLE (damaged, encrypted, not a PDF) or NO_PAGE.
"""

import os
import resource
import sys

UNREADABLE = 3
NO_PAGE = 4

CPU_SECONDS = 10
ADDRESS_SPACE = 2 * 1024**3
MAX_HEIGHT = 4000  # pixels: a very tall page is rendered narrower than WIDTH


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # No processes (or threads) of its own; root is exempt (objects/pdfs.py kills its group).
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def main(fd: int, page: int, width: int) -> int:
    _limit()
    import pypdfium2

    try:
        # Read through the descriptor itself: its path may be a deleted file (a blob replaced
        # meanwhile, or the spooled copy).
        document = pypdfium2.PdfDocument(os.fdopen(fd, "rb"))
    except pypdfium2.PdfiumError:
        return UNREADABLE
    count = len(document)
    out = sys.stdout.buffer
    out.write(b"%d\n" % count)
    if page <= 0:
        return 0
    if page > count:
        return NO_PAGE
    sheet = document[page - 1]
    points_wide, points_high = sheet.get_size()
    if points_wide <= 0 or points_high <= 0:
        return UNREADABLE
    scale = min(width / points_wide, MAX_HEIGHT / points_high, 8.0)
    image = sheet.render(scale=scale, may_draw_forms=True).to_pil()
    image.save(out, "WEBP", quality=85, method=4)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
