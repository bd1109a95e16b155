"""A streaming reader for ``multipart/related`` bodies (GCS multipart uploads).

Django's parser handles ``multipart/form-data`` only. Here the first part is the object's JSON
metadata and the second its bytes, which are handed on in chunks: the body is never held whole.
"""

from email.message import Message
from email.parser import BytesHeaderParser

from ..services import Readable

_READ_SIZE = 1024 * 1024
_MAX_HEADER_BYTES = 16 * 1024


class MultipartError(ValueError):
    pass


class MultipartRelatedReader:
    def __init__(self, stream: Readable, boundary: str) -> None:
        if not boundary:
            raise MultipartError("The multipart body has no boundary.")
        self._stream = stream
        self._delimiter = b"\r\n--" + boundary.encode("latin-1")
        # A leading CRLF lets the first boundary be found like every other one.
        self._buffer = b"\r\n"
        self._eof = False
        self._done = False
        self._skip_to_delimiter()

    def _fill(self) -> bool:
        if self._eof:
            return False
        data = self._stream.read(_READ_SIZE)
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def _skip_to_delimiter(self) -> None:
        while (index := self._buffer.find(self._delimiter)) < 0:
            # Keep a tail that could be the start of the delimiter.
            self._buffer = self._buffer[-(len(self._delimiter) - 1) :]
            if not self._fill():
                raise MultipartError("The multipart body ended before its first boundary.")
        self._buffer = self._buffer[index + len(self._delimiter) :]
        self._after_delimiter()

    def _after_delimiter(self) -> None:
        while len(self._buffer) < 2 and self._fill():
            pass
        if self._buffer.startswith(b"--"):
            self._done = True
            return
        while (index := self._buffer.find(b"\r\n")) < 0:
            if not self._fill():
                raise MultipartError("The multipart body ended inside a boundary line.")
        self._buffer = self._buffer[index + 2 :]

    def next_part(self) -> tuple[Message, "_Part"]:
        if self._done:
            raise MultipartError("The multipart body has fewer parts than expected.")
        while (end := self._buffer.find(b"\r\n\r\n")) < 0 and not self._buffer.startswith(b"\r\n"):
            if len(self._buffer) > _MAX_HEADER_BYTES or not self._fill():
                raise MultipartError("A multipart part has no end to its headers.")
        if self._buffer.startswith(b"\r\n"):
            raw_headers, self._buffer = b"", self._buffer[2:]
        else:
            raw_headers, self._buffer = self._buffer[:end], self._buffer[end + 4 :]
        headers = BytesHeaderParser().parsebytes(raw_headers + b"\r\n\r\n")
        return headers, _Part(self)

    def _read_part(self, size: int) -> bytes:
        """Up to ``size`` bytes of the current part; b"" at its end (then skips the boundary)."""
        keep = len(self._delimiter) - 1
        while True:
            index = self._buffer.find(self._delimiter)
            if index >= 0:
                if index == 0:
                    self._buffer = self._buffer[len(self._delimiter) :]
                    self._after_delimiter()
                    return b""
                take = min(index, size)
            else:
                take = min(len(self._buffer) - keep, size)
            if take > 0:
                data, self._buffer = self._buffer[:take], self._buffer[take:]
                return data
            if not self._fill():
                raise MultipartError("The multipart body ended before its closing boundary.")

    def drain(self) -> None:
        """Read the rest of the body, so the connection can carry the next request."""
        while self._fill():
            self._buffer = self._buffer[-len(self._delimiter) :]


class _Part:
    def __init__(self, reader: MultipartRelatedReader) -> None:
        self._reader = reader
        self._ended = False

    def read(self, size: int = -1, /) -> bytes:
        if self._ended:
            return b""
        data = self._reader._read_part(_READ_SIZE if size is None or size < 0 else size)
        if not data:
            self._ended = True
        return data

    def read_all(self, limit: int) -> bytes:
        chunks, total = [], 0
        while data := self.read(_READ_SIZE):
            total += len(data)
            if total > limit:
                raise MultipartError("The metadata part is too large.")
            chunks.append(data)
        return b"".join(chunks)
