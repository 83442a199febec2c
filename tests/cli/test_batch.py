"""``core.batch.tally`` counts exactly what ``Filter.process`` line by line gives, with the same
effect on the filter's state. Both drive the one ``Matcher.step``; what these tests check is
the driver: dates found a block at a time, comments skipped, long lines cut, the counting."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli.crafted import (
    MULTI_LINE,
    SSHD_FAST,
    SSHD_LIKE,
    START,
    multi_log,
    sshd_log,
    write_filter,
)
from warden.cli.regex import resolve_filter
from warden.core.batch import Tally, is_comment, tally
from warden.core.datedetect import DateDetector
from warden.core.filter import Filter
from warden.core.filterdef import FilterDefinition
from warden.core.prefilter import text_screen
from warden.sources.logread import iter_lines

NOW = START + 1500


def _by_process(flt: Filter, lines: list[str], now: float) -> Tally:
    t = Tally(len(flt.failregexes), len(flt.ignoreregexes), keep_matched=True,
              keep_missed=True)
    for line in lines:
        if is_comment(line):
            continue
        t.lines += 1
        r = flt.process(line, now)
        if r.failregex is not None:
            t.fail_hits[r.failregex] += 1
        if r.ignoreregex is not None:
            t.ignore_hits[r.ignoreregex] += 1
        if r.ignoreregex is not None or (r.failregex is not None and not r.failures):
            t.ignored += 1
        elif r.failures:
            t.matched += 1
            assert t.matched_lines is not None
            t.matched_lines.append(line)
        else:
            t.missed += 1
            assert t.missed_lines is not None
            t.missed_lines.append(line)
    return t


def _same(definition: FilterDefinition, lines: list[str], now: float, **kw: object) -> None:
    def fresh(**more: object) -> Filter:
        dates = DateDetector(definition.datepattern, default_tz=definition.logtimezone, now=now)
        return Filter(definition, dates=dates, **kw, **more)  # type: ignore[arg-type]

    # details=False (what `warden regex` counts with) skips building failures, nothing else
    for details in (True, False):
        one, other = fresh(), fresh(details=details)
        want = _by_process(one, lines, now)
        got = Tally(len(other.failregexes), len(other.ignoreregexes), keep_matched=True,
                    keep_missed=True)
        tally(other, lines, now, got)
        assert got.counts() == want.counts()
        assert (got.fail_hits, got.ignore_hits) == (want.fail_hits, want.ignore_hits)
        assert (got.matched_lines, got.missed_lines) == (want.matched_lines, want.missed_lines)
        assert other.decisive_state() == one.decisive_state()
        assert isinstance(one.dates, DateDetector) and isinstance(other.dates, DateDetector)
        assert one.dates.hits() == other.dates.hits()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("now", [NOW, NOW + 10 * 86400])
@pytest.mark.parametrize("text", [SSHD_LIKE, SSHD_FAST], ids=["generic", "fast"])
def test_single_line_loop_equals_process(tmp_path: Path, seed: int, now: float,
                                         text: str) -> None:
    definition = resolve_filter(str(write_filter(tmp_path, "s", text)), tmp_path)
    lines = list(iter_lines(_stream(sshd_log(seed, 3000))))
    _same(definition, lines, now)
    _same(definition, lines, now, max_line_length=60)


def test_generic_paths_equal_process(tmp_path: Path) -> None:
    multi = resolve_filter(str(write_filter(tmp_path, "m", MULTI_LINE)), tmp_path)
    _same(multi, list(iter_lines(_stream(multi_log(1, 2000)))), NOW)
    # Many ignoreregexes: they run before the failregexes (fail2ban's order).
    early = FilterDefinition(name="e", failregex=("^x <HOST>$", "^y <HOST>$", "^z <HOST>$",
                                                  "^w <HOST>$"), ignoreregex=("^x 192",))
    lines = [f"Jan  1 00:00:0{i % 10} {c} 192.0.2.{i}" for i, c in enumerate("xyzwq" * 20)]
    _same(early, lines, NOW)


@pytest.mark.parametrize("details", [True, False])
def test_journal_mode_counts(details: bool) -> None:
    definition = FilterDefinition(name="j", failregex=("^x <HOST>$",))
    flt = Filter(definition, journal=True, details=details)
    t = Tally(1, 0)
    tally(flt, ["x 192.0.2.1", "", "#c", "y"], NOW, t)
    assert t.counts() == (2, 0, 1, 1)


def test_counting_filter_reports_failures_by_count() -> None:
    definition = FilterDefinition(name="c", failregex=("^x <HOST>$",))
    full, counting = Filter(definition, journal=True), Filter(definition, journal=True,
                                                                details=False)
    detailed, counted = full.process("x 192.0.2.1", NOW), counting.process("x 192.0.2.1", NOW)
    assert (detailed.found, len(detailed.failures), detailed.failregex) == (1, 1, 0)
    assert (counted.found, counted.failures, counted.failregex) == (1, (), 0)


def _stream(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("now", [NOW, NOW + 86400 * 200])
def test_match_all_equals_match(seed: int, now: float) -> None:
    lines = list(iter_lines(_stream(sshd_log(seed, 3000))))
    # Runs of syslog stamps broken by other formats, odd seconds, years and fractions.
    lines[10:10] = ["Jan  1 00:00:60 x", "Jan  1 00:00:01 2026 x", "Jan  1 00:00:01.5 x",
                    "Jan  1 00:00:01", "Jan  1 00:00:0", "Thu Jan  1 00:00:01 x", ""]
    one, other = DateDetector(now=now), DateDetector(now=now)
    expected = [one.match(line, now) for line in lines]
    got: list[object] = []
    for i in range(0, len(lines), 97):
        got += other.match_all(lines[i : i + 97], now)
    assert got == expected
    assert other.decisive_state() == one.decisive_state()
    assert other.hit_counts() == one.hit_counts() and other.hits() == one.hits()


SCREEN_CASES = [
    ([r"^Failed \S+ from (?P<h>\S+)", r"^Invalid user \S+ from \S+"], (" from ",)),
    ([r"^Failed \S+ by (?P<h>\S+)", r"^Invalid user \S+ from \S+"], ("Invalid user ",
                                                                    "Failed ")),
    ([r"a\nb"], None),  # only literals across a line end
    ([r"\d+"], None),  # no literal at all
    ([r"(?i)error: (?P<h>\S+)"], (": ",)),  # case-folded letters never count
    ([r"x" * 3] * 2, ("xxx",)),
]


@pytest.mark.parametrize(("patterns", "expected"), SCREEN_CASES)
def test_text_screen_table(patterns: list[str], expected: tuple[str, ...] | None) -> None:
    got = text_screen([re.compile(p) for p in patterns])
    assert (sorted(got) if got else got) == (sorted(expected) if expected else expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["ab", "b c", "from ", "x+", "(?:bc|cd)", "d?", r"\n",
                                 "e(?=f)", "[gh]", "a{2}", "(?i:k)", "(b|)", "c*"]),
                min_size=1, max_size=6),
       st.text(alphabet="abcdefghk \n", max_size=30))
def test_text_screen_is_exact(parts: list[str], text: str) -> None:
    pattern = re.compile("".join(parts))
    literals = text_screen([pattern, re.compile("zz" + "".join(parts[:1]))])
    if literals is None or any(lit in text for lit in literals):
        return
    for line in text.split("\n"):  # newline-free parts of the text, with a line end
        for i in range(len(line) + 1):
            assert pattern.search(line[i:] + "\n") is None
            assert pattern.search(line[:i]) is None
