"""Decompressive downloads: gzip-encoded objects served decoded to clients that cannot gunzip.

Budget: memory per download is constant whatever the compression ratio. A 1 MB object of 1 GiB
of zeros once raised a worker from ~110 MB to 2.2 GB, because one ``decompress()`` call returned
everything its input expanded to. Here each call is capped at ``OUT_CHUNK`` bytes of output and
the compressed bytes not yet decoded wait in zlib's ``unconsumed_tail``; at most ``IN_CHUNK``
compressed and ``OUT_CHUNK`` decompressed bytes are held at a time.
"""

import zlib
from collections.abc import Iterator
from typing import IO

IN_CHUNK = 64 * 1024
OUT_CHUNK = 1024 * 1024


class NotGzip(ValueError):
    """The stored bytes are not a gzip stream, although the object says so."""


def gunzip_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """The decompressed bytes of ``handle``, in pieces of at most OUT_CHUNK bytes.

    Raises NotGzip when the stream is not gzip (at the first piece, for a wrong header; later,
    for a stream that turns out damaged). Bytes after the end of the first gzip member are
    ignored, as most decoders do. Does not close ``handle``.
    """
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""
    while not decompressor.eof:
        if not pending:
            pending = handle.read(IN_CHUNK)
            if not pending:
                break
        try:
            piece = decompressor.decompress(pending, OUT_CHUNK)
        except zlib.error as exc:
            raise NotGzip(str(exc)) from None
        pending = decompressor.unconsumed_tail
        if piece:
            yield piece
    if not decompressor.eof:
        raise NotGzip("the gzip stream ends early")
