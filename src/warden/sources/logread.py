"""Reading log lines from a byte stream, as fail2ban reads a log file.

Lines end at ``\\n``; trailing ``\\r`` are stripped; the last line needs no newline; bytes that
are not valid UTF-8 are replaced (U+FFFD), never fatal. The stream is read in large blocks,
decoded and split a block at a time (in C), which costs far less than a read and a decode per
line; :func:`iter_blocks` hands out whole lists of lines so that not even a generator step is
paid per line. A ``\\n`` byte is never part of a multi-byte sequence, so splitting before or
after decoding gives the same lines: a file can be cut at any line start and read in pieces
(:func:`open_range`).
"""

from __future__ import annotations

import codecs
import io
import os
from collections.abc import Iterator
from itertools import chain
from typing import BinaryIO

__all__ = ["default_jobs", "iter_blocks", "iter_lines", "line_start_after", "open_range"]

_BLOCK = 1 << 20


def _strip_cr(lines: list[str]) -> list[str]:
    return [line.rstrip("\r") if line.endswith("\r") else line for line in lines]


def iter_blocks(stream: BinaryIO, *, encoding: str = "utf-8", close: bool = False,
                block: int = _BLOCK) -> Iterator[list[str]]:
    """Yield the lines of ``stream``, without their line ends, in lists (never empty)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    tail = ""
    try:
        while True:
            chunk = stream.read(block)
            text = tail + decoder.decode(chunk, final=not chunk)
            if not chunk:
                if text:
                    yield [text.rstrip("\r")]
                return
            lines = text.split("\n")
            tail = lines.pop()
            if lines:
                yield _strip_cr(lines) if "\r" in text else lines
    finally:
        if close:
            stream.close()


def iter_lines(stream: BinaryIO, *, encoding: str = "utf-8", close: bool = False,
               block: int = _BLOCK) -> Iterator[str]:
    """Yield the lines of ``stream`` without their line ends."""
    return chain.from_iterable(iter_blocks(stream, encoding=encoding, close=close, block=block))


class _Range(io.RawIOBase):
    """Bytes ``[start, end)`` of a seekable binary file, as a stream of their own."""

    def __init__(self, stream: BinaryIO, start: int, end: int) -> None:
        super().__init__()
        stream.seek(start)
        self._stream = stream
        self._left = end - start

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._left:
            size = self._left
        data = self._stream.read(size) if size else b""
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._stream.close()
        super().close()


def open_range(path: str, start: int, end: int) -> BinaryIO:
    """Bytes ``[start, end)`` of the file ``path``, as a binary stream."""
    return _Range(open(path, "rb"), start, end)  # type: ignore[return-value]


def line_start_after(stream: BinaryIO, offset: int, size: int) -> int:
    """The offset of the first line that starts at or after ``offset`` (``size`` if none)."""
    if offset <= 0:
        return 0
    stream.seek(offset - 1)
    pos = offset - 1
    while pos < size:
        data = stream.read(65536)
        if not data:
            break
        found = data.find(b"\n")
        if found >= 0:
            return min(pos + found + 1, size)
        pos += len(data)
    return size


def default_jobs() -> int:
    """Processes to read one big log with: the CPUs this process may run on (``WARDEN_JOBS``
    overrides)."""
    env = os.environ.get("WARDEN_JOBS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1
