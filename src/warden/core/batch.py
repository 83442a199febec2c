"""Many lines at once: fail2ban-regex's statistics (:func:`tally`) and the daemon's failures
(:class:`Scanner`), both plain loops over :meth:`Matcher.step
<warden.core.matcher.Matcher.step>` with the dates of a whole block found first.

Each has the same effect on the filter's state as :meth:`Filter.process
<warden.core.filter.Filter.process>` line by line, because it is the same step: the only
difference is that dates are found a block at a time (``Filter.dates_of``), which is how a
:class:`~warden.core.datedetect.DateDetector` finds them fastest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice

from warden.core.datedetect import DateMatch
from warden.core.filter import Failure, Filter
from warden.core.matcher import NOTHING

__all__ = ["Scanner", "Tally", "is_comment", "tally"]

# Lines handled per step (dates are found for a whole block first: see DateDetector.match_all).
_BLOCK = 2048


def is_comment(line: str) -> bool:
    """fail2ban-regex skips blank lines and lines starting with ``#`` (they are not counted)."""
    return not line or line[0] == "#"


class Tally:
    """fail2ban-regex's line statistics, and optionally the matched / missed lines."""

    __slots__ = ("fail_hits", "ignore_hits", "ignored", "lines", "matched", "matched_lines",
                 "missed", "missed_lines")

    def __init__(self, failregexes: int, ignoreregexes: int, *, keep_matched: bool = False,
                 keep_missed: bool = False) -> None:
        self.lines = self.matched = self.ignored = self.missed = 0
        self.fail_hits = [0] * failregexes
        self.ignore_hits = [0] * ignoreregexes
        self.matched_lines: list[str] | None = [] if keep_matched else None
        self.missed_lines: list[str] | None = [] if keep_missed else None

    def add(self, other: Tally) -> None:
        """Add the counts (and listed lines, after ours) of the lines that followed ours."""
        self.lines += other.lines
        self.matched += other.matched
        self.ignored += other.ignored
        self.missed += other.missed
        self.fail_hits = [a + b for a, b in zip(self.fail_hits, other.fail_hits, strict=True)]
        self.ignore_hits = [a + b for a, b in zip(self.ignore_hits, other.ignore_hits,
                                                  strict=True)]
        if self.matched_lines is not None and other.matched_lines is not None:
            self.matched_lines += other.matched_lines
        if self.missed_lines is not None and other.missed_lines is not None:
            self.missed_lines += other.missed_lines

    def counts(self) -> tuple[int, int, int, int]:
        """``(lines, ignored, matched, missed)``."""
        return self.lines, self.ignored, self.matched, self.missed


def tally(flt: Filter, lines: Iterable[str], now: float, into: Tally) -> None:
    """Process ``lines`` (line ends already stripped) with ``flt`` and count them ``into``."""
    step, state, dates_of, maxlen = flt.matcher.step, flt.state, flt.dates_of, flt.max_line_length
    fail_hits, ignore_hits = into.fail_hits, into.ignore_hits
    matched_lines, missed_lines = into.matched_lines, into.missed_lines
    count = matched = ignored = missed = 0
    source = iter(lines)
    try:
        while block := list(islice(source, _BLOCK)):
            raw = [line for line in block if line and line[0] != "#"]
            if not raw:
                continue
            count += len(raw)
            cut = raw if max(map(len, raw)) <= maxlen else [line[:maxlen] for line in raw]
            for orig, line, date in zip(raw, cut, dates_of(cut, now), strict=True):
                result = step(state, line, date, now)
                if result is NOTHING:
                    missed += 1
                    if missed_lines is not None:
                        missed_lines.append(orig)
                    continue
                _, failregex, ignoreregex, failed = result
                if failregex is not None:
                    fail_hits[failregex] += 1
                if ignoreregex is not None:
                    ignore_hits[ignoreregex] += 1
                    ignored += 1
                elif failed:
                    matched += 1
                    if matched_lines is not None:
                        matched_lines.append(orig)
                elif failregex is not None:
                    ignored += 1  # <F-NOFAIL>, or a session waiting for its host
                else:
                    missed += 1
                    if missed_lines is not None:
                        missed_lines.append(orig)
    finally:
        into.lines += count
        into.matched += matched
        into.ignored += ignored
        into.missed += missed


class Scanner:
    """One filter's failures for whole batches of lines (the daemon's read blocks), and how
    many of the lines it matched (``matched``: a failure; ``ignored``: an ignoreregex
    dropped it, or it is no failure by itself), as ``warden regex`` counts them."""

    __slots__ = ("filter", "ignored", "matched")

    def __init__(self, flt: Filter) -> None:
        self.filter = flt
        self.matched = self.ignored = 0

    def scan(self, lines: Sequence[str], now: float) -> list[tuple[int, Failure]]:
        """The failures found in ``lines`` (line ends may be attached), each with the index of
        its line, in order: what :meth:`Filter.process` line by line finds."""
        flt = self.filter
        if not lines:
            return []
        cut = ([flt.clean(line) for line in lines]
               if _needs_cleaning(lines, flt.max_line_length) else list(lines))
        return self.scan_dated(cut, flt.dates_of(cut, now), now)

    def scan_dated(self, cut: Sequence[str], dates: Sequence[DateMatch | None], now: float
                   ) -> list[tuple[int, Failure]]:
        """:meth:`scan` of lines already cleaned (``Filter.clean``) whose dates were found
        (``Filter.dates_of``), for a driver that shares them with another filter."""
        step, state, nothing = self.filter.matcher.step, self.filter.state, NOTHING
        out: list[tuple[int, Failure]] = []
        hit = 0
        failed = 0
        for i, (line, found) in enumerate(zip(cut, dates, strict=True)):
            result = step(state, line, found, now)
            if result is not nothing:
                hit += 1
                failures = result.failures
                if failures:  # (an ignored line has none)
                    failed += 1
                    out.extend((i, failure) for failure in failures)
        self.matched += failed
        self.ignored += hit - failed
        return out


def _needs_cleaning(lines: Sequence[str], limit: int) -> bool:
    # sources hand out lines without their ends and already cut: usually nothing to do
    return max(map(len, lines)) > limit or any(
        line.endswith(("\n", "\r")) for line in lines)
