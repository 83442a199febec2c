"""Progress of a long offline read (``warden regex``, ``warden replay``) on a terminal.

One line on stderr, rewritten a few times a second: lines read, the rate and the time left
(from the bytes read of the bytes to read). Only when the stream is a terminal: piped or
redirected, nothing is written and the cost is one test per block.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

__all__ = ["Progress", "metered"]

# lines between two looks at the clock when metering line by line
_EVERY = 4096


class Progress:
    """``label: N lines, R lines/s, ETA S s`` on ``stream`` while it runs (a terminal only)."""

    def __init__(self, label: str, total_bytes: int, stream: TextIO, *,
                 interval: float = 0.25, clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.total = total_bytes
        self.stream = stream
        self.on = stream.isatty()
        self.interval = interval
        self.clock = clock
        self.lines = 0
        self.done = 0
        self.start = clock()
        self._shown = self.start
        self._width = 0

    def add(self, lines: int, size: int) -> None:
        """``lines`` more were read, ``size`` bytes of them."""
        self.lines += lines
        self.done += size
        if not self.on:
            return
        now = self.clock()
        # the first few thousand lines show at once, then a few times a second
        if now - self._shown < self.interval and (self._width or self.lines < _EVERY):
            return
        self._shown = now
        spent = max(now - self.start, 1e-9)
        text = f"{self.label}: {self.lines:,} lines, {self.lines / spent:,.0f} lines/s"
        if self.total and self.done:
            left = max(spent * (self.total - self.done) / self.done, 0.0)
            text += f", ETA {left:.0f} s"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Clear the line (the results follow on stdout)."""
        if self.on and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def metered(lines: Iterable[str], progress: Progress) -> Iterator[str]:
    """``lines`` as they are, told to ``progress`` (a line's bytes taken as its length plus
    its end) every few thousand lines and at the end."""
    count = size = 0
    for line in lines:
        count += 1
        size += len(line) + 1
        if count == _EVERY:
            progress.add(count, size)
            count = size = 0
        yield line
    progress.add(count, size)
