"""One filter instance: its :class:`~warden.core.matcher.Matcher`, date detector and state.

Feed every line of a log, in order, to one :class:`Filter` with :meth:`Filter.process`; it
returns a :class:`LineResult` with the failures found on that line. The matching itself is
:meth:`Matcher.step <warden.core.matcher.Matcher.step>` (see :mod:`warden.core.matcher` for
fail2ban's order of steps); this module adds what a driver needs around it: cleaning a line
(line end, ``max_line_length``), finding its date, and the state between lines (the last
date, the ``maxlines`` buffer and the ``<F-MLFID>`` sessions) as one comparable value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from warden.core.datedetect import DateDetector, DateMatch
from warden.core.failregex import FilterRegex
from warden.core.filterdef import FilterDefinition
from warden.core.matcher import Failure, FilterState, LineResult, Matcher

__all__ = ["DateSource", "Failure", "Filter", "LineResult"]

_EOL = ("\n", "\r")


class DateSource(Protocol):
    """What the filter needs of a date detector (``warden.core.datedetect.DateDetector``)."""

    def match(self, line: str, now: float) -> DateMatch | None:
        """The date found in ``line``, or ``None``."""


class Filter:
    """One filter instance: the compiled matcher, its date source and its state."""

    __slots__ = ("_dates", "definition", "journal", "matcher", "max_line_length", "state",
                 "success")

    def __init__(self, definition: FilterDefinition, *, dates: DateSource | None = None,
                 journal: bool = False, max_line_length: int = 8192,
                 details: bool = True, matcher: Matcher | None = None) -> None:
        """Compile ``definition`` (or take ``matcher``, built from it); raise
        :class:`~warden.errors.RegexError` for the first bad regex.

        ``dates`` finds dates in lines; by default a :class:`DateDetector` for the filter's
        ``datepattern`` and ``logtimezone``.  With ``journal=True`` there is no date detection
        and every line's time is ``now``.  Lines are cut to ``max_line_length`` characters
        before anything else looks at them. ``details=False``: failures are counted, not
        built (``LineResult.found``; see :class:`Matcher`).
        """
        self.matcher = (matcher if matcher is not None
                        else Matcher(definition, journal=journal, details=details))
        if dates is None and not journal:
            dates = DateDetector(definition.datepattern, default_tz=definition.logtimezone)
        self.definition = definition
        self.journal = journal
        self.max_line_length = max_line_length
        self._dates = None if journal else dates
        #: what this filter carries from line to line (updated by ``matcher.step``)
        self.state = FilterState()
        #: the filter of this one's success lines (``successregex``), when a driver runs it
        #: beside this one with this one's dates (``core.batch.tally``); its state is part
        #: of this one's :meth:`decisive_state`
        self.success: Filter | None = None

    @property
    def failregexes(self) -> tuple[FilterRegex, ...]:
        """The compiled failregexes, in order."""
        return self.matcher.failregexes

    @property
    def ignoreregexes(self) -> tuple[FilterRegex, ...]:
        """The compiled ignoreregexes, in order."""
        return self.matcher.ignoreregexes

    @property
    def dates(self) -> DateSource | None:
        """The date source (None in journal mode)."""
        return self._dates

    def decisive_state(self) -> tuple[object, ...] | None:
        """The filter's state between lines, as a comparable value; None if its date source
        cannot tell its own (only a :class:`DateDetector` can).

        Two filters of one definition with equal decisive states give identical results on the
        same lines, provided neither date detector moves a template (``reorders``) meanwhile.
        """
        dates = self._dates
        if dates is not None and not isinstance(dates, DateDetector):
            return None
        success = None if self.success is None else self.success.state.snapshot()
        return (None if dates is None else dates.decisive_state(), success,
                *self.state.snapshot())

    def restore(self, state: tuple[object, ...], counts: list[tuple[int, float]]) -> None:
        """Take over the :meth:`decisive_state` of a filter of the same definition, and the
        date template statistics ``counts`` (see ``DateDetector.hit_counts``)."""
        dates_state, success, *mine = state
        if isinstance(self._dates, DateDetector):
            assert isinstance(dates_state, tuple)
            self._dates.restore(dates_state, counts)
        if self.success is not None:
            self.success.state.load(success)  # type: ignore[arg-type]
        self.state.load(tuple(mine))  # type: ignore[arg-type]

    def clean(self, line: str) -> str:
        """``line`` as the filter sees it: line end stripped, cut to ``max_line_length``."""
        if line.endswith(_EOL):
            line = line.rstrip("\r\n")
        if len(line) > self.max_line_length:
            line = line[: self.max_line_length]
        return line

    def dates_of(self, lines: list[str], now: float) -> Sequence[DateMatch | None]:
        """The dates of ``lines`` (each ``clean``), in order: what the date source finds
        matching them one by one, with the same effect on it (a :class:`DateDetector` does
        a block at once). Journal filters find none."""
        dates = self._dates
        if dates is None:
            return [None] * len(lines)
        if isinstance(dates, DateDetector):
            return dates.match_all(lines, now)
        return [dates.match(line, now) for line in lines]

    def process(self, line: str, now: float) -> LineResult:
        """Process the next log line (its line end may still be attached)."""
        line = self.clean(line)
        dates = self._dates
        return self.matcher.step(self.state, line,
                                 None if dates is None else dates.match(line, now), now)

    def process_dated(self, line: str, found: DateMatch | None, now: float) -> LineResult:
        """Process the next line whose date was already looked up (``found``).

        For callers that share one date lookup among the filters of a file: ``line`` must be
        ``clean(line)`` and ``found`` what this filter's date source says about it.
        """
        return self.matcher.step(self.state, line, found, now)
