"""Table-driven tests of DateDetector: common log formats, completion rules, zones, patterns.

Every expected epoch is written out (computed with calendar.timegm, independently of warden);
fail2ban agreement on these shapes is checked in test_dates_oracle / test_dates_fuzz.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.core.test_dates_oracle import local_tz
from warden.core.datedetect import DateDetector, DateMatch
from warden.core.strptime import (
    parse_timezone,
    spell_caseless,
    year_window_regex,
    zone_offset,
)
from warden.errors import ConfigError, RegexError

CET = "CET-01CEST-02,M3.5.0,M10.5.0"
NOW = 1795815117.0  # 2026-11-27 21:31:57 UTC

# (id, datepattern, logtimezone, TZ, now, line, expected (start, end, time) or None)
Expected = tuple[int, int, float | None] | None
CASES: list[tuple[str, str | None, str | None, str, float, str, Expected]] = [
    ("syslog", None, None, "UTC", NOW, "Nov 27 21:31:57 host sshd[1]: x", (0, 15, 1795815117.0)),
    ("syslog 1-digit day", None, None, "UTC", NOW, "Nov  7 21:31:57 h x", (0, 15, 1794087117.0)),
    ("syslog ahead >1 day: last year", None, None, "UTC", NOW, "Dec 25 10:00:00 h x",
     (0, 15, 1766656800.0)),
    ("syslog tomorrow: this year", None, None, "UTC", NOW, "Nov 28 10:00:00 h x",
     (0, 15, 1795860000.0)),
    ("syslog with weekday, year", None, None, "UTC", NOW, "Fri Nov 27 21:31:57 2026 x",
     (0, 24, 1795815117.0)),
    ("syslog lower case", None, None, "UTC", NOW, "nov 27 21:31:57 h x", (0, 15, 1795815117.0)),
    ("rfc3339 fraction dropped, zone", None, None, "UTC", NOW,
     "2026-11-27T21:31:57.123+01:00 host x", (0, 29, 1795811517.0)),
    ("iso in CET summer", None, None, CET, NOW, "2026-07-01 12:00:00 x", (0, 19, 1782900000.0)),
    ("iso in CET winter", None, None, CET, NOW, "2026-01-01 12:00:00 x", (0, 19, 1767265200.0)),
    ("apache", None, None, "UTC", NOW, '1.2.3.4 - - [27/Nov/2026:21:31:57 +0000] "GET / HTTP/1.1"',
     (13, 39, 1795815117.0)),
    ("apache offset", None, None, "UTC", NOW, "[27/Nov/2026:22:31:57 +0100] x",
     (1, 27, 1795815117.0)),
    ("epoch keeps fraction", None, None, "UTC", NOW, "1795815117.250 x", (0, 14, 1795815117.25)),
    ("epoch in audit()", None, None, "UTC", NOW, "type=AVC msg=audit(1795815117.250:42): x",
     (19, 33, 1795815117.25)),
    ("tai64n", None, None, "UTC", NOW, "@400000006b09f6cd0a0b0c0d x", (0, 25, 1795815117.0)),
    ("mysql", None, None, "UTC", NOW, "161027 21:31:57 [Note] x", (0, 15, 1477603917.0)),
    ("tomcat pm", None, None, "UTC", NOW, "Nov 27, 2026 9:31:57 PM org.x", (0, 23, 1795815117.0)),
    ("2-digit year", None, None, "UTC", NOW, "27/11/26 21:31:57 x", (0, 17, 1795815117.0)),
    ("time only: today", "{^LN-BEG}", None, "UTC", NOW, "21:00:00 x", (0, 8, 1795813200.0)),
    ("time only: later is yesterday", "{^LN-BEG}", None, "UTC", NOW, "22:00:00 x",
     (0, 8, 1795730400.0)),
    ("New Year: Dec 31 is last year", None, None, "UTC", 1798763400.0, "Dec 31 23:59:00 x",
     (0, 15, 1798761540.0)),
    ("logtimezone", "%Y-%m-%d %H:%M:%S", "UTC+0200", "UTC", NOW, "2026-01-01 12:00:00",
     (0, 19, 1767261600.0)),
    ("explicit zone wins", "%Y-%m-%d %H:%M:%S %z", "UTC+0200", "UTC", NOW,
     "2026-01-01 12:00:00 +0000", (0, 25, 1767268800.0)),
    ("zone name", "%Y-%m-%d %H:%M:%S %Z", None, "UTC", NOW, "2026-07-01 12:00:00 CEST",
     (0, 24, 1782900000.0)),
    ("invalid date: span, no time", "%Y-%m-%d %H:%M:%S", None, "UTC", NOW, "2026-02-30 12:00:00",
     (0, 19, None)),
    ("{NONE}: empty match", "{NONE}", None, "UTC", NOW, "anything", (0, 0, None)),
    ("no date", None, None, "UTC", NOW, "no date here", None),
    ("LEPOCH milliseconds", "LEPOCH", None, "UTC", NOW, "1795815117250 x", (0, 13, 1795815117.25)),
    ("embedded {EPOCH}", "ts={EPOCH}", None, "UTC", NOW, "x ts=1795815117 y",
     (2, 15, 1795815117.0)),
    ("{DATE} in a prefix", "^<\\d+>\\d+\\s+{DATE}", None, "UTC", NOW,
     "<13>1 2026-11-27T21:31:57Z host x", (0, 26, 1795815117.0)),
    ("anchored pattern misses", "^%Y-%m-%d %H:%M:%S", None, "UTC", NOW, "x 2026-11-27 21:31:57",
     None),
    ("year window: 2035 too far", "%ExY-%m-%d", None, "UTC", NOW, "2035-01-02", None),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_table(case: tuple[str, str | None, str | None, str, float, str, Expected]) -> None:
    _, pattern, logtz, tz, now, line, expected = case
    with local_tz(tz):
        found = DateDetector(pattern, default_tz=logtz).match(line, now)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert (found.start, found.end, found.time) == expected


def test_repeated_lines_use_the_cache_and_agree() -> None:
    """The per-minute cache and the syslog shortcut give what the slow path gives."""
    with local_tz(CET):
        dd = DateDetector()
        first = [dd.match(f"Nov 27 21:31:{s:02d} h x", NOW) for s in range(60)]
        again = [dd.match(f"Nov 27 21:31:{s:02d} h x", NOW) for s in range(60)]
    assert first == again
    assert [m.time for m in first if m] == [1795811460.0 + s for s in range(60)]


def test_seconds_60_is_no_time() -> None:
    with local_tz("UTC"):
        dd = DateDetector()
        dd.match("Nov 27 21:31:00 h x", NOW)
        assert dd.match("Nov 27 21:31:60 h x", NOW) == DateMatch(0, 15, None, dd.templates[0])


def test_year_window_grows_with_load_time() -> None:
    with local_tz("UTC"):
        later = DateDetector("%ExY-%m-%d %H:%M:%S", now=2001196800.0)  # loaded in 2033
        found = later.match("2035-01-02 03:04:05", 2001196800.0)
    assert found is not None and found.time == 2051319845.0
    assert year_window_regex(2029) == r"(?P<Y>20[012]\d)"
    wide = re.compile(year_window_regex(2105))
    assert [y for y in range(1990, 2120) if wide.fullmatch(str(y))] == list(range(2000, 2110))


def test_hits_and_reordering() -> None:
    with local_tz("UTC"):
        dd = DateDetector()
        for _ in range(3):
            dd.match("2026-11-27 21:31:57 x", NOW)
        dd.match("Nov 27 21:31:57 x", NOW)
    hits = dict(dd.hits())
    assert sum(hits.values()) == 4
    assert dd.templates[0].startswith("{^LN-BEG}ExYear")
    assert hits[dd.templates[0]] == 3


def test_template_names_follow_fail2ban() -> None:
    assert DateDetector("^%b %d %H:%M:%S").templates == ["^MON Day 24hour:Minute:Second"]
    assert DateDetector("{^LN-BEG}%H:%M").templates == ["{^LN-BEG}24hour:Minute"]
    assert DateDetector("{NONE}").templates == ["^"]
    assert DateDetector("EPOCH").templates == ["Epoch"]
    assert DateDetector("{^LN-BEG}TAI64N\n{^LN-BEG}").templates[0] == "{^LN-BEG}TAI64N"
    assert len(DateDetector().templates) == 31
    assert len(DateDetector("{^LN-BEG}").templates) == 17


@pytest.mark.parametrize("pattern", ["[%b %d", "100%", "%q", "%H %s", "(x"])
def test_bad_pattern(pattern: str) -> None:
    with pytest.raises(RegexError) as err:
        DateDetector(pattern)
    assert err.value.option == "datepattern"


def test_duplicate_pattern_line() -> None:
    with pytest.raises(RegexError):
        DateDetector("%H:%M:%S\n%H:%M:%S")


def test_bad_logtimezone() -> None:
    with pytest.raises(ConfigError, match=r"^logtimezone"):
        DateDetector(default_tz="Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("UTC", 0), ("Z", 0), ("GMT", 0), ("+0200", 120), ("-05:30", -330), ("+01", 60),
     ("CEST", 120), ("UTC+0200", 120), ("EST-0030", -330), ("NPT", 345), ("NST", -210)],
)  # fmt: skip
def test_zone_offsets(text: str, minutes: int) -> None:
    assert zone_offset(text) == minutes
    assert parse_timezone(text) == minutes


def test_unknown_zone() -> None:
    with pytest.raises(ValueError):
        parse_timezone("XYZ")
    assert parse_timezone(None) is None


def _run(pattern: str | None, tz: str, lines: list[tuple[str, float]]) -> list[tuple[object, ...]]:
    with local_tz(tz):
        dd = DateDetector(pattern)
        return [tuple(m) if m else () for m in (dd.match(line, now) for line, now in lines)]


def test_moved_date_is_searched_again() -> None:
    """The last template found at another place: the whole list is searched again."""
    got = _run(
        None,
        "UTC",
        [("x 2026-11-27 21:31:57 y", NOW), ("x 2026-11-27 1:31:57  y", NOW), ("x", NOW)],
    )
    assert [g[:3] for g in got] == [(2, 21, 1795815117.0), (2, 20, 1795743117.0), ()]


def test_now_in_a_dst_change_hour() -> None:
    fall_back = 1761440400.0  # 2025-10-26 01:00 UTC: CEST -> CET
    lines = [(f"Oct 26 02:{m:02d}:00 h x", fall_back + 60 * m) for m in range(0, 60, 20)]
    got = _run(None, "Europe/Berlin", lines)
    # 02:00-02:59 happens twice that night: the first time (CEST) is taken.
    assert [g[2] for g in got] == [1761436800.0, 1761438000.0, 1761439200.0]


def test_local_date_changes_inside_the_hour_of_now() -> None:
    """Kathmandu (+05:45): the local date changes at 18:15 UTC, inside an hour of now."""
    now = 1795804200.0  # 2026-11-27 18:30 UTC = Nov 28 00:15 local
    got = _run(None, "Asia/Kathmandu", [("Nov 28 00:10:00 h x", now), ("00:10:30 x", now)])
    assert [g[2] for g in got] == [1795803900.0, 1795803930.0]


def test_minute_straddling_the_year_rule_is_not_cached() -> None:
    """Feb 29 00:00:59 is more than a day after now, so it would be Feb 29 of 2023: invalid."""
    now = 1709078430.0  # 2024-02-28 00:00:30 UTC
    got = _run(None, "UTC", [("Feb 29 00:00:00 h x", now), ("Feb 29 00:00:59 h x", now)])
    assert [g[2] for g in got] == [1709164800.0, None]


def test_time_only_in_the_future_is_yesterday_every_time() -> None:
    """Corrected (yesterday) minutes are not cached: each line is converted again."""
    got = _run("{^LN-BEG}", "UTC", [(f"22:00:{s:02d} x", NOW) for s in range(3)])
    assert [g[2] for g in got] == [1795730400.0, 1795730401.0, 1795730402.0]


def test_conversion_cache_is_bounded() -> None:
    with local_tz("UTC"):
        dd = DateDetector("%Y-%m-%d %H:%M:%S")
        for i in range(4200):
            minute = 1700000000 + 60 * i
            text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(minute))
            assert dd.match(text, NOW) == DateMatch(0, 19, float(minute), dd.templates[0])


@pytest.mark.parametrize(
    ("pattern", "line", "expected"),
    [
        ("%Y %U %a %H:%M:%S", "2026 00 Thu 10:00:00", 1767261600.0),  # Jan 1 2026 is a Thursday
        ("%Y %W %w %H:%M:%S", "2026 01 1 10:00:00", 1767607200.0),  # Monday Jan 5
        ("%Y %j %H:%M:%S", "2026 032 10:00:00", 1769940000.0),  # Feb 1
        ("%d %H:%M:%S", "05 10:00:00", None),  # a day without a month
        ("%Y-%m-%d %H:%M:%S$", "2026-01-01 10:00:00", 1767261600.0),  # line-end anchored
        ("%Y-%m-%d %H:%M:%S %Z", "2026-01-01 10:00:00 ABCD", None),  # unknown zone name
    ],
)
def test_rare_directives(pattern: str, line: str, expected: float | None) -> None:
    with local_tz("UTC"):
        found = DateDetector(pattern).match(line, NOW)
    assert found is not None and found.time == expected


def test_caseless_spelling() -> None:
    assert spell_caseless("(?P<b>jan|sep)") == "(?P<b>[jJ][aA][nN]|[sS\u017f][eE][pP])"
    assert re.fullmatch(spell_caseless("(?P<Z>[A-Z]{3})"), "\u212aab")  # Kelvin sign folds to k
    with pytest.raises(AssertionError):
        spell_caseless("[a-z]")
