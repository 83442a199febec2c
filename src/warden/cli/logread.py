"""Reading log lines from a byte stream, as fail2ban reads a log file.

Lines end at ``\\n``; a trailing ``\\r`` is stripped; the last line needs no newline; bytes
that are not valid UTF-8 are replaced (U+FFFD), never fatal. The stream is read in large
blocks and decoded a block at a time, which costs far less than a read and a decode per line.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO

__all__ = ["iter_lines"]

_BLOCK = 1 << 20


def iter_lines(stream: BinaryIO, *, encoding: str = "utf-8", close: bool = False,
               block: int = _BLOCK) -> Iterator[str]:
    """Yield the lines of ``stream`` without their line ends."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    tail = ""
    try:
        while True:
            chunk = stream.read(block)
            text = tail + decoder.decode(chunk, final=not chunk)
            if not chunk:
                if text:
                    yield text.rstrip("\r")
                return
            lines = text.split("\n")
            tail = lines.pop()
            for line in lines:
                yield line.rstrip("\r") if line.endswith("\r") else line
    finally:
        if close:
            stream.close()
