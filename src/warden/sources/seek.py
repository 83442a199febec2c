"""Finding where the last ``findtime`` of a log begins, without reading the whole log.

On the first start (no stored position) only the lines of the last findtime matter. Log lines
are in date order, so a binary search over byte offsets, reading a few lines at each probe,
finds the first line dated at or after ``since`` in a few dozen small reads even in a file of
gigabytes. Dates are the caller's business: a ``date_of(line) -> epoch | None`` function (the
jail's date detector); lines without a date are stepped over. A date is looked for in the first
``_PROBE`` bytes of a line, so a huge line costs one read, not its length.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from warden.core.datedetect import DateDetector

__all__ = ["DateOf", "dates_from", "find_since"]

DateOf = Callable[[str], float | None]


def dates_from(detector: DateDetector, now: float) -> DateOf:
    """A ``date_of`` function from a jail's date detector (dates completed relative to ``now``)."""

    def date_of(line: str) -> float | None:
        found = detector.match(line, now)
        return None if found is None else found.time

    return date_of


_PROBE = 8192  # bytes read at once; a line's date must lie within its first _PROBE bytes
_LINEAR = 65536  # below this span the search reads lines one after another


def _line_end(fd: int, pos: int) -> int:
    """The offset after the next newline at or after ``pos`` (the file's size if none)."""
    step = 4096  # lines are short; grow the reads only for a long one
    while True:
        data = os.pread(fd, step, pos)
        nl = data.find(b"\n")
        if nl >= 0:
            return pos + nl + 1
        if not data:
            return pos
        pos += len(data)
        step = min(step * 4, 1 << 20)


def _lines(fd: int, pos: int, limit: int) -> Iterator[tuple[int, int, bytes]]:
    """``(start, end, first bytes)`` of each line starting at ``pos`` (a line start) up to
    ``limit``; the unfinished last line of the file counts as a line."""
    base, buf = pos, os.pread(fd, _PROBE, pos)
    while pos < limit:
        i = pos - base
        nl = buf.find(b"\n", i)
        if nl >= 0:
            yield pos, base + nl + 1, buf[i:nl]
            pos = base + nl + 1
            continue
        if len(buf) - i >= _PROBE:  # a long line: its start is enough, skip to its end
            end = _line_end(fd, base + len(buf))
            yield pos, end, buf[i:i + _PROBE]
            pos = end
            base, buf = pos, os.pread(fd, _PROBE, pos)
            continue
        more = os.pread(fd, _PROBE, base + len(buf))
        if not more:
            if i < len(buf):
                yield pos, base + len(buf), buf[i:]
            return
        base, buf = pos, buf[i:] + more


def _dated_line(fd: int, pos: int, limit: int, date_of: DateOf,
                encoding: str) -> tuple[int, int, float] | None:
    """The first dated line starting at or after ``pos`` (a line start), below ``limit``."""
    for start, end, head in _lines(fd, pos, limit):
        date = date_of(head.decode(encoding, "replace").rstrip("\r"))
        if date is not None:
            return start, end, date
    return None


def find_since(fd: int, since: float, date_of: DateOf, *, size: int | None = None,
               encoding: str = "utf-8") -> int:
    """Offset of the first line of ``fd`` dated ``since`` or later (the size if there is none).

    Assumes dates do not go backwards by much; a log that is not in date order yields some
    offset whose line is at or after ``since``, never an error.
    """
    end = os.fstat(fd).st_size if size is None else size
    lo, hi = 0, end  # the answer is in [lo, hi]; lo is always a line start
    while hi - lo > _LINEAR:
        mid = _line_end(fd, (lo + hi) // 2 - 1)
        if mid >= hi:
            break  # one line spans the upper half: read on from lo
        found = _dated_line(fd, mid, hi, date_of, encoding)
        if found is None:
            hi = mid  # nothing dated in the upper half: the answer lies in the lower one
        elif found[2] < since:
            lo = found[1]
        else:
            hi = found[0]
    for start, _, head in _lines(fd, lo, end):
        date = date_of(head.decode(encoding, "replace").rstrip("\r"))
        if date is not None and date >= since:
            return start
    return end
