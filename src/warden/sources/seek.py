"""Finding where the last ``findtime`` of a log begins, without reading the whole log.

On the first start (no stored position) only the lines of the last findtime matter. Log lines
are in date order, so a binary search over byte offsets, reading one line at each probe, finds
the first line dated at or after ``since`` in a few dozen reads even in a file of gigabytes.
Dates are the caller's business: a ``date_of(line) -> epoch | None`` function (the jail's date
detector); lines without a date are stepped over.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["DateOf", "find_since"]

DateOf = Callable[[str], float | None]

_PROBE = 16384  # bytes read at each probe; a line longer than this is stepped over
_LINEAR = 65536  # below this span the search reads lines one after another


def _dated_line(fd: int, pos: int, limit: int, date_of: DateOf,
                encoding: str) -> tuple[int, int, float] | None:
    """The first dated line starting at or after ``pos`` (a line start), below ``limit``.

    Returns ``(start, end, date)`` where ``end`` is the offset after its newline.
    """
    while pos < limit:
        data = os.pread(fd, _PROBE, pos)
        if not data:
            return None
        nl = data.find(b"\n")
        if nl < 0:
            if len(data) < _PROBE:  # the last line, not finished: no date to trust yet
                return None
            pos += len(data)
            continue
        date = date_of(data[:nl].decode(encoding, "replace").rstrip("\r"))
        if date is not None:
            return pos, pos + nl + 1, date
        pos += nl + 1
    return None


def _next_line_start(fd: int, pos: int, size: int) -> int:
    """The offset of the first line starting at or after ``pos``."""
    if pos == 0:
        return 0
    while pos < size:
        data = os.pread(fd, _PROBE, pos - 1)
        nl = data.find(b"\n")
        if nl >= 0:
            return pos - 1 + nl + 1
        if len(data) < _PROBE:
            return size
        pos += _PROBE - 1
    return size


def find_since(fd: int, since: float, date_of: DateOf, *, size: int | None = None,
               encoding: str = "utf-8") -> int:
    """Offset of the first line of ``fd`` dated ``since`` or later (the size if there is none).

    Assumes dates do not go backwards by much; a log that is not in date order yields some
    offset whose line is at or after ``since``, never an error.
    """
    end = os.fstat(fd).st_size if size is None else size
    lo, hi = 0, end  # the answer is in [lo, hi]; lo is always a line start
    while hi - lo > _LINEAR:
        mid = _next_line_start(fd, (lo + hi) // 2, hi)
        if mid >= hi:
            break  # one line spans the upper half: read on from lo
        found = _dated_line(fd, mid, hi, date_of, encoding)
        if found is None:
            hi = mid  # nothing dated in the upper half: the answer lies in the lower one
        elif found[2] < since:
            lo = found[1]
        else:
            hi = found[0]
    pos = lo
    while pos < end:
        found = _dated_line(fd, pos, end, date_of, encoding)
        if found is None:
            return end
        if found[2] >= since:
            return found[0]
        pos = found[1]
    return end
