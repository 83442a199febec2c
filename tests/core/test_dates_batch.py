"""``DateDetector.match_all`` (a block at a time, with the hot loops of ``match`` hoisted) gives
what ``match`` gives line by line, with the same effect on the detector's state.

The block loops take the last winner's cached conversion for runs of lines; any other line goes
through ``match``. Mixed formats, mid-line dates (nginx's ``[01/Jan/2026:00:00:00 +0000]``),
invalid seconds, lines without a date and changes of the minute are cut into blocks of several
sizes; a property test draws such logs.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.core.datedetect import DateDetector

NOW = 1767225600.0 + 7 * 86400  # a week after 2026-01-01 00:00 UTC
# fail2ban's nginx-botsearch datepattern: the error log's date, then any date after a '['.
NGINX = "{^LN-BEG}%ExY(?P<_sep>[-/.])%m(?P=_sep)%d[T ]%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?\n" \
        "^[^\\[]*\\[({DATE})\n{^LN-BEG}"
PATTERNS = [None, NGINX, "^[^\\[]*\\[({DATE})", "%d/%b/%Y:%H:%M:%S %z"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _access(t: int, host: str = "192.0.2.7", zone: str = "+0000") -> str:
    day, rest = divmod(t, 86400)
    return (f'{host} - - [{1 + day % 28:02d}/{MONTHS[day // 28 % 12]}/2026:{rest // 3600:02d}:'
            f'{rest // 60 % 60:02d}:{rest % 60:02d} {zone}] "GET /x HTTP/1.1" 404 12 "-" "c"')


ODD = [
    '192.0.2.1 - - [01/Jan/2026:00:00:61 +0000] "GET / HTTP/1.1" 200 1',  # 61 s: leap form
    '192.0.2.1 - - [01/Jan/2026:00:00:1 +0000] "GET / HTTP/1.1" 200 1',  # one-digit seconds
    '192.0.2.1 - - [31/Feb/2026:00:00:01 +0000] "GET / HTTP/1.1" 200 1',  # no such day
    "2026/01/01 00:00:02 [error] 12#12: *3 open() failed, client: 192.0.2.9",
    "no date at all",
    "",
    "[] empty brackets",
    '192.0.2.1 - - [01/Jan/2026:00:00:01 +0200] "GET / HTTP/1.1" 200 1',
    "Jan  1 00:00:01 host sshd[1]: a syslog line",
    '192.0.2.1 - - [01/Jan/2026:00:00:03] "GET / HTTP/1.1" 200 1',  # no zone
]


def _log(seed: int, count: int) -> list[str]:
    rnd = random.Random(seed)
    t, lines = rnd.randrange(86400 * 3), []
    for _ in range(count):
        t += rnd.choice((0, 0, 1, 1, 2, 61))
        lines.append(rnd.choice(ODD) if rnd.random() < 0.05 else
                     _access(t, f"192.0.2.{rnd.randrange(256)}",
                             rnd.choice(("+0000", "+0000", "-0500"))))
    return lines


def _same(pattern: str | None, lines: list[str], now: float, blocks: list[int]) -> None:
    one, other = DateDetector(pattern, now=now), DateDetector(pattern, now=now)
    expected = [one.match(line, now) for line in lines]
    got: list[object] = []
    pos, k = 0, 0
    while pos < len(lines):
        size = blocks[k % len(blocks)]
        got += other.match_all(lines[pos:pos + size], now)
        pos, k = pos + size, k + 1
    assert got == expected
    assert other.decisive_state() == one.decisive_state()
    assert other.hit_counts() == one.hit_counts() and other.hits() == one.hits()
    assert other.reorders == one.reorders


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("now", [NOW, NOW - 86400 * 5, NOW + 86400 * 300])
def test_match_all_equals_match_on_access_logs(pattern: str | None, seed: int,
                                               now: float) -> None:
    _same(pattern, _log(seed, 2500), now, [2048, 1, 97, 5])


def test_the_hoisted_loop_is_taken() -> None:
    # A long run of access lines of one minute: all but the first come from the block loop,
    # which must still count every hit (the loop would otherwise be dead code).
    lines = [_access(86400 + s % 60) for s in range(600)]
    detector = DateDetector(NGINX, now=NOW)
    found = detector.match_all(lines, NOW)
    assert all(m is not None and m.time is not None for m in found)
    assert sum(h for _, h in detector.hits()) == len(lines)
    assert [m.time for m in found if m is not None][:3] == [1767312000.0, 1767312001.0,
                                                            1767312002.0]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 86400 * 60).map(_access), st.sampled_from(ODD)),
                min_size=1, max_size=60),
       st.sampled_from(PATTERNS), st.lists(st.integers(1, 20), min_size=1, max_size=4))
def test_match_all_equals_match_property(lines: list[str], pattern: str | None,
                                         blocks: list[int]) -> None:
    _same(pattern, lines, NOW, blocks)
