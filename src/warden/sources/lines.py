"""Cutting a byte stream into decoded lines, incrementally.

Bytes arrive in blocks of any size; :meth:`LineSplitter.feed` returns the complete lines they
finish. A block is decoded once (not line by line), a trailing CR is stripped, a partial last
line is held back until its newline arrives, and a line longer than ``max_line`` characters is
cut to that length, its rest skipped, so one endless line can neither stall the reader nor fill
its memory. Invalid bytes become U+FFFD, never an error.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_LINE", "LineSplitter"]

DEFAULT_MAX_LINE = 32768


class LineSplitter:
    """Incremental line splitter for one stream; ``consumed`` counts bytes of lines handed out."""

    __slots__ = ("_encoding", "_held", "_hold_cap", "_max", "_skipping", "consumed")

    def __init__(self, *, encoding: str = "utf-8", max_line: int = DEFAULT_MAX_LINE) -> None:
        if max_line < 1:
            raise ValueError("max_line must be positive")
        self._encoding = encoding
        self._max = max_line
        # the held partial line is cut once it could hold more than max_line characters
        self._hold_cap = max_line * 4
        self._held = b""
        self._skipping = False
        self.consumed = 0

    @property
    def held(self) -> int:
        """Bytes of an incomplete last line not yet handed out."""
        return len(self._held)

    def reset(self) -> None:
        """Forget the held partial line (the file was truncated or replaced)."""
        self._held = b""
        self._skipping = False
        self.consumed = 0

    def feed(self, data: bytes) -> list[str]:
        """Return the lines that ``data`` completes, in order."""
        end = data.rfind(b"\n")
        if end < 0:
            return self._hold(data)
        out: list[str] = []
        start = 0
        if self._skipping:
            # the rest of a line already cut and handed out: drop it up to its newline
            start = data.find(b"\n") + 1
            self._skipping = False
            self.consumed += start
            if start > end:
                return self._hold(data[start:])
        block = self._held + data[start:end] if self._held else data[start:end]
        self.consumed += len(block) + 1  # the held bytes were not counted yet
        self._held = b""
        text = block.decode(self._encoding, "replace")
        lines = text.split("\n")
        if "\r" in text:
            lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
        if max(map(len, lines)) > self._max:
            cap = self._max
            lines = [ln[:cap] if len(ln) > cap else ln for ln in lines]
        out.extend(lines)
        if end + 1 < len(data):
            out.extend(self._hold(data[end + 1:]))
        return out

    def flush(self) -> list[str]:
        """Hand out the held partial line as a line (its file will not grow any more)."""
        if not self._held:
            self._skipping = False
            return []
        held, self._held = self._held, b""
        self.consumed += len(held)
        text = held.decode(self._encoding, "replace")
        if text.endswith("\r"):
            text = text[:-1]
        return [text[: self._max]]

    def _hold(self, data: bytes) -> list[str]:
        if self._skipping:
            self.consumed += len(data)
            return []
        self._held += data
        if len(self._held) <= self._hold_cap:
            return []
        # an endless line: hand out its first max_line characters now, skip the rest
        held, self._held = self._held, b""
        self.consumed += len(held)
        self._skipping = True
        return [held.decode(self._encoding, "replace")[: self._max]]
